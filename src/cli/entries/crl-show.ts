import * as crlShow from "../commands/crl/show.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  crl: (program, ctx, description) => crlShow.register(program.command("crl").description(description), ctx),
};
