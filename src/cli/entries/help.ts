// `mtls --help`: the top-level commands' names, descriptions and terms (TOP_COMMANDS), and no
// command's definition: building them all was ~3 ms of the help's ~14 ms of its own (#21).
import type { Registry } from "../program.js";

export const registry: Registry = {};
