"""The real boto3 (client and resource) against a live RaftLab cluster.

    python3 test_boto3.py http://127.0.0.1:8100 http://127.0.0.1:8101 http://127.0.0.1:8102

Every test talks to every node in turn, so writes reach followers (which relay
them to the leader) and strongly consistent reads run on followers through
ReadIndex. Prints one line per test and a summary; exits 1 if any test failed.
No pytest: plain asserts, so the only dependency is boto3.
"""
import base64
import decimal
import json
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid
import zlib

import boto3
import botocore
from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import Binary

ENDPOINTS = sys.argv[1:] or ["http://127.0.0.1:8100"]
CREDENTIALS = dict(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
CONFIG = botocore.config.Config(retries={"max_attempts": 5, "mode": "standard"}, read_timeout=20)
CLIENTS = [boto3.client("dynamodb", endpoint_url=e, config=CONFIG, **CREDENTIALS) for e in ENDPOINTS]
RESOURCES = [boto3.resource("dynamodb", endpoint_url=e, config=CONFIG, **CREDENTIALS) for e in ENDPOINTS]
_turn = [0]


def client():
    """The next node's client, round robin."""
    _turn[0] += 1
    return CLIENTS[_turn[0] % len(CLIENTS)]


def resource():
    _turn[0] += 1
    return RESOURCES[_turn[0] % len(RESOURCES)]


def error(code, call, *args, **kwargs):
    """Calls `call`, which must fail with DynamoDB error `code`; returns the error response."""
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response['Error'].get('Message')}"
        return e.response
    raise AssertionError(f"expected {code}, the call succeeded")


def table_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(name, hash_key=("pk", "S"), range_key=None, **extra):
    schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
    definitions = [{"AttributeName": hash_key[0], "AttributeType": hash_key[1]}]
    if range_key:
        schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
        definitions.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
    extra.setdefault("BillingMode", "PAY_PER_REQUEST")
    return client().create_table(TableName=name, KeySchema=schema, AttributeDefinitions=definitions, **extra)


def raw(endpoint, target, body, headers=None):
    """A hand-made request, for what boto3 refuses to send. Returns (status, headers, body bytes)."""
    all_headers = {"Content-Type": "application/x-amz-json-1.0"}
    if target:
        all_headers["X-Amz-Target"] = "DynamoDB_20120810." + target
    all_headers.update(headers or {})
    request = urllib.request.Request(endpoint + "/", data=body, headers=all_headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def native(endpoint, method, path, body=None):
    """RaftLab's own JSON API, following its redirect to the leader."""
    data = json.dumps(body).encode() if body is not None else None
    for _ in range(5):
        request = urllib.request.Request(endpoint + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=20) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as e:
            if e.code == 307:
                endpoint = "http://" + json.loads(e.read())["leader_addr"]
                continue
            return e.code, json.loads(e.read())
    raise AssertionError("no leader answered")


TESTS = []


def test(function):
    TESTS.append(function)
    return function


# MARK: Tables

@test
def tables_create_describe_list_delete():
    name = table_name("Tables")
    description = create(name, ("Artist", "S"), ("Year", "N"))["TableDescription"]
    assert description["TableStatus"] == "ACTIVE" and description["TableName"] == name
    assert description["KeySchema"] == [{"AttributeName": "Artist", "KeyType": "HASH"},
                                        {"AttributeName": "Year", "KeyType": "RANGE"}], description
    client().get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    table = client().describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE" and table["ItemCount"] == 0
    assert {"AttributeName": "Year", "AttributeType": "N"} in table["AttributeDefinitions"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TableArn"].endswith(":table/" + name) and "CreationDateTime" in table
    error("ResourceInUseException", create, name)
    for i in range(3):
        client().put_item(TableName=name, Item={"Artist": {"S": "a"}, "Year": {"N": str(i)}})
    assert client().describe_table(TableName=name)["Table"]["ItemCount"] == 3
    # Every node lists the new table at once; the paginator walks pages of one.
    for c in CLIENTS:
        names = [n for page in c.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 1})
                 for n in page["TableNames"]]
        assert name in names and names == sorted(names), names
    provisioned = table_name("Prov")
    create(provisioned, BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 7})
    described = client().describe_table(TableName=provisioned)["Table"]
    assert described["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    error("ValidationException", create, table_name("NoThroughput"), BillingMode="PROVISIONED")
    error("ValidationException", client().create_table, TableName=table_name("Gsi"),
          KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}], AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
          BillingMode="PAY_PER_REQUEST",
          GlobalSecondaryIndexes=[{"IndexName": "gsi1", "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
                                   "Projection": {"ProjectionType": "ALL"}}])
    assert client().delete_table(TableName=name)["TableDescription"]["TableName"] == name
    client().delete_table(TableName=provisioned)
    for c in CLIENTS:
        error("ResourceNotFoundException", c.describe_table, TableName=name)
    error("ResourceNotFoundException", client().delete_table, TableName=name)


# MARK: Items and types

EVERY_TYPE = {
    "pk": {"S": "every"}, "S": {"S": "text é 😀 \u0000"}, "N": {"N": "-12.50"}, "B": {"B": b"\x00\xff\x10"},
    "SS": {"SS": ["b", "a"]}, "NS": {"NS": ["10", "2.5", "-1"]}, "BS": {"BS": [b"\x01", b"\x00\x02"]},
    "M": {"M": {"nested": {"M": {"deep": {"BOOL": True}}}, "n": {"NULL": True}}},
    "L": {"L": [{"S": "x"}, {"N": "1"}, {"L": []}, {"M": {}}]}, "NULL": {"NULL": True}, "BOOL": {"BOOL": False},
    "Empty": {"S": ""},
}


@test
def items_every_type_round_trips():
    name = table_name("Types")
    create(name)
    client().put_item(TableName=name, Item=EVERY_TYPE)
    for c in CLIENTS:
        item = c.get_item(TableName=name, Key={"pk": {"S": "every"}}, ConsistentRead=True)["Item"]
        assert item["N"] == {"N": "-12.5"}, item["N"]
        assert sorted(item["SS"]["SS"]) == ["a", "b"] and sorted(item["NS"]["NS"], key=float) == ["-1", "2.5", "10"]
        assert item["B"] == {"B": b"\x00\xff\x10"} and sorted(item["BS"]["BS"]) == [b"\x00\x02", b"\x01"]
        assert item["M"] == EVERY_TYPE["M"] and item["L"] == EVERY_TYPE["L"] and item["S"] == EVERY_TYPE["S"]
        assert item["NULL"] == {"NULL": True} and item["BOOL"] == {"BOOL": False} and item["Empty"] == {"S": ""}
    assert "Item" not in client().get_item(TableName=name, Key={"pk": {"S": "nobody"}}, ConsistentRead=True)
    # Projections, including nested paths and list elements.
    projected = client().get_item(TableName=name, Key={"pk": {"S": "every"}}, ConsistentRead=True,
                                  ProjectionExpression="#m.nested, L[1], L[0], BOOL",
                                  ExpressionAttributeNames={"#m": "M"})["Item"]
    assert projected == {"M": {"M": {"nested": EVERY_TYPE["M"]["M"]["nested"]}}, "L": {"L": [{"S": "x"}, {"N": "1"}]},
                         "BOOL": {"BOOL": False}}, projected
    assert client().get_item(TableName=name, Key={"pk": {"S": "every"}}, AttributesToGet=["BOOL"],
                             ConsistentRead=True)["Item"] == {"BOOL": {"BOOL": False}}
    # Sizes: an item over 400 KB is refused.
    error("ValidationException", client().put_item, TableName=name, Item={"pk": {"S": "big"}, "v": {"S": "x" * 410_000}})
    client().put_item(TableName=name, Item={"pk": {"S": "big"}, "v": {"S": "x" * 400_000}})
    client().delete_table(TableName=name)


@test
def numbers_have_dynamodb_semantics():
    name = table_name("Numbers")
    create(name, ("pk", "N"))
    big = "12345678901234567890123456789012345678"
    for text, canonical in [(big, big), ("1.50", "1.5"), ("1E+2", "100"), ("-0.000123", "-0.000123"), ("007", "7"),
                            ("9.9999999999999999999999999999999999999E+125", "99999999999999999999999999999999999999" + "0" * 88),
                            ("1E-130", "0." + "0" * 129 + "1")]:
        client().put_item(TableName=name, Item={"pk": {"N": "1"}, "v": {"N": text}})
        got = client().get_item(TableName=name, Key={"pk": {"N": "1.0"}}, ConsistentRead=True)["Item"]["v"]["N"]
        assert got == canonical, (text, got)
    for bad, message in [("123456789012345678901234567890123456789", "significant digits"), ("1E+126", "overflow"),
                         ("1E-131", "underflow"), ("dog", "numeric"), ("NaN", "numeric")]:
        e = error("ValidationException", client().put_item, TableName=name, Item={"pk": {"N": "1"}, "v": {"N": bad}})
        assert message in e["Error"]["Message"], e["Error"]["Message"]
    # Exact arithmetic: 0.3 - 0.1 is 0.2, not a float's 0.19999999999999998.
    client().put_item(TableName=name, Item={"pk": {"N": "2"}, "v": {"N": "0.3"}})
    got = client().update_item(TableName=name, Key={"pk": {"N": "2"}}, UpdateExpression="SET v = v - :d",
                               ExpressionAttributeValues={":d": {"N": "0.1"}}, ReturnValues="UPDATED_NEW")
    assert got["Attributes"] == {"v": {"N": "0.2"}}, got
    e = error("ValidationException", client().update_item, TableName=name, Key={"pk": {"N": "2"}},
              UpdateExpression="SET v = :a + :b", ExpressionAttributeValues={":a": {"N": "1e50"}, ":b": {"N": "1"}})
    assert "overflow" in e["Error"]["Message"]
    # The resource API's Decimal context round-trips 38 digits exactly.
    table = resource().Table(name)
    table.put_item(Item={"pk": 3, "v": decimal.Decimal(big), "f": decimal.Decimal("3.14")})
    item = table.get_item(Key={"pk": 3}, ConsistentRead=True)["Item"]
    assert item["v"] == decimal.Decimal(big) and item["f"] == decimal.Decimal("3.14")
    client().delete_table(TableName=name)


@test
def resource_api_with_python_types():
    name = table_name("Resource")
    create(name, ("id", "S"), ("n", "N"))
    table = resource().Table(name)
    table.load()
    assert table.key_schema[0]["AttributeName"] == "id"
    table.put_item(Item={"id": "a", "n": 1, "tags": {"x", "y"}, "nums": {1, 2}, "blob": Binary(b"\x00\x01"),
                         "doc": {"list": [1, "two", None, True], "map": {}}, "none": None, "flag": True})
    item = table.get_item(Key={"id": "a", "n": 1}, ConsistentRead=True)["Item"]
    assert item["tags"] == {"x", "y"} and item["nums"] == {1, 2} and item["blob"] == Binary(b"\x00\x01")
    assert item["doc"] == {"list": [1, "two", None, True], "map": {}} and item["none"] is None and item["flag"] is True
    with table.batch_writer() as batch:
        for i in range(40):
            batch.put_item(Item={"id": "batch", "n": i, "v": f"value-{i}"})
    items = table.query(KeyConditionExpression=Key("id").eq("batch") & Key("n").between(10, 14), ConsistentRead=True)["Items"]
    assert [i["n"] for i in items] == [10, 11, 12, 13, 14], items
    items = table.query(KeyConditionExpression=Key("id").eq("batch"), FilterExpression=Attr("v").begins_with("value-3"),
                        ConsistentRead=True)["Items"]
    assert sorted(i["n"] for i in items) == [3] + list(range(30, 40)), items
    table.update_item(Key={"id": "a", "n": 1}, UpdateExpression="SET doc.#m.k = :v ADD tags :t",
                      ExpressionAttributeNames={"#m": "map"}, ExpressionAttributeValues={":v": "deep", ":t": {"z"}})
    item = table.get_item(Key={"id": "a", "n": 1}, ConsistentRead=True)["Item"]
    assert item["doc"]["map"] == {"k": "deep"} and item["tags"] == {"x", "y", "z"}
    table.delete_item(Key={"id": "a", "n": 1})
    assert "Item" not in table.get_item(Key={"id": "a", "n": 1}, ConsistentRead=True)
    table.delete()


# MARK: Expressions

@test
def condition_expressions():
    name = table_name("Conditions")
    create(name)
    base = {"pk": {"S": "c"}, "n": {"N": "5"}, "s": {"S": "hello world"}, "tags": {"SS": ["a", "b"]},
            "l": {"L": [{"N": "1"}, {"N": "2"}]}, "m": {"M": {"k": {"S": "v"}}}}
    client().put_item(TableName=name, Item=base)
    values = {":five": {"N": "5"}, ":six": {"N": "6"}, ":one": {"N": "1"}, ":hello": {"S": "hello"}, ":a": {"S": "a"},
              ":z": {"S": "z"}, ":S": {"S": "S"}, ":SS": {"SS": ["a"]}, ":two": {"N": "2"}, ":world": {"S": "world"}}
    holds = ["attribute_exists(n)", "attribute_not_exists(nope)", "attribute_type(s, :S)", "begins_with(s, :hello)",
             "contains(s, :world)", "contains(tags, :a)", "size(l) = :two", "size(s) > :five", "n = :five",
             "n <> :six", "n < :six", "n <= :five", "n > :one", "n >= :five", "n BETWEEN :one AND :six",
             "n IN (:one, :five)", "n = :six OR n = :five", "NOT n = :six", "(n = :five AND s <> :a) OR n = :one",
             "m.k = :v", "l[1] = :two", "nope <> :one"]
    for condition in holds:
        used = {k: v for k, v in values.items() if k in condition}
        if ":v" in condition:
            used[":v"] = {"S": "v"}
        client().put_item(TableName=name, Item=base, ConditionExpression=condition, ExpressionAttributeValues=used)
    fails = ["attribute_not_exists(n)", "begins_with(s, :world)", "contains(tags, :z)", "n > :five",
             "n BETWEEN :six AND :six", "n IN (:one, :six)", "NOT (n = :five)", "nope = :one", "size(n) > :one",
             "attribute_type(tags, :S)"]
    for condition in fails:
        used = {k: v for k, v in values.items() if k in condition}
        error("ConditionalCheckFailedException", client().put_item, TableName=name, Item=base,
              ConditionExpression=condition, ExpressionAttributeValues=used)
    # The old item comes back with a failed condition when asked.
    e = error("ConditionalCheckFailedException", client().delete_item, TableName=name, Key={"pk": {"S": "c"}},
              ConditionExpression="n > :five", ExpressionAttributeValues={":five": {"N": "5"}},
              ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert e["Item"]["n"] == {"N": "5"}, e
    # DynamoDB's validation of expressions.
    for kwargs, text in [
        (dict(ConditionExpression="Year = :one", ExpressionAttributeValues={":one": {"N": "1"}}), "reserved keyword: Year"),
        (dict(ConditionExpression="n = :one", ExpressionAttributeValues={":one": {"N": "1"}, ":x": {"N": "1"}}), "unused"),
        (dict(ConditionExpression="n = :nope"), "not defined"),
        (dict(ConditionExpression="#y = :one", ExpressionAttributeValues={":one": {"N": "1"}}), "not defined"),
        (dict(ConditionExpression="n = = :one", ExpressionAttributeValues={":one": {"N": "1"}}), "Syntax error"),
        (dict(ConditionExpression="n BETWEEN :six AND :one",
              ExpressionAttributeValues={":one": {"N": "1"}, ":six": {"N": "6"}}), "BETWEEN"),
    ]:
        e = error("ValidationException", client().put_item, TableName=name, Item=base, **kwargs)
        assert text in e["Error"]["Message"], (kwargs, e["Error"]["Message"])
    client().delete_table(TableName=name)


@test
def update_expressions_and_return_values():
    name = table_name("Updates")
    create(name)
    key = {"pk": {"S": "u"}}
    client().put_item(TableName=name, Item={"pk": {"S": "u"}, "n": {"N": "1"}, "gone": {"S": "x"}, "tags": {"SS": ["a", "b"]},
                                            "old": {"SS": ["a", "b"]}, "l": {"L": [{"S": "first"}]}, "l2": {"L": [{"S": "first"}]},
                                            "m": {"M": {"k": {"S": "v"}}}})
    r = client().update_item(
        TableName=name, Key=key, ReturnValues="ALL_NEW", ExpressionAttributeNames={"#old": "old"},
        UpdateExpression="SET n = n + :one, c = if_not_exists(c, :zero) + :one, l = list_append(l, :more), m.k2 = :v, "
                         "l2[0] = :v REMOVE gone ADD tags :c, grand :ten DELETE #old :a",
        ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}, ":more": {"L": [{"S": "next"}]},
                                   ":v": {"S": "new"}, ":c": {"SS": ["c"]}, ":ten": {"N": "10"}, ":a": {"SS": ["a"]}})
    item = r["Attributes"]
    assert item["n"] == {"N": "2"} and item["c"] == {"N": "1"} and item["grand"] == {"N": "10"}, item
    assert item["l"] == {"L": [{"S": "first"}, {"S": "next"}]} and item["l2"] == {"L": [{"S": "new"}]}, item
    assert item["m"]["M"]["k2"] == {"S": "new"}, item
    assert "gone" not in item and sorted(item["tags"]["SS"]) == ["a", "b", "c"] and item["old"] == {"SS": ["b"]}, item
    old = client().update_item(TableName=name, Key=key, UpdateExpression="SET n = :v", ReturnValues="UPDATED_OLD",
                               ExpressionAttributeValues={":v": {"N": "7"}})["Attributes"]
    assert old == {"n": {"N": "2"}}, old
    new = client().update_item(TableName=name, Key=key, UpdateExpression="SET m.k = :v", ReturnValues="UPDATED_NEW",
                               ExpressionAttributeValues={":v": {"S": "changed"}})["Attributes"]
    assert new == {"m": {"M": {"k": {"S": "changed"}}}}, new
    all_old = client().update_item(TableName=name, Key=key, UpdateExpression="REMOVE c", ReturnValues="ALL_OLD")["Attributes"]
    assert all_old["c"] == {"N": "1"}
    # An update of a missing item creates it; one without an expression only creates the key.
    client().update_item(TableName=name, Key={"pk": {"S": "fresh"}}, UpdateExpression="ADD visits :one",
                         ExpressionAttributeValues={":one": {"N": "1"}})
    client().update_item(TableName=name, Key={"pk": {"S": "bare"}})
    got = client().get_item(TableName=name, Key={"pk": {"S": "bare"}}, ConsistentRead=True)["Item"]
    assert got == {"pk": {"S": "bare"}}, got
    # Errors DynamoDB gives.
    for expression, values, text in [
        ("SET pk = :v", {":v": {"S": "x"}}, "part of the key"),
        ("SET n = nope + :one", {":one": {"N": "1"}}, "does not exist"),
        ("SET n = pk + :one", {":one": {"N": "1"}}, "incorrect data type"),
        ("SET a.b.c = :one", {":one": {"N": "1"}}, "document path"),
        ("SET n = :one SET c = :one", {":one": {"N": "1"}}, "only be used once"),
        ("SET n = :one REMOVE n", {":one": {"N": "1"}}, "conflict"),
        ("ADD n :s", {":s": {"S": "x"}}, "operand type"),
    ]:
        e = error("ValidationException", client().update_item, TableName=name, Key=key, UpdateExpression=expression,
                  ExpressionAttributeValues=values)
        assert text in e["Error"]["Message"], (expression, e["Error"]["Message"])
    client().delete_table(TableName=name)


# MARK: Query and Scan

@test
def query_key_conditions_order_paging_filters():
    name = table_name("Query")
    create(name, ("p", "S"), ("s", "N"))
    with resource().Table(name).batch_writer() as batch:
        for p in ["a", "b"]:
            for s in [-3, 0, 1, 2, 10, 20, 100]:
                batch.put_item(Item={"p": p, "s": s, "odd": s % 2 == 1, "label": f"n{s}"})

    def seq(condition, values, **kwargs):
        answer = client().query(TableName=name, KeyConditionExpression=condition, ConsistentRead=True,
                                ExpressionAttributeValues={":p": {"S": "b"}, **values}, **kwargs)
        return [int(i["s"]["N"]) for i in answer.get("Items", []) if "s" in i], answer

    assert seq("p = :p", {})[0] == [-3, 0, 1, 2, 10, 20, 100]
    assert seq("p = :p AND s = :v", {":v": {"N": "10"}})[0] == [10]
    assert seq("p = :p AND s < :v", {":v": {"N": "2"}})[0] == [-3, 0, 1]
    assert seq("p = :p AND s <= :v", {":v": {"N": "2"}})[0] == [-3, 0, 1, 2]
    assert seq("s > :v AND p = :p", {":v": {"N": "10"}})[0] == [20, 100]
    assert seq("p = :p AND s >= :v", {":v": {"N": "10"}})[0] == [10, 20, 100]
    assert seq("(p = :p) AND (s BETWEEN :lo AND :hi)", {":lo": {"N": "0"}, ":hi": {"N": "10"}})[0] == [0, 1, 2, 10]
    assert seq("p = :p", {}, ScanIndexForward=False)[0] == [100, 20, 10, 2, 1, 0, -3]
    items, answer = seq("p = :p", {":t": {"BOOL": True}, ":ten": {"N": "10"}},
                        FilterExpression="odd = :t AND size(label) > :ten")
    assert items == [] and answer["Count"] == 0 and answer["ScannedCount"] == 7, answer
    items, answer = seq("p = :p", {":t": {"BOOL": True}}, FilterExpression="odd = :t")
    assert items == [-3, 1] and answer["Count"] == 2 and answer["ScannedCount"] == 7, answer
    _, answer = seq("p = :p", {}, Select="COUNT")
    assert answer["Count"] == 7 and "Items" not in answer
    _, answer = seq("p = :p", {}, ProjectionExpression="label")
    assert answer["Items"][0] == {"label": {"S": "n-3"}}
    # Legacy KeyConditions, begins_with on a string sort key.
    legacy = client().query(TableName=name, ConsistentRead=True, KeyConditions={
        "p": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]},
        "s": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "10"}]}})
    assert [int(i["s"]["N"]) for i in legacy["Items"]] == [20, 100]
    # Pages: Limit and ExclusiveStartKey, forwards and backwards, through the paginator.
    for forward in [True, False]:
        pages = list(client().get_paginator("query").paginate(
            TableName=name, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": {"S": "a"}},
            ScanIndexForward=forward, ConsistentRead=True, PaginationConfig={"PageSize": 3}))
        assert [len(p["Items"]) for p in pages] == [3, 3, 1], pages
        got = [int(i["s"]["N"]) for p in pages for i in p["Items"]]
        assert got == sorted(got, reverse=not forward) and len(got) == 7
    # Key condition mistakes.
    for condition, values, text in [
        ("s = :v", {":v": {"N": "1"}}, "missed key schema element"),
        ("p = :p OR s = :v", {":p": {"S": "a"}, ":v": {"N": "1"}}, "OR"),
        ("p = :p AND s = :v", {":p": {"S": "a"}, ":v": {"S": "x"}}, "type"),
        ("p = :p AND extra = :v", {":p": {"S": "a"}, ":v": {"N": "1"}}, "key schema element"),
    ]:
        e = error("ValidationException", client().query, TableName=name, KeyConditionExpression=condition,
                  ExpressionAttributeValues=values)
        assert text in e["Error"]["Message"], (condition, e["Error"]["Message"])
    client().delete_table(TableName=name)


@test
def scan_paging_segments_filters():
    name = table_name("Scan")
    create(name, ("id", "N"))
    client().batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"id": {"N": str(i)}, "even": {"BOOL": i % 2 == 0}}}}
                                                   for i in range(25)]})
    with resource().Table(name).batch_writer() as batch:
        for i in range(25, 60):
            batch.put_item(Item={"id": i, "even": i % 2 == 0})
    seen = []
    pages = 0
    kwargs = {}
    while True:
        page = client().scan(TableName=name, Limit=7, ConsistentRead=True, **kwargs)
        pages += 1
        seen += [int(i["id"]["N"]) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert sorted(seen) == list(range(60)) and pages == 9, (pages, sorted(seen))
    segments = [sorted(int(i["id"]["N"]) for p in client().get_paginator("scan").paginate(
        TableName=name, Segment=s, TotalSegments=3, ConsistentRead=True) for i in p["Items"]) for s in range(3)]
    assert sorted(sum(segments, [])) == list(range(60)) and all(segments), segments
    evens = client().scan(TableName=name, FilterExpression="even = :t", ExpressionAttributeValues={":t": {"BOOL": True}},
                          ConsistentRead=True)
    assert evens["Count"] == 30 and evens["ScannedCount"] == 60
    count = client().scan(TableName=name, Select="COUNT", ConsistentRead=True)
    assert count["Count"] == 60
    error("ValidationException", client().scan, TableName=name, Segment=3, TotalSegments=3)
    client().delete_table(TableName=name)


# MARK: Batches and transactions

@test
def batch_get_and_write():
    first, second = table_name("BatchA"), table_name("BatchB")
    create(first)
    create(second, ("k", "N"))
    client().batch_write_item(RequestItems={
        first: [{"PutRequest": {"Item": {"pk": {"S": f"a{i}"}, "v": {"N": str(i)}}}} for i in range(15)],
        second: [{"PutRequest": {"Item": {"k": {"N": str(i)}}}} for i in range(10)],
    })
    client().batch_write_item(RequestItems={first: [{"DeleteRequest": {"Key": {"pk": {"S": "a0"}}}}]})
    got = client().batch_get_item(RequestItems={
        first: {"Keys": [{"pk": {"S": f"a{i}"}} for i in range(4)], "ConsistentRead": True, "ProjectionExpression": "v"},
        second: {"Keys": [{"k": {"N": "3"}}], "ConsistentRead": True}})
    assert sorted(int(i["v"]["N"]) for i in got["Responses"][first]) == [1, 2, 3], got
    assert got["Responses"][second] == [{"k": {"N": "3"}}] and got["UnprocessedKeys"] == {}
    error("ValidationException", client().batch_write_item, RequestItems={
        first: [{"PutRequest": {"Item": {"pk": {"S": "dup"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "dup"}}}}]})
    error("ValidationException", client().batch_write_item, RequestItems={
        first: [{"PutRequest": {"Item": {"pk": {"S": f"x{i}"}}}} for i in range(26)]})
    error("ResourceNotFoundException", client().batch_get_item, RequestItems={"Missing-Table": {"Keys": [{"pk": {"S": "a"}}]}})
    client().delete_table(TableName=first)
    client().delete_table(TableName=second)


@test
def transactions_are_atomic_with_reasons():
    name = table_name("Tx")
    create(name)
    client().put_item(TableName=name, Item={"pk": {"S": "acct-1"}, "balance": {"N": "100"}})
    client().put_item(TableName=name, Item={"pk": {"S": "acct-2"}, "balance": {"N": "0"}})
    client().put_item(TableName=name, Item={"pk": {"S": "bank"}, "open": {"BOOL": True}})

    def transfer(amount):
        return client().transact_write_items(TransactItems=[
            {"Update": {"TableName": name, "Key": {"pk": {"S": "acct-1"}}, "UpdateExpression": "SET balance = balance - :a",
                        "ConditionExpression": "balance >= :a", "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
            {"Update": {"TableName": name, "Key": {"pk": {"S": "acct-2"}}, "UpdateExpression": "SET balance = balance + :a",
                        "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
            {"Put": {"TableName": name, "Item": {"pk": {"S": f"log-{amount}"}, "amount": {"N": str(amount)}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"ConditionCheck": {"TableName": name, "Key": {"pk": {"S": "bank"}}, "ConditionExpression": "#o = :t",
                                "ExpressionAttributeNames": {"#o": "open"}, "ExpressionAttributeValues": {":t": {"BOOL": True}}}},
        ])

    transfer(30)
    e = error("TransactionCanceledException", transfer, 80)
    reasons = [r["Code"] for r in e["CancellationReasons"]]
    assert reasons == ["ConditionalCheckFailed", "None", "None", "None"], e["CancellationReasons"]
    e = error("TransactionCanceledException", client().transact_write_items, TransactItems=[
        {"Put": {"TableName": name, "Item": {"pk": {"S": "log-30"}}, "ConditionExpression": "attribute_not_exists(pk)",
                 "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"Delete": {"TableName": name, "Key": {"pk": {"S": "acct-2"}}}}])
    assert e["CancellationReasons"][0]["Item"]["amount"] == {"N": "30"}, e["CancellationReasons"]
    got = client().transact_get_items(TransactItems=[
        {"Get": {"TableName": name, "Key": {"pk": {"S": p}}, "ProjectionExpression": "balance"}}
        for p in ["acct-1", "acct-2", "nobody"]])["Responses"]
    assert got == [{"Item": {"balance": {"N": "70"}}}, {"Item": {"balance": {"N": "30"}}}, {}], got
    assert "Item" not in client().get_item(TableName=name, Key={"pk": {"S": "log-80"}}, ConsistentRead=True)
    # A ClientRequestToken makes a retried transaction apply once (through different nodes, too).
    token = uuid.uuid4().hex
    for c in CLIENTS:
        c.transact_write_items(ClientRequestToken=token, TransactItems=[
            {"Update": {"TableName": name, "Key": {"pk": {"S": "visits"}}, "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
    got = client().get_item(TableName=name, Key={"pk": {"S": "visits"}}, ConsistentRead=True)["Item"]
    assert got["n"] == {"N": "1"}, got
    # The same token with another request is refused, as DynamoDB does, and changes nothing.
    error("IdempotentParameterMismatchException", client().transact_write_items, ClientRequestToken=token, TransactItems=[
        {"Update": {"TableName": name, "Key": {"pk": {"S": "visits"}}, "UpdateExpression": "ADD n :two",
                    "ExpressionAttributeValues": {":two": {"N": "2"}}}}])
    got = client().get_item(TableName=name, Key={"pk": {"S": "visits"}}, ConsistentRead=True)["Item"]
    assert got["n"] == {"N": "1"}, got
    error("ValidationException", client().transact_write_items, TransactItems=[
        {"Delete": {"TableName": name, "Key": {"pk": {"S": "acct-1"}}}},
        {"ConditionCheck": {"TableName": name, "Key": {"pk": {"S": "acct-1"}}, "ConditionExpression": "attribute_exists(pk)"}}])
    client().delete_table(TableName=name)


# MARK: Protocol details

@test
def protocol_errors_headers_and_crc():
    status, headers, body = raw(ENDPOINTS[0], "ListTables", b"{}")
    assert status == 200 and headers["Content-Type"] == "application/x-amz-json-1.0", headers
    assert int(headers["x-amz-crc32"]) == zlib.crc32(body) and headers["x-amzn-RequestId"], headers
    for target, payload, code in [("PutItem", b"{not json", "SerializationException"),
                                  ("Frobnicate", b"{}", "UnknownOperationException"),
                                  (None, b"{}", "UnknownOperationException"),
                                  ("PutItem", b'{"TableName":"Music-x","Item":{"pk":{"N":123}}}', "SerializationException")]:
        status, headers, body = raw(ENDPOINTS[-1], target, payload)
        answer = json.loads(body)
        assert status == 400 and answer["__type"].endswith("#" + code), (target, status, answer)
        assert int(headers["x-amz-crc32"]) == zlib.crc32(body)


@test
def one_store_two_apis():
    name = table_name("Native")
    status, answer = native(ENDPOINTS[1], "POST", "/tables", {"table_name": name, "partition_key_name": "id"})
    assert status == 201, answer
    status, answer = native(ENDPOINTS[2], "PUT", f"/tables/{name}/items",
                            {"id": "u1", "age": 42, "admin": True, "nick": None, "langs": ["swift"], "addr": {"city": "Oslo"}})
    assert status == 200, answer
    item = client().get_item(TableName=name, Key={"id": {"S": "u1"}}, ConsistentRead=True)["Item"]
    assert item == {"id": {"S": "u1"}, "age": {"N": "42"}, "admin": {"BOOL": True}, "nick": {"NULL": True},
                    "langs": {"L": [{"S": "swift"}]}, "addr": {"M": {"city": {"S": "Oslo"}}}}, item
    client().put_item(TableName=name, Item={"id": {"S": "u2"}, "tags": {"SS": ["b", "a"]}, "raw": {"B": b"\x01\x02"},
                                            "n": {"N": "1.50"}})
    status, answer = native(ENDPOINTS[0], "GET", f"/tables/{name}/items?partition_key=u2&consistency=strong")
    assert status == 200 and answer["item"] == {"id": "u2", "tags": ["a", "b"], "raw": base64.b64encode(b"\x01\x02").decode(),
                                                "n": 1.5}, answer
    described = client().describe_table(TableName=name)["Table"]
    assert described["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    client().delete_table(TableName=name)
    status, _ = native(ENDPOINTS[0], "GET", f"/tables/{name}?consistency=strong")
    assert status == 404


def main():
    started = time.monotonic()
    failed = 0
    for function in TESTS:
        began = time.monotonic()
        try:
            function()
            print(f"ok    {function.__name__} ({time.monotonic() - began:.2f} s)", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL  {function.__name__}", flush=True)
            traceback.print_exc()
    passed = len(TESTS) - failed
    print(f"boto3 {boto3.__version__}: {passed} passed, {failed} failed against {len(ENDPOINTS)} nodes "
          f"in {time.monotonic() - started:.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
