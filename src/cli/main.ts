// The full bundle's entry point: every command (help at the top, the reference, completion and
// each command without a bundle of its own run here; see routes.ts).
import { ALL_COMMANDS } from "./all-commands.js";
import { startCli } from "./start.js";

startCli(ALL_COMMANDS);
