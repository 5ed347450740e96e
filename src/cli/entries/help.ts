// `mtls --help`: every command's definition, no action (scripts/build.mjs leaves out what the
// actions import on demand).
export { ALL_COMMANDS as registry } from "../all-commands.js";
