#!/usr/bin/env bash
# A CI gate for the partner mTLS setup: fail the pipeline when the PKI needs attention (a CA or
# partner certificate about to expire, a stale CRL) or when the gateway stops enforcing mTLS.
#
#   ./ci-gate.sh https://api.example.com/health [gateway-ca.pem]
#
# Writes JUnit XML (JUNIT, default mtls-probe.xml) for the CI system to display.
# Environment: MTLS_PKI, MTLS_CA_PASSPHRASE (the probe mints short-lived test certificates),
# MTLS (default "mtls"), WARN_WITHIN (default 14d).
set -euo pipefail
MTLS=${MTLS:-mtls}
url=${1:?usage: ci-gate.sh <gateway-url> [gateway-server-ca]}
server_ca=${2:-}

status=0
$MTLS status --warn-within "${WARN_WITHIN:-14d}" || status=$?

probe=0
$MTLS probe "$url" ${server_ca:+--server-ca "$server_ca"} --junit "${JUNIT:-mtls-probe.xml}" || probe=$?

# Exit 1 means "a check said no"; anything else is an error of its own: pass it on.
if [ "$status" -ne 0 ] || [ "$probe" -ne 0 ]; then
  echo "ci-gate: status exit $status, probe exit $probe" >&2
  exit $(( probe > status ? probe : status ))
fi
echo "ci-gate: PKI healthy and gateway enforcing mTLS"
