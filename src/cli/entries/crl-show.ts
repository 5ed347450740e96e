import * as crlShow from "../commands/crl/show.js";
import { group, type Registry } from "../program.js";

export const registry: Registry = {
  crl: group("crl", crlShow.register),
};
