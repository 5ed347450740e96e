// The public API of the core library. The CLI loads it lazily, in the commands that need it.
export { type InitCaParams, type InitCaResult, initCa, MIN_PASSPHRASE_LENGTH } from "./ca/init.js";
export type { PassphraseSource } from "./ca/material.js";
export { type ShowCaResult, showCa } from "./ca/show.js";
export { Exit, type ExitCode, MtlsError } from "./errors.js";
export { validatePartnerId } from "./ids.js";
export { type ListedCert, type ListResult, listCertificates, parseStatus } from "./inventory/list.js";
export { type IssueParams, type IssueResult, issuePartnerCert } from "./issue/issue.js";
export { KEY_TYPES, parseKeyType } from "./keys.js";
export { parseSan } from "./sans.js";
export { parseDuration } from "./time.js";
