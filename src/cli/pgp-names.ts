// OpenPGP.js names algorithms after its enums ("rsaEncryptSign-3072", "eddsaLegacy/ed25519Legacy");
// the people comparing keys read GnuPG's listing (`gpg -k`: "rsa3072", "ed25519", "cv25519").

const CURVES: Record<string, string> = {
  ed25519legacy: "ed25519",
  ed25519: "ed25519",
  curve25519legacy: "cv25519",
  curve25519: "cv25519",
  x25519: "cv25519",
  ed448: "ed448",
  curve448: "cv448",
  x448: "cv448",
  nistp256: "nistp256",
  nistp384: "nistp384",
  nistp521: "nistp521",
  secp256k1: "secp256k1",
  brainpoolp256r1: "brainpoolP256r1",
  brainpoolp384r1: "brainpoolP384r1",
  brainpoolp512r1: "brainpoolP512r1",
};

/** "rsaEncryptSign-3072" → "rsa3072", "eddsaLegacy/ed25519Legacy" → "ed25519", "ecdh/curve25519Legacy" → "cv25519". */
export function gnupgAlgorithmName(label: string | undefined): string {
  if (!label) return "";
  const bits = /^(rsa|dsa|elgamal)\w*-(\d+)$/i.exec(label);
  if (bits) return `${(bits[1] as string).toLowerCase() === "elgamal" ? "elg" : (bits[1] as string).toLowerCase()}${bits[2]}`;
  const curve = (label.includes("/") ? label.slice(label.indexOf("/") + 1) : label).toLowerCase();
  return CURVES[curve] ?? label;
}
