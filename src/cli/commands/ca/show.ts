import type { Command } from "commander";
import type { ShowCaResult } from "../../../core/index.js";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../../flags.js";
import { fields, type Styles } from "../../output.js";

function render(r: ShowCaResult, s: Styles): string {
  const ca = (label: string, c: ShowCaResult["root"]) =>
    fields(
      [
        [label, s.bold(c.subject)],
        c.keyStore === "pkcs11"
          ? [
              "key",
              `${c.keyType}, in a PKCS#11 token: ${c.tokenReachable ? s.ok("reachable") : s.warn(`NOT reachable (${c.tokenProblem?.message ?? "unknown"})`)}`,
            ]
          : ["key", `${c.keyType}, ${c.keyEncrypted ? "encrypted" : s.warn("NOT encrypted")}, mode ${c.keyMode}`],
        ["valid", `${c.notBefore} → ${c.notAfter} (${c.daysLeft} days left)`],
        ["serial", c.serial],
        ["fingerprint", c.fingerprint],
        ["certificate", c.certPath],
        c.keyStore === "pkcs11" ? ["key URI", c.keyUri ?? ""] : ["key file", c.keyPath ?? ""],
      ],
      s,
    );
  const policy = fields(
    [
      ["gateway CA bundle", r.caBundlePath],
      ["chain", r.chainPath],
      ["CRL URL", r.crlUrl ?? "(none: gateways load CRL files)"],
      ["OCSP URL", r.ocspUrl ?? "(none)"],
      ["CRL publish dir", r.crlPublishDir ?? "(none)"],
      ["partner validity", `${r.policy.defaultDays} days by default, at most ${r.policy.maxDays}`],
      ["CRL validity", `${r.policy.crlValidityDays} days`],
    ],
    s,
  );
  const others = (r.otherCas ?? []).map((c) => ca(`${c.id} (${c.state})`, c));
  return [ca("root", r.root), ...(r.intermediate ? [ca("intermediate", r.intermediate)] : []), policy, ...others].join("\n\n");
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("show")
    .description("show the CA certificates, key protection and policy")
    .addHelpText("after", examplesHelp(["mtls ca show", "mtls ca show --json | jq -r .result.root.fingerprint"]))
    .addHelpText("after", exitCodesHelp(["0  shown", "5  no PKI at --pki"]))
    .action(async () => {
      ctx.out.result(await runCaShow(ctx), render);
    });
}

/** `mtls ca show`, in-process. */
export async function runCaShow(ctx: CliContext): Promise<ShowCaResult> {
  const core = await import("../../../core/ca/show.js");
  return core.showCa(await openReadSession(ctx));
}
