// The escaping lives in core (display-text.ts): the index summary stores table cells and --json
// text already made safe, so that `list` over 100,000 certificates only copies them (#21).
export { cellText, safeDeep, safeJson, safeText, safeValue } from "../core/display-text.js";
