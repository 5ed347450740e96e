import * as certShow from "../commands/cert/show.js";
import { group, type Registry } from "../program.js";

export const registry: Registry = {
  cert: group("cert", certShow.register),
};
