#!/usr/bin/env bash
# The main job end to end: create a CA, issue a partner certificate from an openssl-made CSR,
# check it with openssl, revoke it, and show that the published CRL rejects it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mtls() { node "$here/bin/mtls.js" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export MTLS_CA_PASSPHRASE="quickstart passphrase $(date +%s)"

echo "# 1. create the CA (root + issuing intermediate, keys encrypted at rest)"
mtls ca init --name "Acme Partner" --org "Acme Corp" -q

echo "# 2. the partner makes a key and CSR (its key never leaves it)"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout partner.key -out partner.csr \
  -subj "/O=Partner GmbH/CN=api-client.partner.example" -addext "subjectAltName=URI:spiffe://partner.example/client" 2>/dev/null

echo "# 3. issue the partner certificate"
serial=$(mtls partner issue partner --csr partner.csr --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).result.serial))')
echo "serial $serial"

echo "# 4. openssl accepts it for client auth"
openssl verify -purpose sslclient -CAfile pki/ca/root.pem -untrusted pki/ca/intermediate.pem "pki/certs/$serial.pem"

echo "# 5. revoke it; the fresh CRL makes openssl reject it"
mtls revoke "$serial" --reason keyCompromise --yes -q >/dev/null
if openssl verify -crl_check_all -CAfile pki/ca/root.pem -untrusted pki/ca/intermediate.pem -CRLfile pki/crl/crl-bundle.pem "pki/certs/$serial.pem" 2>&1; then
  echo "FAIL: a revoked certificate still verifies" >&2
  exit 1
fi
echo "# 6. the inventory and health gate"
mtls list
mtls status || true
echo "OK: the partner lifecycle works end to end"
