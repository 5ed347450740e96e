/**
 * The key types mtls makes and signs with. Apart from keys.ts: config.json's check, which every
 * command runs, needs only the names.
 */
export const KEY_TYPES = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"] as const;
export type KeyType = (typeof KEY_TYPES)[number];
