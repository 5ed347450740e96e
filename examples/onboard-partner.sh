#!/usr/bin/env bash
# Onboard a partner that sent a CSR and its OpenPGP public key: register it, sign the CSR, and
# write an encrypted, signed delivery bundle. Nothing secret leaves in the clear.
#
#   MTLS_CA_PASSPHRASE=... ./onboard-partner.sh acme acme.csr acme.asc [acme.zip.pgp]
#
# Environment: MTLS_PKI (default ./pki), MTLS_CA_PASSPHRASE (or a terminal to ask),
# MTLS (the mtls command, default "mtls").
set -euo pipefail
MTLS=${MTLS:-mtls}
id=${1:?usage: onboard-partner.sh <partner-id> <csr> <pgp-public-key> [bundle]}
csr=${2:?missing CSR file}
pgp=${3:?missing OpenPGP public key file}
out=${4:-$id.zip.pgp}

# One command does it: register (with the key checked), issue, encrypt to the partner, sign.
$MTLS partner onboard "$id" --pgp-key "$pgp" --csr "$csr" --out "$out"

# What the partner needs besides the bundle: the home party's public key, to check the signature.
$MTLS pgp show --armor > home-party.asc
echo "send $out and home-party.asc to $id; read them the fingerprint above by phone"
