// `mtls --version` alone: no command is built.
import type { Registry } from "../program.js";

export const registry: Registry = {};
