import * as caShow from "../commands/ca/show.js";
import { group, type Registry } from "../program.js";

export const registry: Registry = {
  ca: group("ca", caShow.register),
};
