/// Seeded, structure-aware generator of DynamoDB and native API requests.
///
/// Mostly well-formed requests, each probing at most one limit (a key at,
/// just below or just past its size, an item at 400 KB, nesting at 32, a
/// number at 38 digits or at an exponent's edge, a name at 3 or 255
/// characters, an expression at 4 KB, an empty or invalid value, a wrong
/// type), and some malformed ones. The generator never sees an answer: the
/// same seed gives the same requests, whatever the cluster does.
public struct RequestGenerator: Sendable {
    public let seed: UInt64
    var random: FuzzRandom
    /// Tables the generator created (baseline first, never deleted).
    public internal(set) var tables: [FuzzTable]
    var extraTables: [FuzzTable] = []
    /// Recent native Idempotency-Keys and DynamoDB ClientRequestTokens, for reuse.
    var idempotencyKeys: [String] = []
    var requestTokens: [String] = []
    var counter = 0
    /// Share of requests that probe a limit or a malformation (the rest are ordinary).
    public var probeShare: Double = 0.55

    public static let baseline: [FuzzTable] = [
        FuzzTable(name: "fz_s", api: .dynamo, partitionKey: "pk", partitionType: "S"),
        FuzzTable(name: "fz_sn", api: .dynamo, partitionKey: "pk", partitionType: "S", sortKey: "sk", sortType: "N"),
        FuzzTable(name: "fz_bb", api: .dynamo, partitionKey: "pk", partitionType: "B", sortKey: "sk", sortType: "B"),
        FuzzTable(name: "fz_ns", api: .dynamo, partitionKey: "pk", partitionType: "N", sortKey: "sk", sortType: "S"),
        FuzzTable(name: "fzn_p", api: .native, partitionKey: "id", partitionType: "S"),
        FuzzTable(name: "fzn_ps", api: .native, partitionKey: "id", partitionType: "S", sortKey: "sk", sortType: "S"),
    ]

    public init(seed: UInt64) {
        self.seed = seed
        random = FuzzRandom(seed: seed)
        tables = Self.baseline
    }

    /// The requests of batch `number` (the first batch starts by creating the baseline tables).
    public mutating func batch(_ number: Int, size: Int) -> [FuzzRequest] {
        var requests: [FuzzRequest] = []
        if number == 0 {
            for table in Self.baseline {
                requests.append(table.api == .dynamo ? createTableRequest(table, probe: "baseline") : nativeCreateRequest(table, probe: "baseline"))
            }
        }
        while requests.count < size { requests.append(next()) }
        return requests
    }

    /// One request.
    public mutating func next() -> FuzzRequest {
        counter += 1
        let probing = random.chance(probeShare)
        if random.chance(0.65) {
            let operation = random.weighted([
                (14, "PutItem"), (8, "GetItem"), (12, "UpdateItem"), (6, "DeleteItem"), (8, "Query"), (4, "Scan"),
                (5, "BatchWriteItem"), (6, "TransactWriteItems"), (2, "BatchGetItem"), (1, "TransactGetItems"),
                (3, "CreateTable"), (2, "DescribeTable"), (1, "DeleteTable"), (1, "ListTables"), (4, "malformed"),
            ])
            return dynamoRequest(operation, probing: probing)
        }
        let operation = random.weighted([
            (2, "create_table"), (12, "put_item"), (6, "get_item"), (4, "delete_item"), (5, "query"), (2, "rollback"),
            (1, "delete_table"), (3, "malformed"),
        ])
        return nativeRequest(operation, probing: probing)
    }

    // MARK: Tables

    mutating func dynamoTable() -> FuzzTable {
        let candidates = tables.filter { $0.api == .dynamo }
        return random.pick(candidates)
    }

    mutating func nativeTable() -> FuzzTable {
        let candidates = tables.filter { $0.api == .native }
        return random.pick(candidates)
    }

    mutating func pickNode() -> Int { random.int(0...255) }
}
