// Every command mtls has: the registry of the full bundle, of `--help` and of the command reference.
// A command with a bundle of its own (cli/entries/) registers itself alone there.

import * as audit from "./commands/audit.js";
import * as bundleOpen from "./commands/bundle/open.js";
import * as caInit from "./commands/ca/init.js";
import * as caKeyImportToToken from "./commands/ca/key/import-to-token.js";
import * as caPolicySet from "./commands/ca/policy/set.js";
import * as caRolloverIntermediate from "./commands/ca/rollover/intermediate.js";
import * as caRolloverRootFinish from "./commands/ca/rollover/root-finish.js";
import * as caRolloverRootStart from "./commands/ca/rollover/root-start.js";
import * as caRolloverStatus from "./commands/ca/rollover/status.js";
import * as caShow from "./commands/ca/show.js";
import * as certShow from "./commands/cert/show.js";
import * as completion from "./commands/completion.js";
import * as crlPublish from "./commands/crl/publish.js";
import * as crlShow from "./commands/crl/show.js";
import * as demo from "./commands/demo.js";
import * as doctor from "./commands/doctor.js";
import * as gatewayConfig from "./commands/gateway/config.js";
import * as gatewayServe from "./commands/gateway/serve.js";
import * as inspect from "./commands/inspect.js";
import * as list from "./commands/list.js";
import * as notify from "./commands/notify.js";
import * as p12Create from "./commands/p12/create.js";
import * as partnerAdd from "./commands/partner/add.js";
import * as partnerExport from "./commands/partner/export.js";
import * as partnerIdentityRelease from "./commands/partner/identity/release.js";
import * as partnerIssue from "./commands/partner/issue.js";
import * as partnerList from "./commands/partner/list.js";
import * as partnerOffboard from "./commands/partner/offboard.js";
import * as partnerOnboard from "./commands/partner/onboard.js";
import * as partnerRotate from "./commands/partner/rotate.js";
import * as partnerShow from "./commands/partner/show.js";
import * as pgpInit from "./commands/pgp/init.js";
import * as pgpShow from "./commands/pgp/show.js";
import * as probe from "./commands/probe.js";
import * as report from "./commands/report.js";
import * as revocationServe from "./commands/revocation/serve.js";
import * as revoke from "./commands/revoke.js";
import * as serverIssue from "./commands/server/issue.js";
import * as status from "./commands/status.js";
import * as storeInit from "./commands/store/init.js";
import * as storeMigrate from "./commands/store/migrate.js";
import { group, type Registry } from "./program.js";

export const ALL_COMMANDS: Registry = {
  demo: (program, ctx) => demo.register(program, ctx),
  ca(program, ctx, description) {
    const ca = program.command("ca").description(description);
    caInit.register(ca, ctx);
    caShow.register(ca, ctx);
    caPolicySet.register(ca.command("policy").description("the CA's policy: revocation URLs, CRL publishing, validity limits"), ctx);
    const rollover = ca.command("rollover").description("renew the intermediate or roll the root over without locking a partner out");
    caRolloverIntermediate.register(rollover, ctx);
    const rolloverRoot = rollover.command("root").description("root rollover: start (dual trust), finish (old root out)");
    caRolloverRootStart.register(rolloverRoot, ctx);
    caRolloverRootFinish.register(rolloverRoot, ctx);
    caRolloverStatus.register(rollover, ctx);
    caKeyImportToToken.register(ca.command("key").description("where the CA keys live: files or a PKCS#11 token"), ctx);
  },
  partner(program, ctx, description) {
    const partner = program.command("partner").description(description);
    partnerOnboard.register(partner, ctx);
    partnerAdd.register(partner, ctx);
    partnerIssue.register(partner, ctx);
    partnerExport.register(partner, ctx);
    partnerList.register(partner, ctx);
    partnerShow.register(partner, ctx);
    partnerOffboard.register(partner, ctx);
    partnerRotate.register(partner, ctx);
    partnerIdentityRelease.register(partner.command("identity").description("the identities (CN, SANs) a partner owns"), ctx);
  },
  revoke: (program, ctx) => revoke.register(program, ctx),
  crl: group("crl", crlPublish.register, crlShow.register),
  revocation: group("revocation", revocationServe.register),
  list: (program, ctx) => list.register(program, ctx),
  cert: group("cert", certShow.register),
  status: (program, ctx) => status.register(program, ctx),
  audit: (program, ctx) => audit.register(program, ctx),
  doctor: (program, ctx) => doctor.register(program, ctx),
  probe: (program, ctx) => probe.register(program, ctx),
  report: (program, ctx) => report.register(program, ctx),
  notify: (program, ctx) => notify.register(program, ctx),
  gateway: group("gateway", gatewayConfig.register, gatewayServe.register),
  pgp: group("pgp", pgpInit.register, pgpShow.register),
  bundle: group("bundle", bundleOpen.register),
  completion: (program, ctx) => completion.register(program, ctx),
  p12: group("p12", p12Create.register),
  server: group("server", serverIssue.register),
  inspect: (program, ctx) => inspect.register(program, ctx),
  store: group("store", storeInit.register, storeMigrate.register),
};
