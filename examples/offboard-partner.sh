#!/usr/bin/env bash
# Offboard a partner: revoke every certificate it holds, publish the CRL, put the CRL where the
# gateway reads it, and reload the gateway so the revocation takes effect now.
#
#   ./offboard-partner.sh acme /etc/nginx/mtls/crl-bundle.pem
#
# Environment: MTLS_PKI (default ./pki), MTLS_CA_PASSPHRASE, MTLS (default "mtls"),
# REASON (RFC 5280 reason, default cessationOfOperation),
# RELOAD (how to reload the gateway, default "nginx -s reload").
set -euo pipefail
MTLS=${MTLS:-mtls}
id=${1:?usage: offboard-partner.sh <partner-id> <gateway-crl-file>}
gateway_crl=${2:?missing the path of the CRL file the gateway reads}
pki=${MTLS_PKI:-pki}

$MTLS partner offboard "$id" --reason "${REASON:-cessationOfOperation}" --yes

# Replace the gateway's copy atomically: a reload must never read half a CRL.
install -m 0644 "$pki/crl/crl-bundle.pem" "$gateway_crl.new"
mv -f "$gateway_crl.new" "$gateway_crl"
${RELOAD:-nginx -s reload}

# The published CRL now lists every revocation, and is far from its nextUpdate.
$MTLS status
