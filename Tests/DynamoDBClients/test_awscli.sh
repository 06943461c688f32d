#!/usr/bin/env bash
# The real AWS CLI against a live RaftLab cluster, through every node.
#
#     AWS=path/to/aws bash test_awscli.sh http://127.0.0.1:8100 http://127.0.0.1:8101 ...
set -euo pipefail
aws=${AWS:-aws}
endpoints=("$@")
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_MAX_ATTEMPTS=5
table="Cli-$RANDOM$RANDOM"
passed=0
started=$(date +%s)
# on N ARGS...: the AWS CLI against node N (0-based), JSON output.
on() { local node=$1; shift; "$aws" dynamodb "$@" --endpoint-url "${endpoints[$((node % ${#endpoints[@]}))]}" --output json; }
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok    aws $name"; else echo "FAIL  aws $name"; exit 1; fi
}
has() { grep -q -- "$2" <<<"$1"; }

on 1 create-table --table-name "$table" --billing-mode PAY_PER_REQUEST \
  --attribute-definitions AttributeName=Artist,AttributeType=S AttributeName=SongTitle,AttributeType=S \
  --key-schema AttributeName=Artist,KeyType=HASH AttributeName=SongTitle,KeyType=RANGE >/dev/null
on 2 wait table-exists --table-name "$table"
out=$(on 0 describe-table --table-name "$table")
check "create-table, wait table-exists, describe-table" has "$out" '"TableStatus": "ACTIVE"'

on 2 put-item --table-name "$table" --item '{"Artist":{"S":"Queen"},"SongTitle":{"S":"Bohemian Rhapsody"},"Year":{"N":"1975"},"Tags":{"SS":["rock","opera"]}}'
on 1 put-item --table-name "$table" --item '{"Artist":{"S":"Queen"},"SongTitle":{"S":"Killer Queen"},"Year":{"N":"1974"}}'
out=$(on 0 get-item --table-name "$table" --key '{"Artist":{"S":"Queen"},"SongTitle":{"S":"Bohemian Rhapsody"}}' --consistent-read)
check "put-item on followers, get-item --consistent-read" has "$out" '"N": "1975"'

out=$(on 1 update-item --table-name "$table" --key '{"Artist":{"S":"Queen"},"SongTitle":{"S":"Killer Queen"}}' \
  --update-expression "SET #y = #y + :one ADD Plays :one" --expression-attribute-names '{"#y":"Year"}' \
  --expression-attribute-values '{":one":{"N":"1"}}' --return-values ALL_NEW)
check "update-item with an expression and ReturnValues" has "$out" '"N": "1975"'

out=$(on 2 query --table-name "$table" --key-condition-expression "Artist = :a AND begins_with(SongTitle, :p)" \
  --expression-attribute-values '{":a":{"S":"Queen"},":p":{"S":"K"}}' --consistent-read)
check "query with begins_with" has "$out" '"Count": 1'

on 0 batch-write-item --request-items "{\"$table\": [$(for i in 1 2 3 4 5; do printf '{"PutRequest":{"Item":{"Artist":{"S":"B"},"SongTitle":{"S":"%s"}}}},' "$i"; done | sed 's/,$//')]}" >/dev/null
out=$(on 1 scan --table-name "$table" --page-size 2 --consistent-read)
check "batch-write-item, then scan paging through every page" has "$out" '"Count": 7'

if out=$(on 2 put-item --table-name "$table" --item '{"Artist":{"S":"Queen"},"SongTitle":{"S":"Killer Queen"}}' \
  --condition-expression "attribute_not_exists(Artist)" 2>&1); then
  check "conditional put-item fails" false
fi
check "conditional put-item fails with ConditionalCheckFailedException" has "$out" ConditionalCheckFailedException

on 0 transact-write-items --transact-items "[{\"Put\":{\"TableName\":\"$table\",\"Item\":{\"Artist\":{\"S\":\"T\"},\"SongTitle\":{\"S\":\"1\"}}}},{\"Delete\":{\"TableName\":\"$table\",\"Key\":{\"Artist\":{\"S\":\"B\"},\"SongTitle\":{\"S\":\"1\"}}}}]"
out=$(on 1 get-item --table-name "$table" --key '{"Artist":{"S":"T"},"SongTitle":{"S":"1"}}' --consistent-read)
check "transact-write-items" has "$out" '"S": "T"'

on 2 delete-table --table-name "$table" >/dev/null
if out=$(on 0 describe-table --table-name "$table" 2>&1); then check "describe-table after delete fails" false; fi
check "delete-table, then describe-table is ResourceNotFoundException" has "$out" ResourceNotFoundException
echo "aws-cli $("$aws" --version 2>&1 | cut -d' ' -f1 | cut -d/ -f2): $passed passed, 0 failed in $(( $(date +%s) - started )) s"
