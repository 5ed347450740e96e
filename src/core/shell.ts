// Commands mtls writes for a reader to paste into a POSIX shell (a bundle README's curl line, a
// reminder's openssl command) quote every value that is not theirs: inside single quotes only a
// quote is special, so no character of the value can end the word or start another command.

/** `s` as one POSIX shell word: single quotes, a quote inside written as '\''. */
export const shellWord = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
