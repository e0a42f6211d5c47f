#!/usr/bin/env bash
# Creates ssehub's DynamoDB table `report_status` (hash key report_id, GSI UserIdIndex on user_id)
# through the JSON API with curl's SigV4 signing, so neither the AWS CLI nor an SDK is needed.
# Safe to run twice: an existing table is left alone. --recreate deletes it first.
#
# Env: AWS_ENDPOINT_URL_DYNAMODB (http://127.0.0.1:8111), AWS_REGION (us-east-1),
#      AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (dummies, fine for dynalite), AWS_SESSION_TOKEN.
set -euo pipefail

ENDPOINT=${AWS_ENDPOINT_URL_DYNAMODB:-http://127.0.0.1:8111}
REGION=${AWS_REGION:-us-east-1}
TABLE=report_status
RECREATE=false
case ${1:-} in
  "") ;;
  --recreate) RECREATE=true ;;
  *) echo "usage: $0 [--recreate]" >&2; exit 2 ;;
esac

die() { echo "dynamodb-init: $*" >&2; exit 1; }

# ddb OPERATION JSON: sets BODY and CODE (HTTP status) instead of failing, since callers branch on
# DynamoDB's error types (ResourceNotFoundException, ResourceInUseException, ...).
ddb() {
  local token=() out
  [[ -n ${AWS_SESSION_TOKEN:-} ]] && token=(-H "x-amz-security-token: $AWS_SESSION_TOKEN")
  out=$(curl -sS --max-time 10 -w '\n%{http_code}' \
    --aws-sigv4 "aws:amz:$REGION:dynamodb" \
    --user "${AWS_ACCESS_KEY_ID:-local}:${AWS_SECRET_ACCESS_KEY:-local}" \
    "${token[@]}" \
    -H "X-Amz-Target: DynamoDB_20120810.$1" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    --data "$2" "$ENDPOINT/") || die "no answer from $ENDPOINT (is it running? scripts/dynamodb-local start)"
  CODE=${out##*$'\n'}
  BODY=${out%$'\n'*}
}

describe() { ddb DescribeTable "{\"TableName\":\"$TABLE\"}"; }

missing() { [[ $CODE == 400 && $BODY == *ResourceNotFoundException* ]]; }

# The table is usable once it and its index are both ACTIVE.
wait_active() {
  for _ in $(seq 120); do
    describe
    [[ $CODE == 200 ]] || die "DescribeTable failed ($CODE): $BODY"
    if [[ $BODY == *'"TableStatus":"ACTIVE"'* && $BODY != *'"IndexStatus":"CREATING"'* ]]; then
      return 0
    fi
    sleep 0.5
  done
  die "table $TABLE not ACTIVE after 60 s: $BODY"
}

wait_gone() {
  for _ in $(seq 120); do
    describe
    missing && return 0
    sleep 0.5
  done
  die "table $TABLE still there 60 s after DeleteTable: $BODY"
}

create_request() { # $1: billing fragment for the table, $2: for the index
  cat <<EOF
{"TableName":"$TABLE",
 "AttributeDefinitions":[{"AttributeName":"report_id","AttributeType":"S"},
                         {"AttributeName":"user_id","AttributeType":"S"}],
 "KeySchema":[{"AttributeName":"report_id","KeyType":"HASH"}],
 "GlobalSecondaryIndexes":[{"IndexName":"UserIdIndex",
   "KeySchema":[{"AttributeName":"user_id","KeyType":"HASH"}],
   "Projection":{"ProjectionType":"ALL"}$2}],
 $1}
EOF
}

if $RECREATE; then
  ddb DeleteTable "{\"TableName\":\"$TABLE\"}"
  if [[ $CODE == 200 ]]; then
    wait_gone
    echo "dynamodb-init: deleted $TABLE"
  elif ! missing; then
    die "DeleteTable failed ($CODE): $BODY"
  fi
fi

describe
if [[ $CODE == 200 ]]; then
  echo "dynamodb-init: table $TABLE already exists at $ENDPOINT, leaving it alone"
  wait_active
  exit 0
fi
missing || die "DescribeTable failed ($CODE): $BODY"

ddb CreateTable "$(create_request '"BillingMode":"PAY_PER_REQUEST"' '')"
if [[ $CODE == 400 && $BODY == *ValidationException* ]]; then
  # Older local emulators know only provisioned capacity.
  throughput='"ProvisionedThroughput":{"ReadCapacityUnits":5,"WriteCapacityUnits":5}'
  ddb CreateTable "$(create_request "$throughput" ",$throughput")"
fi
if [[ $CODE == 400 && $BODY == *ResourceInUseException* ]]; then
  echo "dynamodb-init: table $TABLE was created concurrently, leaving it alone"
elif [[ $CODE != 200 ]]; then
  die "CreateTable failed ($CODE): $BODY"
fi
wait_active
echo "dynamodb-init: created $TABLE at $ENDPOINT"
