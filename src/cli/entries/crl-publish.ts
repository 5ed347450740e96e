import * as crlPublish from "../commands/crl/publish.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  crl: (program, ctx, description) => crlPublish.register(program.command("crl").description(description), ctx),
};
