"""boto3 against a RaftLab cluster whose config has [[auth.access_keys]].

    python3 test_auth.py KEY_ID SECRET http://127.0.0.1:8100 ...

The right key works through every node, followers included (a follower relays
the request with the host the client signed, and the leader checks the
client's own signature); a wrong secret, an unknown key and no signature are
refused with DynamoDB's errors.
"""
import sys
import urllib.error
import urllib.request
import uuid

import boto3
import botocore

key_id, secret, endpoints = sys.argv[1], sys.argv[2], sys.argv[3:]


def client(endpoint, access_key, secret_key):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key, config=botocore.config.Config(retries={"max_attempts": 3}))


def refused(code, call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, e.response["Error"]
        return
    raise AssertionError(f"expected {code}")


passed = 0
table = f"Auth-{uuid.uuid4().hex[:8]}"
good = [client(e, key_id, secret) for e in endpoints]
good[1].create_table(TableName=table, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
for i, c in enumerate(good):
    c.put_item(TableName=table, Item={"k": {"S": f"item-{i}"}})
for c in good:
    assert c.describe_table(TableName=table)["Table"]["ItemCount"] == len(good)
    assert c.describe_table(TableName=table)["Table"]["TableArn"].startswith("arn:aws:dynamodb:eu-west-1:")
print("ok    signed requests through every node, writes on followers relayed with the client's signature")
passed += 1
for endpoint in endpoints:
    refused("InvalidSignatureException", client(endpoint, key_id, "wrong-secret").list_tables)
    refused("UnrecognizedClientException", client(endpoint, "AKIDUNKNOWN", secret).list_tables)
    refused("InvalidSignatureException", client(endpoint, key_id, "wrong-secret").put_item, TableName=table, Item={"k": {"S": "x"}})
print("ok    a wrong secret is InvalidSignatureException, an unknown key UnrecognizedClientException")
passed += 1
request = urllib.request.Request(endpoints[0] + "/", data=b"{}", method="POST",
                                 headers={"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"})
try:
    urllib.request.urlopen(request, timeout=10)
    raise AssertionError("an unsigned request was accepted")
except urllib.error.HTTPError as e:
    assert e.code == 400 and b"MissingAuthenticationTokenException" in e.read()
print("ok    an unsigned request is MissingAuthenticationTokenException")
passed += 1
good[0].delete_table(TableName=table)
print(f"auth: {passed} passed, 0 failed against {len(endpoints)} nodes")
