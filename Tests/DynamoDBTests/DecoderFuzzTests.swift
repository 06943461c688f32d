import Raft
import DynamoDBAPI
import Foundation
import NoSQL
import RaftLabTestSupport
import Testing

/// A seeded fuzz test of the request decoder: valid requests of every
/// operation, mangled byte-wise and structurally, with random targets. Every
/// request must end in a well-formed DynamoDB answer (200, or a 4xx with an
/// error name), never a trap and never a 5xx (the one-node service is healthy,
/// so a 5xx would be a bug). Replay a failure with its seed and round. CI
/// runs 1,500 rounds per seed; a longer run is one command:
///
///     RAFTLAB_FUZZ_ROUNDS=200000 scripts/test.sh --filter DecoderFuzz
@Suite("DynamoDB request decoder fuzz")
struct DecoderFuzzTests {
    static let seeds: [String: [String]] = [
        "CreateTable": [HandlerTests.createMusic,
            #"{"TableName":"Nums","KeySchema":[{"AttributeName":"n","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"n","AttributeType":"N"}],"ProvisionedThroughput":{"ReadCapacityUnits":1,"WriteCapacityUnits":1}}"#],
        "PutItem": [#"{"TableName":"Music","Item":{"Artist":{"S":"A"},"SongTitle":{"S":"B"},"n":{"N":"1"},"s":{"SS":["x"]},"m":{"M":{"l":{"L":[{"B":"AA=="},{"NULL":true},{"BOOL":false}]}}}},"ConditionExpression":"attribute_not_exists(Artist) OR n < :v","ExpressionAttributeValues":{":v":{"N":"5"}},"ReturnValues":"ALL_OLD"}"#],
        "GetItem": [##"{"TableName":"Music","Key":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}},"ProjectionExpression":"#n, m.l[0]","ExpressionAttributeNames":{"#n":"n"},"ConsistentRead":true}"##],
        "UpdateItem": [#"{"TableName":"Music","Key":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}},"UpdateExpression":"SET n = if_not_exists(n, :z) + :one, l = list_append(:l, :l) REMOVE x ADD s :s DELETE t :s","ExpressionAttributeValues":{":z":{"N":"0"},":one":{"N":"1"},":l":{"L":[]},":s":{"SS":["q"]}},"ReturnValues":"UPDATED_NEW"}"#],
        "DeleteItem": [#"{"TableName":"Music","Key":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}},"ConditionExpression":"size(s) BETWEEN :a AND :b","ExpressionAttributeValues":{":a":{"N":"0"},":b":{"N":"9"}}}"#],
        "Query": [#"{"TableName":"Music","KeyConditionExpression":"Artist = :a AND begins_with(SongTitle, :p)","FilterExpression":"contains(s, :x) OR n IN (:a1, :a2)","ExpressionAttributeValues":{":a":{"S":"A"},":p":{"S":"B"},":x":{"S":"x"},":a1":{"N":"1"},":a2":{"N":"2"}},"ScanIndexForward":false,"Limit":2,"ExclusiveStartKey":{"Artist":{"S":"A"},"SongTitle":{"S":"C"}}}"#,
            #"{"TableName":"Music","KeyConditions":{"Artist":{"ComparisonOperator":"EQ","AttributeValueList":[{"S":"A"}]},"SongTitle":{"ComparisonOperator":"BETWEEN","AttributeValueList":[{"S":"A"},{"S":"Z"}]}},"Select":"COUNT"}"#],
        "Scan": [#"{"TableName":"Music","Segment":0,"TotalSegments":2,"Limit":3,"FilterExpression":"attribute_type(n, :t)","ExpressionAttributeValues":{":t":{"S":"N"}}}"#],
        "BatchWriteItem": [#"{"RequestItems":{"Music":[{"PutRequest":{"Item":{"Artist":{"S":"X"},"SongTitle":{"S":"1"}}}},{"DeleteRequest":{"Key":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}}}}]}}"#],
        "BatchGetItem": [#"{"RequestItems":{"Music":{"Keys":[{"Artist":{"S":"X"},"SongTitle":{"S":"1"}},{"Artist":{"S":"A"},"SongTitle":{"S":"B"}}],"ConsistentRead":true}}}"#],
        "TransactWriteItems": [#"{"TransactItems":[{"Put":{"TableName":"Music","Item":{"Artist":{"S":"T"},"SongTitle":{"S":"1"}}}},{"Update":{"TableName":"Music","Key":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}},"UpdateExpression":"SET n = :v","ExpressionAttributeValues":{":v":{"N":"3"}}}},{"ConditionCheck":{"TableName":"Music","Key":{"Artist":{"S":"X"},"SongTitle":{"S":"1"}},"ConditionExpression":"attribute_exists(Artist)"}}]}"#],
        "TransactGetItems": [#"{"TransactItems":[{"Get":{"TableName":"Music","Key":{"Artist":{"S":"A"},"SongTitle":{"S":"B"}}}}]}"#],
        "ListTables": [#"{"Limit":1,"ExclusiveStartTableName":"Mu"}"#],
        "DescribeTable": [#"{"TableName":"Music"}"#],
        "DeleteTable": [#"{"TableName":"Nums"}"#],
    ]

    /// JSON fragments spliced into requests: wrong types, odd values, deep nesting.
    static let fragments: [String] = [
        "null", "true", "-0", "1e999999999", "\"\"", "[]", "{}", #"{"S":1}"#, #"{"N":"1e126"}"#, #"{"NS":["1","01"]}"#,
        #"{"B":"@@"}"#, #"{"L":[{"M":{}}]}"#, #"{"NULL":false}"#, #"":x"#, ##""#!"##, #""\ud800""#,
        String(repeating: #"{"L":["#, count: 40) + #"{"S":"deep"}"# + String(repeating: "]}", count: 40),
        #"{"M":{"a":{"M":{"b":{"SS":["x","x"]}}}}}"#, "\"SET a = :a + :a + :a\"", "\"#a.#b[99999999999]\"", "\"\\u0000\"",
    ]

    @Test("mangled requests always get a DynamoDB answer", arguments: [UInt64(0x0D15_EA5E), 0xFEED_FACE])
    func fuzz(seed: UInt64) async throws {
        let service = try InMemoryService()
        let handler = DynamoDBHandler(service: service)
        _ = await Call.run(handler, "CreateTable", HandlerTests.createMusic)
        var random = SplitMix64(seed: seed)
        let operations = Self.seeds.keys.sorted()
        var statuses: [Int: Int] = [:]
        let rounds = ProcessInfo.processInfo.environment["RAFTLAB_FUZZ_ROUNDS"].flatMap(Int.init) ?? 1500
        for round in 0..<rounds {
            var operation = operations.randomElement(using: &random)!
            var body = Array(Self.seeds[operation]!.randomElement(using: &random)!.utf8)
            switch Int.random(in: 0..<6, using: &random) {
            case 0:  // flip bytes
                for _ in 0..<Int.random(in: 1...6, using: &random) {
                    body[Int.random(in: 0..<body.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            case 1:  // truncate
                body = Array(body.prefix(Int.random(in: 0..<body.count, using: &random)))
            case 2, 3:  // replace a JSON value (after a ':' or '[') with a fragment
                let positions = body.indices.filter { body[$0] == UInt8(ascii: ":") || body[$0] == UInt8(ascii: "[") }
                if let at = positions.randomElement(using: &random) {
                    let fragment = Array(Self.fragments.randomElement(using: &random)!.utf8)
                    let end = min(body.count, at + 1 + Int.random(in: 0...12, using: &random))
                    body.replaceSubrange((at + 1)..<end, with: fragment)
                }
            case 4:  // another operation's body
                operation = operations.randomElement(using: &random)!
            default:  // unchanged: the valid request itself
                break
            }
            let target: String? = Int.random(in: 0..<50, using: &random) == 0 ? nil : operation
            let request = Call.request(target, String(decoding: body, as: UTF8.self))
            let answer = await Call.run(handler, request)
            statuses[answer.status, default: 0] += 1
            #expect(answer.status == 200 || answer.status == 400, "seed \(seed) round \(round): \(operation) \(answer.status) \(answer.json)")
            if answer.status != 200 {
                #expect(answer.errorName != nil, "seed \(seed) round \(round): an error without __type: \(answer.json)")
            }
            if case .string(let text) = answer.json, text.hasPrefix("<not JSON") {
                Issue.record("seed \(seed) round \(round): the answer is not JSON")
            }
        }
        // Both successes and refusals happened, so the fuzzing reached past the decoder.
        #expect(statuses[200, default: 0] > 50 && statuses[400, default: 0] > 500, "\(statuses)")
    }
}

/// Fuzz rounds replay exactly from the project's one seeded generator.
typealias SplitMix64 = Raft.SplitMix64
