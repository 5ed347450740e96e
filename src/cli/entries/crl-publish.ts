import * as crlPublish from "../commands/crl/publish.js";
import { group, type Registry } from "../program.js";

export const registry: Registry = {
  crl: group("crl", crlPublish.register),
};
