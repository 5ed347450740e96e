export { authorityKeyIdentifierValue, keyIdentifier, publicKeyBits, signatureAlgorithmDer, wholeSeconds, wrapSigned } from "./algorithm.js";
export { cryptoKeySigner, fileKeySigner, keyObjectSigner, type Signer, signAndWrap } from "./signer.js";
