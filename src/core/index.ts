// The public API of the core library. The CLI loads it lazily, in the commands that need it.

export { type DeliveredBundle, exportPartnerBundle } from "./bundle/export.js";
export { initSigningKey, type SigningKeyResult, showSigningKey } from "./bundle/home-key.js";
export { type OpenBundleResult, openBundle } from "./bundle/open.js";
export { type InitCaParams, type InitCaResult, initCa, MIN_PASSPHRASE_LENGTH } from "./ca/init.js";
export type { PassphraseSource } from "./ca/material.js";
export { type ShowCaResult, showCa } from "./ca/show.js";
export { type PublishResult, publishCrls } from "./crl/publish.js";
export { type CrlDetails, showCrls } from "./crl/show.js";
export { type DemoResult, type DemoStep, runDemo } from "./demo/demo.js";
export { Exit, type ExitCode, MtlsError } from "./errors.js";
export { type GatewayConfigResult, gatewayKinds, renderGatewayConfig } from "./gateway/config.js";
export { type RunningGateway, startGateway } from "./gateway/serve.js";
export { validatePartnerId } from "./ids.js";
export { type ListedCert, type ListResult, listCertificates, parseStatus } from "./inventory/list.js";
export { type BatchResult, issueBatch } from "./issue/batch.js";
export { type IssueParams, type IssueResult, issuePartnerCert } from "./issue/issue.js";
export { KEY_TYPES, parseKeyType } from "./keys.js";
export { type OnboardResult, onboardPartner } from "./partners/onboard.js";
export { addPartner, listPartners, type PartnerSummary, showPartner } from "./partners/partners.js";
export { renderJunit } from "./probe/junit.js";
export { type ProbeResult, probeGateways } from "./probe/probe.js";
export { parseTlsVersions, SCENARIOS, selectScenarios } from "./probe/scenarios.js";
export { offboardPartner, parseReason, type RevokeResult, revokeCertificate } from "./revoke/revoke.js";
export { parseSan } from "./sans.js";
export { checkStatus, type StatusResult } from "./status/status.js";
export { parseDuration } from "./time.js";
