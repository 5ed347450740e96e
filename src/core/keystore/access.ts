// Token access for one command, kept light: the CLI creates it for every signing command, and
// the PKCS#11 adapter (and its native addon) loads only when a token is actually used.
import type { PinSource, TokenSessions } from "./pkcs11.js";

export type { PinSource } from "./pkcs11.js";

/**
 * The PIN source and, once a token is used, its open sessions: one login per token for the
 * whole command (a batch signs a thousand certificates in one).
 */
export interface TokenAccess {
  pin: PinSource;
  sessions(): Promise<TokenSessions>;
  /** Logs out and unloads the modules; harmless when nothing was opened. */
  close(): void;
}

export function tokenAccess(pin: PinSource): TokenAccess {
  let opened: Promise<TokenSessions> | undefined;
  let ready: TokenSessions | undefined;
  return {
    pin,
    sessions() {
      opened ??= import("./pkcs11.js").then(async (m) => {
        ready = await m.TokenSessions.open();
        return ready;
      });
      return opened;
    },
    close() {
      ready?.close();
    },
  };
}
