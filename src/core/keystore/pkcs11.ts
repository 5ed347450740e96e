// The one adapter of graphene-pk11 (PKCS#11 through the native pkcs11js addon). It is an optional
// dependency, imported only when a PKCS#11 key store is asked for, so mtls runs without it (and
// without a compiler) for everyone who keeps CA keys in files.
import { createHash, randomBytes } from "node:crypto";
import { ecdsaRawToDer, oid, seq, tlv } from "../der.js";
import { envError, inputError, MtlsError, usageError } from "../errors.js";
import type { KeyType } from "../keys.js";
import { describeToken, type Pkcs11Uri } from "./pkcs11-uri.js";

/** Supplies the token's user PIN when, and only when, a token must be logged into. */
export type PinSource = () => Promise<string>;

// The part of graphene-pk11's API mtls uses, typed here so the project builds without the package.
interface G {
  Module: { load(path: string, name?: string): GModule };
  SessionFlag: { SERIAL_SESSION: number; RW_SESSION: number };
  UserType: { USER: number };
  ObjectClass: { PRIVATE_KEY: number; PUBLIC_KEY: number };
  KeyType: { EC: number };
  KeyGenMechanism: { EC: number };
}
interface GModule {
  initialize(): void;
  finalize(): void;
  getSlots(tokenPresent: boolean): { length: number; items(i: number): GSlot };
}
interface GSlot {
  getToken(): { label: string; manufacturerID: string; model: string; serialNumber: string };
  open(flags: number): GSession;
}
interface GObject {
  getAttribute(t: Record<string, null>): Record<string, unknown>;
  toType(): GObject;
  destroy(): void;
}
interface GSession {
  login(pin: string, userType?: number): void;
  logout(): void;
  close(): void;
  find(t: Record<string, unknown>): { length: number; items(i: number): GObject };
  generateKeyPair(mech: number, pub: Record<string, unknown>, priv: Record<string, unknown>): { publicKey: GObject; privateKey: GObject };
  create(t: Record<string, unknown>): GObject;
  createSign(alg: string, key: GObject): { once(data: Buffer): Buffer };
}

/** What to install when the optional dependency is missing: said once, the same everywhere. */
export const PKCS11_INSTALL_HINT =
  "install PKCS#11 support next to mtls: `npm install -g --allow-scripts=pkcs11js graphene-pk11` for a global mtls, `npm install` in a checkout; it compiles a native addon with python3, make and g++ (Debian: apt-get install python3 make g++)";

async function loadGraphene(): Promise<G> {
  try {
    // A specifier in a variable: the project type-checks and bundles without the package.
    const name = "graphene-pk11";
    const mod = (await import(name)) as G & { default?: G };
    return mod.Module ? mod : (mod.default as G);
  } catch (err) {
    throw envError(
      "ERR_PKCS11_UNAVAILABLE",
      "PKCS#11 support is not installed (the optional package graphene-pk11 is missing or did not build)",
      PKCS11_INSTALL_HINT,
      err,
    );
  }
}

// PKCS#11 return values (PKCS#11 v2.40 §11.1) mtls tells apart.
const CKR = {
  DEVICE_ERROR: 0x30,
  DEVICE_REMOVED: 0x32,
  KEY_TYPE_INCONSISTENT: 0x63,
  KEY_FUNCTION_NOT_PERMITTED: 0x68,
  MECHANISM_INVALID: 0x70,
  MECHANISM_PARAM_INVALID: 0x71,
  PIN_INCORRECT: 0xa0,
  PIN_INVALID: 0xa1,
  PIN_LEN_RANGE: 0xa2,
  PIN_LOCKED: 0xa4,
  USER_ALREADY_LOGGED_IN: 0x100,
  SESSION_CLOSED: 0xb0,
  SESSION_HANDLE_INVALID: 0xb3,
  TOKEN_NOT_PRESENT: 0xe0,
  TOKEN_NOT_RECOGNIZED: 0xe1,
  TOKEN_WRITE_PROTECTED: 0xe2,
  DOMAIN_PARAMS_INVALID: 0x130,
  CURVE_NOT_SUPPORTED: 0x140,
} as const;

/**
 * A PKCS#11 failure as exit 5 with the cause and what to do. The message never holds the PIN:
 * PKCS#11 errors carry a return value and a function name, nothing the caller passed in.
 */
export function tokenError(err: unknown, where: Pkcs11Uri, doing: string): MtlsError {
  if (err instanceof MtlsError) return err;
  const code = (err as { code?: unknown }).code;
  const detail = (err as Error)?.message?.split("\n")[0]?.slice(0, 200) ?? String(err);
  const token = describeToken(where);
  switch (typeof code === "number" ? code : -1) {
    case CKR.PIN_INCORRECT:
    case CKR.PIN_INVALID:
    case CKR.PIN_LEN_RANGE:
      return envError(
        "ERR_PKCS11_PIN_WRONG",
        `the PIN for ${token} is wrong`,
        "check MTLS_PKCS11_PIN or the --pin-file; a token locks its PIN after a few wrong tries",
        err,
      );
    case CKR.PIN_LOCKED:
      return envError(
        "ERR_PKCS11_PIN_LOCKED",
        `the user PIN of ${token} is locked`,
        "reset it with the Security Officer PIN, e.g. pkcs11-tool --module <module> --login --login-type so --init-pin",
        err,
      );
    case CKR.DEVICE_REMOVED:
    case CKR.DEVICE_ERROR:
    case CKR.SESSION_CLOSED:
    case CKR.SESSION_HANDLE_INVALID:
    case CKR.TOKEN_NOT_PRESENT:
    case CKR.TOKEN_NOT_RECOGNIZED:
      return envError(
        "ERR_PKCS11_TOKEN_ABSENT",
        `${token} went away while ${doing} (${detail})`,
        "insert the token (or restore its SoftHSM2 token directory) and run the command again",
        err,
      );
    case CKR.MECHANISM_INVALID:
    case CKR.MECHANISM_PARAM_INVALID:
    case CKR.KEY_TYPE_INCONSISTENT:
    case CKR.KEY_FUNCTION_NOT_PERMITTED:
    case CKR.DOMAIN_PARAMS_INVALID:
    case CKR.CURVE_NOT_SUPPORTED:
      return envError(
        "ERR_PKCS11_MECHANISM",
        `${token} refused ${doing}: it does not support the mechanism mtls needs (${detail})`,
        "mtls signs with CKM_ECDSA over a SHA-256/384 digest and generates EC P-256/P-384 keys; use a token that supports them",
        err,
      );
    case CKR.TOKEN_WRITE_PROTECTED:
      return envError("ERR_PKCS11_READ_ONLY", `${token} is write-protected`, "use a writable token to create or import keys", err);
    default:
      return envError("ERR_PKCS11", `${token}: ${doing} failed (${detail})`, "check the token with `pkcs11-tool --module <module> --list-slots`", err);
  }
}

const CURVES: Partial<Record<KeyType, { oid: string; size: number; digest: "sha256" | "sha384" }>> = {
  "ec-p256": { oid: "1.2.840.10045.3.1.7", size: 32, digest: "sha256" },
  "ec-p384": { oid: "1.3.132.0.34", size: 48, digest: "sha384" },
};

/** The key types a token can hold for mtls. RSA stays in files: SoftHSM's RSA works, but no test covers it yet. */
export const TOKEN_KEY_TYPES: readonly KeyType[] = ["ec-p256", "ec-p384"];

function curveOf(keyType: KeyType) {
  const c = CURVES[keyType];
  if (!c)
    throw usageError(
      "ERR_PKCS11_KEY_TYPE",
      `a ${keyType} CA key cannot be kept in a token by mtls`,
      `use --key-type ${TOKEN_KEY_TYPES.join(" or ")} with a PKCS#11 key store`,
    );
  return c;
}

/** SubjectPublicKeyInfo of an EC key from CKA_EC_POINT (DER OCTET STRING, or the bare point some tokens return). */
function ecSpki(point: Buffer, keyType: KeyType): Buffer {
  const c = curveOf(keyType);
  const bare = point.length === 2 * c.size + 1 ? point : point.subarray(point[1] === 0x81 ? 3 : 2);
  return seq(seq(oid("1.2.840.10045.2.1"), oid(c.oid)), tlv(0x03, Buffer.concat([Buffer.from([0]), bare])));
}

// A CA key signs and does nothing else: SoftHSM2 would otherwise default decrypt/unwrap to true.
const PRIVATE_USAGE = { sign: true, decrypt: false, unwrap: false, derive: false };
const PUBLIC_USAGE = { verify: true, encrypt: false, wrap: false, derive: false };

/** A private key found in a token, with what `ca show` and the tests report about it. */
export interface TokenKey {
  uri: Pkcs11Uri;
  keyType: KeyType;
  /** CKA_EXTRACTABLE and CKA_SENSITIVE as the token reports them. */
  extractable: boolean;
  sensitive: boolean;
  /** Signs `data` (hashing it first) and returns the DER Ecdsa-Sig-Value X.509 wants. */
  sign(data: Uint8Array): Buffer;
}

/**
 * One logged-in session per token, kept open for the life of a command: a batch of a thousand
 * certificates logs in once. Close it at the end (closing twice is harmless).
 */
export class TokenSessions {
  private readonly modules = new Map<string, GModule>();
  private readonly sessions = new Map<string, Promise<GSession>>();
  private readonly opened: GSession[] = [];
  private constructor(private readonly g: G) {}

  static async open(): Promise<TokenSessions> {
    return new TokenSessions(await loadGraphene());
  }

  private module(path: string): GModule {
    let m = this.modules.get(path);
    if (m) return m;
    try {
      m = this.g.Module.load(path, "mtls");
      m.initialize();
    } catch (err) {
      throw envError(
        "ERR_PKCS11_MODULE",
        `cannot load the PKCS#11 module ${path} (${(err as Error)?.message?.split("\n")[0]?.slice(0, 200)})`,
        "install the module (Debian: apt-get install softhsm2) or fix module-path in the key store URI",
        err,
      );
    }
    this.modules.set(path, m);
    return m;
  }

  /**
   * The logged-in read/write session of the token `uri` names. Keys of one token share it: the
   * root and intermediate opened at once (CRL publishing) must not log in twice.
   */
  session(uri: Pkcs11Uri, pin: PinSource): Promise<GSession> {
    let slot: GSlot;
    try {
      slot = findSlot(this.module(uri.modulePath), uri);
    } catch (err) {
      return Promise.reject(err);
    }
    const key = `${uri.modulePath}\0${slot.getToken().serialNumber}`;
    let open = this.sessions.get(key);
    if (!open) {
      open = this.login(slot, uri, pin);
      this.sessions.set(key, open);
      open.catch(() => this.sessions.delete(key));
    }
    return open;
  }

  private async login(slot: GSlot, uri: Pkcs11Uri, pin: PinSource): Promise<GSession> {
    let s: GSession;
    try {
      s = slot.open(this.g.SessionFlag.SERIAL_SESSION | this.g.SessionFlag.RW_SESSION);
    } catch (err) {
      throw tokenError(err, uri, "opening a session");
    }
    try {
      s.login(await pin(), this.g.UserType.USER);
    } catch (err) {
      // Login state is per application, not per session (PKCS#11 v2.40 §5.6): an earlier command
      // in this process (commands also run in-process) logged in with the PIN, so this session is too.
      if ((err as { code?: unknown }).code === CKR.USER_ALREADY_LOGGED_IN) {
        this.opened.push(s);
        return s;
      }
      s.close();
      throw tokenError(err, uri, "logging in");
    }
    this.opened.push(s);
    return s;
  }

  /** Generates a non-extractable, sensitive key pair in the token; returns its URI and SPKI. */
  async generate(uri: Pkcs11Uri, keyType: KeyType, role: string, pin: PinSource): Promise<{ uri: Pkcs11Uri; spki: Buffer }> {
    const c = curveOf(keyType);
    const s = await this.session(uri, pin);
    const id = randomBytes(8);
    const label = `mtls-${role}-${id.toString("hex")}`;
    const params = oid(c.oid);
    try {
      const pair = s.generateKeyPair(
        this.g.KeyGenMechanism.EC,
        { keyType: this.g.KeyType.EC, token: true, private: false, ...PUBLIC_USAGE, paramsEC: params, label, id },
        { keyType: this.g.KeyType.EC, token: true, private: true, ...PRIVATE_USAGE, sensitive: true, extractable: false, label, id },
      );
      const point = pair.publicKey.getAttribute({ pointEC: null }).pointEC as Buffer;
      return { uri: keyUri(uri, label, id), spki: ecSpki(point, keyType) };
    } catch (err) {
      throw tokenError(err, uri, `generating an ${keyType} key`);
    }
  }

  /**
   * Copies a private key (PKCS#8 as JWK parts) into the token as a non-extractable, sensitive
   * object, with its public key beside it. The caller removes the file copy, if asked.
   */
  async importEc(uri: Pkcs11Uri, keyType: KeyType, role: string, jwk: { d: string; x: string; y: string }, pin: PinSource): Promise<Pkcs11Uri> {
    const c = curveOf(keyType);
    const s = await this.session(uri, pin);
    const id = randomBytes(8);
    const label = `mtls-${role}-${id.toString("hex")}`;
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]);
    const paramsEC = oid(c.oid);
    let pub: GObject | undefined;
    try {
      pub = s.create({
        class: this.g.ObjectClass.PUBLIC_KEY,
        keyType: this.g.KeyType.EC,
        token: true,
        private: false,
        ...PUBLIC_USAGE,
        paramsEC,
        pointEC: tlv(0x04, point),
        label,
        id,
      });
      s.create({
        class: this.g.ObjectClass.PRIVATE_KEY,
        keyType: this.g.KeyType.EC,
        token: true,
        private: true,
        ...PRIVATE_USAGE,
        sensitive: true,
        extractable: false,
        paramsEC,
        value: Buffer.from(jwk.d, "base64url"),
        label,
        id,
      });
    } catch (err) {
      pub?.destroy(); // no half-imported key left behind
      throw tokenError(err, uri, `importing the ${role} key`);
    }
    return keyUri(uri, label, id);
  }

  /** The private key `uri` names, ready to sign. */
  async key(uri: Pkcs11Uri, keyType: KeyType, pin: PinSource): Promise<TokenKey> {
    const c = curveOf(keyType);
    const s = await this.session(uri, pin);
    let obj: GObject;
    let attrs: Record<string, unknown>;
    try {
      const found = s.find({
        class: this.g.ObjectClass.PRIVATE_KEY,
        ...(uri.object !== undefined ? { label: uri.object } : {}),
        ...(uri.id ? { id: uri.id } : {}),
      });
      if (found.length === 0)
        throw envError(
          "ERR_PKCS11_KEY_MISSING",
          `no private key ${uri.object ?? uri.id?.toString("hex") ?? ""} in ${describeToken(uri)}`,
          "check the key store URI in `mtls ca show`; restore the token from its backup if the key was deleted",
        );
      if (found.length > 1)
        throw inputError(
          "ERR_PKCS11_KEY_AMBIGUOUS",
          `${found.length} private keys in ${describeToken(uri)} match the key URI`,
          "give the object a unique label or id",
        );
      obj = found.items(0).toType();
      attrs = obj.getAttribute({ extractable: null, sensitive: null });
    } catch (err) {
      throw tokenError(err, uri, "looking up the key");
    }
    return {
      uri,
      keyType,
      extractable: attrs.extractable === true,
      sensitive: attrs.sensitive === true,
      sign: (data) => {
        const digest = createHash(c.digest).update(data).digest();
        try {
          // SoftHSM2 rejects CKM_ECDSA_SHA256 (it hashes nothing itself): hash here, sign the digest.
          return ecdsaRawToDer(s.createSign("ECDSA", obj).once(digest));
        } catch (err) {
          throw tokenError(err, uri, "signing");
        }
      },
    };
  }

  /**
   * Whether the token is present and holds the public half of the key `uri` names, matching
   * `spki`: no PIN needed (mtls stores the public key as a public object), so `ca show`,
   * `doctor` and `status` can check a token without logging in.
   */
  checkPublic(uri: Pkcs11Uri, keyType: KeyType, spki: Uint8Array): "match" | "mismatch" | "missing" {
    const slot = findSlot(this.module(uri.modulePath), uri);
    let s: GSession | undefined;
    try {
      s = slot.open(this.g.SessionFlag.SERIAL_SESSION);
      const found = s.find({
        class: this.g.ObjectClass.PUBLIC_KEY,
        ...(uri.object !== undefined ? { label: uri.object } : {}),
        ...(uri.id ? { id: uri.id } : {}),
      });
      if (found.length === 0) return "missing";
      const point = found.items(0).toType().getAttribute({ pointEC: null }).pointEC as Buffer;
      return ecSpki(point, keyType).equals(Buffer.from(spki)) ? "match" : "mismatch";
    } catch (err) {
      throw tokenError(err, uri, "reading the public key");
    } finally {
      try {
        s?.close();
      } catch {}
    }
  }

  /**
   * Removes the key pair `uri` names (both objects), best effort: undoes a key this command
   * generated or imported when the command fails after all, so the token keeps no stray key.
   */
  async discard(uri: Pkcs11Uri, pin: PinSource): Promise<void> {
    try {
      const s = await this.session(uri, pin);
      for (const cls of [this.g.ObjectClass.PRIVATE_KEY, this.g.ObjectClass.PUBLIC_KEY]) {
        const found = s.find({ class: cls, ...(uri.object !== undefined ? { label: uri.object } : {}), ...(uri.id ? { id: uri.id } : {}) });
        for (let i = 0; i < found.length; i++) found.items(i).destroy();
      }
    } catch {
      // The command is failing already; its own error is the one to report.
    }
  }

  /** Logs out and releases every module (also when something failed half-way). */
  close(): void {
    for (const s of this.opened) {
      try {
        s.logout();
      } catch {}
      try {
        s.close();
      } catch {}
    }
    this.opened.length = 0;
    this.sessions.clear();
    for (const m of this.modules.values()) {
      try {
        m.finalize();
      } catch {}
    }
    this.modules.clear();
  }
}

function findSlot(m: GModule, uri: Pkcs11Uri): GSlot {
  const slots = m.getSlots(true);
  for (let i = 0; i < slots.length; i++) {
    const slot = slots.items(i);
    const t = slot.getToken();
    if (uri.token !== undefined && t.label.trim() !== uri.token) continue;
    if (uri.serial !== undefined && t.serialNumber.trim() !== uri.serial) continue;
    if (uri.manufacturer !== undefined && t.manufacturerID.trim() !== uri.manufacturer) continue;
    if (uri.model !== undefined && t.model.trim() !== uri.model) continue;
    return slot;
  }
  throw envError(
    "ERR_PKCS11_TOKEN_ABSENT",
    `${describeToken(uri)} is not present`,
    "insert the token, or check SOFTHSM2_CONF and `softhsm2-util --show-slots`; the token label must match the key store URI",
  );
}

const keyUri = (token: Pkcs11Uri, object: string, id: Buffer): Pkcs11Uri => ({
  modulePath: token.modulePath,
  ...(token.token !== undefined ? { token: token.token } : {}),
  ...(token.serial !== undefined ? { serial: token.serial } : {}),
  ...(token.manufacturer !== undefined ? { manufacturer: token.manufacturer } : {}),
  ...(token.model !== undefined ? { model: token.model } : {}),
  object,
  id,
  type: "private",
});
