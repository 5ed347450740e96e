// How long one delivery (one e-mail, one webhook POST) may take, from connecting to the end of
// the server's answer. The channels' 20 s timeouts are idle timeouts: a server that sends a byte
// now and then (a chunked body dripping, "250-" continuation lines after the message) never trips
// them, and without an overall deadline it kept notify running for good.
//
// 30 s: a working receiver or submission server answers within a few seconds, and 30 s still
// leaves room for one step that takes as long as the idle timeout allows. RFC 5321 §4.5.3.2 has
// relays wait up to 10 minutes for the answer to the final "."; a relay that slow here fails the
// delivery, and should it have taken the message after all, the next run sends it once more
// (a reminder twice rather than none).

/** The most one delivery may take, its answer included (milliseconds). */
export const DELIVERY_DEADLINE_MS = 30_000;

/** The failure's wording, for messages. */
export const pastDeadline = (ms: number): string => `no complete answer within ${Math.round(ms / 1000)} s`;
