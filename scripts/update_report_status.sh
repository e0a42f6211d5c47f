#!/usr/bin/env bash
# Moves a report to a new status through the v4 API, prints the server's answer, and exits
# non-zero on any error status.
#
#   scripts/update_report_status.sh <userID> <reportID> <new-status>
#   SSEHUB_URL=http://localhost:3000 (default)
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 <userID> <reportID> <new-status>" >&2
  exit 2
fi
user_id=$1 report_id=$2 status=$3
url=${SSEHUB_URL:-http://localhost:3000}
body=$(printf '{"id":"%s","status":"%s"}' "$report_id" "$status")
echo "sending: $body"
response=$(mktemp)
trap 'rm -f "$response"' EXIT
code=$(curl -sS -o "$response" -w '%{http_code}' -X PUT \
  -H 'Content-Type: application/json' --data-binary "$body" \
  --url-query "user_id=$user_id" "$url/v4/report") || {
  echo "error: cannot reach ssehub at $url" >&2
  exit 1
}
cat "$response"
echo
if [[ $code -ge 400 ]]; then
  echo "error: HTTP $code" >&2
  exit 1
fi
