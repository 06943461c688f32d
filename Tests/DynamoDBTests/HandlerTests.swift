import DynamoDBAPI
import Foundation
import NoSQL
import RaftLabAPI
import RaftLabNode
import RaftLabTestSupport
import StorageCore
import Testing

/// A DynamoDB answer: status, parsed body, headers.
struct Answer {
    var status: Int
    var json: JSONValue
    var headers: [(name: String, value: String)]

    var errorName: String? {
        guard case .string(let type)? = json["__type"] else { return nil }
        return type.split(separator: "#").last.map(String.init)
    }

    var message: String { json["message"]?.stringValue ?? "" }

    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
}

enum Call {
    static func request(_ operation: String?, _ body: String, headers: [(name: String, value: String)] = [], forwarded: Bool = false)
        -> DynamoDBRequest
    {
        var all = headers + [("Host", "127.0.0.1:8100"), ("Content-Type", "application/x-amz-json-1.0")]
        if let operation { all.append(("X-Amz-Target", "DynamoDB_20120810.\(operation)")) }
        return DynamoDBRequest(
            http: SignedRequest(method: "POST", path: "/", query: "", headers: all, body: Array(body.utf8)), isForwarded: forwarded)
    }

    /// Runs one request; a `.forward` outcome is recorded as status 307 with the leader in the body.
    static func run<S: NoSQLService>(_ handler: DynamoDBHandler<S>, _ request: DynamoDBRequest) async -> Answer {
        switch await handler.handle(request) {
        case .response(let response):
            let json = (try? JSONValue.parse(response.body, maxDepth: 256)) ?? .string("<not JSON: \(String(decoding: response.body, as: UTF8.self))>")
            return Answer(status: response.status, json: json, headers: response.headers)
        case let .forward(leaderID, address):
            return Answer(status: 307, json: ["leader": .string("\(leaderID)@\(address)")], headers: [])
        }
    }

    static func run<S: NoSQLService>(_ handler: DynamoDBHandler<S>, _ operation: String, _ body: String) async -> Answer {
        await run(handler, request(operation, body))
    }
}

@Suite("DynamoDB handler over a one-node service")
struct HandlerTests {
    static let createMusic = #"""
        {"TableName":"Music","BillingMode":"PAY_PER_REQUEST",
         "KeySchema":[{"AttributeName":"Artist","KeyType":"HASH"},{"AttributeName":"SongTitle","KeyType":"RANGE"}],
         "AttributeDefinitions":[{"AttributeName":"Artist","AttributeType":"S"},{"AttributeName":"SongTitle","AttributeType":"S"}]}
        """#

    func handler(_ mode: InMemoryService.Mode = .leader) throws -> (DynamoDBHandler<InMemoryService>, InMemoryService) {
        let service = try InMemoryService(mode: mode)
        return (DynamoDBHandler(service: service), service)
    }

    @Test("responses carry DynamoDB's content type, a request id and the CRC-32 of the body")
    func headers() async throws {
        let (handler, _) = try handler()
        let answer = await Call.run(handler, "ListTables", "{}")
        #expect(answer.status == 200)
        #expect(answer.header("Content-Type") == "application/x-amz-json-1.0")
        #expect(answer.header("x-amzn-RequestId")?.count == 52)
        #expect(answer.header("x-amz-crc32") == String(CRC32.checksum(answer.json.canonicalBytes)))
        #expect(answer.json == ["TableNames": []])
    }

    @Test("tables and items with every type round-trip; numbers come back exact and plain")
    func roundTrip() async throws {
        let (handler, _) = try handler()
        let created = await Call.run(handler, "CreateTable", Self.createMusic)
        #expect(created.status == 200)
        #expect(created.json["TableDescription"]?["TableStatus"] == "ACTIVE")
        let item = #"""
            {"Artist":{"S":"Queen"},"SongTitle":{"S":"Bohemian Rhapsody"},"Year":{"N":"1975.0"},"Big":{"N":"12345678901234567890123456789012345678"},
             "Small":{"N":"-1.5E-7"},"Tags":{"SS":["rock","classic"]},"Scores":{"NS":["10","1e1","2"]},"Blob":{"B":"AP8="},"Blobs":{"BS":["AQ==","AA=="]},
             "Meta":{"M":{"live":{"BOOL":false},"x":{"NULL":true},"l":{"L":[{"S":"a"},{"N":"1"}]}}}}
            """#
        // A set with duplicates is refused ("10" and "1e1" are the same number).
        let duplicate = await Call.run(handler, "PutItem", #"{"TableName":"Music","Item":\#(item)}"#)
        #expect(duplicate.errorName == "ValidationException" && duplicate.message.contains("contains duplicates"))
        let fixed = item.replacingOccurrences(of: #""1e1","#, with: "")
        #expect(await Call.run(handler, "PutItem", #"{"TableName":"Music","Item":\#(fixed)}"#).status == 200)
        let got = await Call.run(
            handler, "GetItem", #"{"TableName":"Music","Key":{"Artist":{"S":"Queen"},"SongTitle":{"S":"Bohemian Rhapsody"}},"ConsistentRead":true}"#)
        let stored = got.json["Item"]
        #expect(stored?["Year"] == ["N": "1975"])
        #expect(stored?["Big"] == ["N": "12345678901234567890123456789012345678"])
        #expect(stored?["Small"] == ["N": "-0.00000015"])
        #expect(stored?["Tags"] == ["SS": ["classic", "rock"]])
        #expect(stored?["Scores"] == ["NS": ["2", "10"]])
        #expect(stored?["Blob"] == ["B": "AP8="])
        #expect(stored?["Blobs"] == ["BS": ["AA==", "AQ=="]])
        #expect(stored?["Meta"]?["M"]?["l"] == ["L": [["S": "a"], ["N": "1"]]])
        let described = await Call.run(handler, "DescribeTable", #"{"TableName":"Music"}"#)
        #expect(described.json["Table"]?["ItemCount"] == 1)
        #expect(described.json["Table"]?["KeySchema"] == [["AttributeName": "Artist", "KeyType": "HASH"], ["AttributeName": "SongTitle", "KeyType": "RANGE"]])
    }

    @Test("errors have DynamoDB's names, statuses and extra members")
    func errors() async throws {
        let (handler, _) = try handler()
        _ = await Call.run(handler, "CreateTable", Self.createMusic)
        let put = #"{"TableName":"Music","Item":{"Artist":{"S":"A"},"SongTitle":{"S":"B"},"n":{"N":"1"}}}"#
        #expect(await Call.run(handler, "PutItem", put).status == 200)
        func expect(_ operation: String?, _ body: String, _ name: String, _ text: String = "", sourceLocation: SourceLocation = #_sourceLocation) async {
            let answer = await Call.run(handler, Call.request(operation, body))
            #expect(answer.status == 400, sourceLocation: sourceLocation)
            #expect(answer.errorName == name, "\(answer.json)", sourceLocation: sourceLocation)
            #expect(text.isEmpty || answer.message.contains(text), "\(answer.message)", sourceLocation: sourceLocation)
            if case .string(let type)? = answer.json["__type"] { #expect(type.contains("#"), sourceLocation: sourceLocation) }
        }
        await expect("CreateTable", Self.createMusic, "ResourceInUseException", "Table already exists: Music")
        await expect("DescribeTable", #"{"TableName":"Nope"}"#, "ResourceNotFoundException")
        await expect("GetItem", #"{"TableName":"Nope","Key":{"a":{"S":"b"}}}"#, "ResourceNotFoundException")
        await expect("Frobnicate", "{}", "UnknownOperationException")
        await expect(nil, "{}", "UnknownOperationException")
        await expect("PutItem", "{not json", "SerializationException")
        await expect("PutItem", "[]", "SerializationException")
        await expect("PutItem", #"{"TableName":"Music","Item":{"Artist":{"S":"A"},"SongTitle":{"S":"B"},"n":{"N":123}}}"#, "SerializationException")
        await expect("PutItem", #"{"TableName":"Music","Item":{"Artist":{"S":"A"},"SongTitle":{"S":"B"},"n":{"N":"dog"}}}"#, "ValidationException", "cannot be converted to a numeric value")
        await expect("PutItem", #"{"TableName":"Music","Item":{"Artist":{"N":"1"},"SongTitle":{"S":"B"}}}"#, "ValidationException", "Type mismatch for key Artist expected: S actual: N")
        await expect("PutItem", #"{"TableName":"Music","Item":{"SongTitle":{"S":"B"}}}"#, "ValidationException", "Missing the key Artist in the item")
        await expect("PutItem", #"{"TableName":"Music","Item":{"Artist":{"S":"A"},"SongTitle":{"S":"B"},"s":{"SS":[]}}}"#, "ValidationException", "may not be empty")
        await expect("PutItem", #"{"TableName":"Music","Item":{"Artist":{"S":"A"},"SongTitle":{"S":"B"},"x":{"S":"a","N":"1"}}}"#, "ValidationException", "more than one datatypes")
        await expect("PutItem", #"{"TableName":"Music","Item":{"Artist":{"S":""},"SongTitle":{"S":"B"}}}"#, "ValidationException", "empty string")
        await expect("GetItem", #"{"TableName":"Music","Key":{"Artist":{"S":"A"}}}"#, "ValidationException", "The provided key element does not match the schema")
        await expect("PutItem", #"{"TableName":"Music","Item":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}},"ConditionExpression":"attribute_not_exists(Artist)"}"#, "ConditionalCheckFailedException")
        await expect("PutItem", #"{"TableName":"Music","Item":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}},"ConditionExpression":"Year = :y","ExpressionAttributeValues":{":y":{"N":"1"}}}"#, "ValidationException", "reserved keyword: Year")
        await expect("PutItem", #"{"TableName":"Music","Item":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}},"ExpressionAttributeValues":{":y":{"N":"1"}}}"#, "ValidationException", "unused in expressions")
        await expect("UpdateItem", #"{"TableName":"Music","Key":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}},"UpdateExpression":"SET n = n + :s","ExpressionAttributeValues":{":s":{"S":"x"}}}"#, "ValidationException", "operand type: STRING")
        await expect("UpdateItem", #"{"TableName":"Music","Key":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}},"UpdateExpression":"SET m = Artist + :one","ExpressionAttributeValues":{":one":{"N":"1"}}}"#, "ValidationException", "incorrect data type")
        await expect("Query", #"{"TableName":"Music","KeyConditionExpression":"SongTitle = :t","ExpressionAttributeValues":{":t":{"S":"B"}}}"#, "ValidationException", "Query condition missed key schema element: Artist")
        await expect("Query", #"{"TableName":"Music","IndexName":"ByYear","KeyConditionExpression":"Artist = :a","ExpressionAttributeValues":{":a":{"S":"A"}}}"#, "ValidationException", "index")
        await expect("Scan", #"{"TableName":"Music","Segment":1}"#, "ValidationException", "TotalSegments")
        await expect("CreateTable", #"{"TableName":"Other","BillingMode":"PAY_PER_REQUEST","KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],"GlobalSecondaryIndexes":[]}"#, "ValidationException", "secondary indexes")

        // The failed condition returns the old item when asked.
        let failed = await Call.run(
            handler, "DeleteItem",
            #"{"TableName":"Music","Key":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}},"ConditionExpression":"n > :ten","ExpressionAttributeValues":{":ten":{"N":"10"}},"ReturnValuesOnConditionCheckFailure":"ALL_OLD"}"#)
        #expect(failed.errorName == "ConditionalCheckFailedException")
        #expect(failed.json["Item"]?["n"] == ["N": "1"])
        // A cancelled transaction lists a reason per item.
        let cancelled = await Call.run(
            handler, "TransactWriteItems",
            #"{"TransactItems":[{"Put":{"TableName":"Music","Item":{"Artist":{"S":"T"},"SongTitle":{"S":"1"}}}},{"ConditionCheck":{"TableName":"Music","Key":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}},"ConditionExpression":"attribute_not_exists(Artist)"}}]}"#)
        #expect(cancelled.errorName == "TransactionCanceledException")
        #expect(cancelled.json["CancellationReasons"]?.arrayValue?.compactMap { $0["Code"]?.stringValue } == ["None", "ConditionalCheckFailed"])
    }

    @Test("a follower relays to the leader; a relayed request is not relayed again; node trouble is 5xx")
    func nodeStates() async throws {
        let leader = HostPort(host: "127.0.0.1", port: 8100)
        let (follower, _) = try handler(.follower(leaderID: 1, leaderHTTPAddress: leader))
        _ = await Call.run(try handler().0, "ListTables", "{}")
        let relayed = await Call.run(follower, Call.request("CreateTable", Self.createMusic))
        #expect(relayed.status == 307 && relayed.json["leader"] == "1@127.0.0.1:8100")
        let twice = await Call.run(follower, Call.request("CreateTable", Self.createMusic, forwarded: true))
        #expect(twice.status == 503 && twice.errorName == "ServiceUnavailable")
        // Local reads stay on the follower.
        #expect(await Call.run(follower, "ListTables", "{}").status == 307)  // metadata is read through ReadIndex
        let (leaderless, _) = try handler(.leaderless)
        #expect(await Call.run(leaderless, "CreateTable", Self.createMusic).status == 503)
        let (broken, _) = try handler(.broken)
        let failure = await Call.run(broken, "ListTables", "{}")
        #expect(failure.status == 500 && failure.errorName == "InternalServerError")
        let (slow, _) = try handler(.timingOut)
        #expect(await Call.run(slow, "CreateTable", Self.createMusic).errorName == "InternalServerError")
    }

    @Test("one store, two APIs: native JSON items read as DynamoDB types and back")
    func nativeInterop() async throws {
        let (handler, service) = try handler()
        _ = try await service.write(.createTable(TableSchema(name: "Users", partitionKey: "id")))
        _ = try await service.write(
            .putItem(table: "Users", item: try JSONValue.parse(#"{"id":"u1","age":42,"admin":true,"nick":null,"langs":["swift","go"],"address":{"city":"Oslo"}}"#), expectedVersion: nil))
        let got = await Call.run(handler, "GetItem", #"{"TableName":"Users","Key":{"id":{"S":"u1"}}}"#)
        #expect(got.json["Item"] == [
            "id": ["S": "u1"], "age": ["N": "42"], "admin": ["BOOL": true], "nick": ["NULL": true],
            "langs": ["L": [["S": "swift"], ["S": "go"]]], "address": ["M": ["city": ["S": "Oslo"]]],
        ])
        // An untyped native table is described with S keys and accepts number keys from both sides.
        let described = await Call.run(handler, "DescribeTable", #"{"TableName":"Users"}"#)
        #expect(described.json["Table"]?["AttributeDefinitions"] == [["AttributeName": "id", "AttributeType": "S"]])
        #expect(await Call.run(handler, "PutItem", #"{"TableName":"Users","Item":{"id":{"N":"7"},"tags":{"SS":["a","b"]},"raw":{"B":"AQI="}}}"#).status == 200)
        let native = try await service.read(.local) { machine, store in
            try machine.getItem(table: "Users", key: ItemKey(partition: .number(JSONNumber(7))), in: store)
        }
        #expect(native.item == (try JSONValue.parse(#"{"id":7,"raw":"AQI=","tags":["a","b"]}"#)))
    }

    @Test("a transaction's ClientRequestToken becomes its idempotency key (the node checks the request behind it)")
    func clientRequestToken() async throws {
        let (handler, service) = try handler()
        _ = await Call.run(handler, "CreateTable", Self.createMusic)
        func transact(_ title: String, token: String?) async -> String? {
            let tokenMember = token.map { #","ClientRequestToken":"\#($0)""# } ?? ""
            let answer = await Call.run(
                handler, "TransactWriteItems",
                #"{"TransactItems":[{"Put":{"TableName":"Music","Item":{"Artist":{"S":"A"},"SongTitle":{"S":"\#(title)"}}}}]\#(tokenMember)}"#)
            #expect(answer.status == 200, "\(answer.json)")
            return service.lastIdempotencyKey
        }
        let first = await transact("x", token: "token-1")
        #expect(first == "dynamodb-transaction:token-1")
        #expect(await transact("x", token: "token-1") == first)
        #expect(await transact("y", token: "token-2") == "dynamodb-transaction:token-2")
        #expect(await transact("x", token: nil) == nil)
        let tooLong = await Call.run(
            handler, "TransactWriteItems",
            #"{"ClientRequestToken":"\#(String(repeating: "t", count: 37))","TransactItems":[{"Delete":{"TableName":"Music","Key":{"Artist":{"S":"A"},"SongTitle":{"S":"x"}}}}]}"#)
        #expect(tooLong.errorName == "ValidationException")
    }

    /// Found by `raftlab fuzz` (any seed probing long keys): the refusal was a
    /// ValidationException in RaftLab's words; DynamoDB's are the contract.
    @Test("keys over the size limits are refused in DynamoDB's words")
    func keySizeLimitsInDynamoDBsWords() async throws {
        let (handler, _) = try handler()
        #expect(await Call.run(handler, "CreateTable", Self.createMusic).status == 200)
        let longPartition = String(repeating: "a", count: 2049)
        let longSort = String(repeating: "\u{e9}", count: 513)
        for (operation, body, expected) in [
            ("PutItem", #"{"TableName":"Music","Item":{"Artist":{"S":"\#(longPartition)"},"SongTitle":{"S":"x"}}}"#,
             "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes"),
            ("GetItem", #"{"TableName":"Music","Key":{"Artist":{"S":"\#(longPartition)"},"SongTitle":{"S":"x"}}}"#,
             "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes"),
            ("PutItem", #"{"TableName":"Music","Item":{"Artist":{"S":"a"},"SongTitle":{"S":"\#(longSort)"}}}"#,
             "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"),
            ("DeleteItem", #"{"TableName":"Music","Key":{"Artist":{"S":"a"},"SongTitle":{"S":"\#(longSort)"}}}"#,
             "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"),
        ] {
            let answer = await Call.run(handler, operation, body)
            #expect(answer.status == 400 && answer.errorName == "ValidationException", "\(operation): \(answer.json)")
            #expect(answer.message == expected, "\(operation)")
        }
        // At the limits, the same keys are fine.
        let atLimit = #"{"TableName":"Music","Item":{"Artist":{"S":"\#(String(repeating: "a", count: 2048))"},"SongTitle":{"S":"\#(String(repeating: "\u{e9}", count: 512))"}}}"#
        #expect(await Call.run(handler, "PutItem", atLimit).status == 200)
    }

    @Test("with access keys, an unsigned request is refused before anything else")
    func authentication() async throws {
        let service = try InMemoryService()
        let handler = DynamoDBHandler(service: service, accessKeys: [.init(accessKeyID: "AKID", secretAccessKey: "secret")])
        let answer = await Call.run(handler, "ListTables", "{}")
        #expect(answer.status == 400 && answer.errorName == "MissingAuthenticationTokenException")
        #expect(answer.json["__type"] == "com.amazon.coral.service#MissingAuthenticationTokenException")
    }
}
