import Foundation
import NoSQL
import RaftLabAPI
import RaftLabNode
import StorageCore

/// A request in DynamoDB's JSON 1.0 protocol: `POST /` with
/// `X-Amz-Target: DynamoDB_20120810.<Operation>` and a JSON body.
public struct DynamoDBRequest: Sendable {
    public var http: SignedRequest
    /// The host the client signed, when it is not this request's Host
    /// header (a write a follower relayed to the leader).
    public var signedHost: String?
    /// True for a request another node relayed: it is never relayed again.
    public var isForwarded: Bool

    public init(http: SignedRequest, signedHost: String? = nil, isForwarded: Bool = false) {
        self.http = http
        self.signedHost = signedHost
        self.isForwarded = isForwarded
    }

    var target: String? { http.values(of: "x-amz-target").first }
}

/// A complete DynamoDB response: status, headers (`Content-Type`,
/// `x-amzn-RequestId`, `x-amz-crc32`) and body.
public struct DynamoDBResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    init(status: Int, json: JSONValue, requestID: String = DynamoDBResponse.newRequestID()) {
        self.status = status
        body = json.canonicalBytes
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-RequestId", requestID),
            ("x-amz-crc32", String(CRC32.checksum(body))),
        ]
    }

    init(_ error: DynamoDBError) {
        self.init(status: error.status, json: error.body)
    }

    /// A DynamoDB-shaped error the HTTP layer answers itself (a body over the
    /// size limit, a leader that cannot be reached).
    public static func error(_ name: String, _ message: String, status: Int) -> DynamoDBResponse {
        DynamoDBResponse(DynamoDBError(name, message, status: status))
    }

    /// 52 characters of A-Z and 0-9, like DynamoDB's request ids.
    static func newRequestID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<52).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }
}

/// What to do with a request: answer it, or relay it to the leader (AWS
/// clients do not follow redirects, so a follower relays instead).
public enum DynamoDBOutcome: Sendable {
    case response(DynamoDBResponse)
    case forward(leaderID: UInt64, address: HostPort)
}

/// DynamoDB's API over a node's `NoSQLService`: decodes a request, runs it
/// as NoSQL commands and reads, and encodes the answer or the error as
/// DynamoDB would. The HTTP layer only moves bytes and headers.
///
/// Writes become one `transactWrite` command each (a single-item write is a
/// transaction of one; BatchWriteItem is one transaction of its requests,
/// so it is all-or-nothing, a stronger promise than DynamoDB's). Reads go
/// to this node's state: `ConsistentRead: true` through ReadIndex, otherwise
/// local. Table metadata (DescribeTable, ListTables) is always read through
/// ReadIndex, so a table created or deleted through any node is seen at once.
public struct DynamoDBHandler<Service: NoSQLService>: Sendable {
    public let service: Service
    let verifier: SigV4Verifier?
    let clock: @Sendable () -> Date

    /// With `accessKeys`, every request must carry a valid Signature Version
    /// 4 for one of them; without, any credentials (or none) are accepted.
    public init(
        service: Service, accessKeys: [ClusterConfig.Auth.AccessKey] = [], clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.service = service
        verifier = accessKeys.isEmpty ? nil : SigV4Verifier(accessKeys: accessKeys.map { ($0.accessKeyID, $0.secretAccessKey) })
        self.clock = clock
    }

    static var targetPrefix: String { "DynamoDB_20120810." }

    /// Largest request body, in bytes (a BatchWriteItem of 25 items at the
    /// 400 KB limit, written in base64, with room to spare).
    public static var maxRequestBytes: Int { 16 << 20 }

    /// Per-request context for the operations.
    struct Context {
        var region: String
        var isForwarded: Bool
    }

    public func handle(_ request: DynamoDBRequest) async -> DynamoDBOutcome {
        do {
            var region = SigV4Verifier.region(of: request.http) ?? "us-east-1"
            if let verifier {
                region = try verifier.verify(request.http, host: request.signedHost, now: clock()).region
            }
            guard let target = request.target else {
                throw DynamoDBError.unknownOperation("The request has no X-Amz-Target header naming the operation")
            }
            guard target.hasPrefix(Self.targetPrefix) else {
                throw DynamoDBError.unknownOperation("Unknown target \(target); DynamoDB targets start with \(Self.targetPrefix)")
            }
            let operation = String(target.dropFirst(Self.targetPrefix.count))
            let json: JSONValue
            do {
                json = try JSONValue.parse(request.http.body.isEmpty ? Array("{}".utf8) : request.http.body, maxDepth: 200)
            } catch {
                throw DynamoDBError.serialization("The request body is not valid JSON: \(error.message)")
            }
            let input = try RequestObject(json)
            let context = Context(region: region, isForwarded: request.isForwarded)
            let output = try await run(operation, input, context)
            return .response(DynamoDBResponse(status: 200, json: output))
        } catch let error as DynamoDBError {
            return .response(DynamoDBResponse(error))
        } catch let error as NoSQLError {
            return .response(DynamoDBResponse(DynamoDBError.from(error)))
        } catch let error as NodeError {
            if case let .notLeader(leaderID, address) = error, !request.isForwarded {
                return .forward(leaderID: leaderID, address: address)
            }
            return .response(DynamoDBResponse(Self.nodeError(error)))
        } catch let error as StorageError {
            return .response(DynamoDBResponse(.internalServerError("storage error: \(error.description)")))
        } catch is CancellationError {
            return .response(DynamoDBResponse(.serviceUnavailable("the request was cancelled; the node may be stopping")))
        } catch {
            return .response(DynamoDBResponse(.internalServerError("internal error: \(error)")))
        }
    }

    static func nodeError(_ error: NodeError) -> DynamoDBError {
        switch error {
        case .notLeader(let id, let address):
            .serviceUnavailable("leadership is moving (node \(id) at \(address) is the leader as far as this node knows); retry")
        case .noLeader: .serviceUnavailable("no leader is elected yet; retry shortly")
        case .shuttingDown: .serviceUnavailable("the node is shutting down")
        case .unavailable(let why): .serviceUnavailable("this node cannot take requests now: \(why)")
        case .timeout: .internalServerError("the request timed out; a write may still take effect")
        case .outcomeUnknown: .internalServerError(error.description)
        case .internal(let message): .internalServerError(message)
        }
    }

    private func run(_ operation: String, _ input: RequestObject, _ context: Context) async throws -> JSONValue {
        switch operation {
        case "CreateTable": return try await createTable(input, context)
        case "DeleteTable": return try await deleteTable(input, context)
        case "DescribeTable": return try await describeTable(input, context)
        case "ListTables": return try await listTables(input)
        case "PutItem": return try await putItem(input)
        case "GetItem": return try await getItem(input)
        case "DeleteItem": return try await deleteItem(input)
        case "UpdateItem": return try await updateItem(input)
        case "Query": return try await query(input)
        case "Scan": return try await scan(input)
        case "BatchGetItem": return try await batchGetItem(input)
        case "BatchWriteItem": return try await batchWriteItem(input)
        case "TransactWriteItems": return try await transactWriteItems(input)
        case "TransactGetItems": return try await transactGetItems(input)
        default:
            throw DynamoDBError.unknownOperation("RaftLab does not implement the DynamoDB operation \(operation)")
        }
    }

    // MARK: Shared plumbing

    /// A table's schema from this node's state; when this node does not know
    /// the table yet (it may lag the leader), asked again through ReadIndex
    /// before answering that it does not exist.
    func table(_ name: String) async throws -> TableInfo {
        try checkTableName(name)
        do {
            return try await service.read(.local) { machine, store in try machine.describeTable(name, in: store) }
        } catch let error as NoSQLError where error.code == .tableNotFound {
            do {
                return try await service.read(.strong) { machine, store in try machine.describeTable(name, in: store) }
            } catch let error as NoSQLError where error.code == .tableNotFound {
                throw DynamoDBError.tableNotFound(name)
            }
        }
    }

    /// Runs a read; a `tableNotFound` from a local read is retried through
    /// ReadIndex, so a table created a moment ago through another node is found.
    func read<T: Sendable>(
        consistent: Bool, _ body: @escaping @Sendable (NoSQLStateMachine, any StateStore) throws -> T
    ) async throws -> T {
        do {
            return try await service.read(consistent ? .strong : .local, body)
        } catch let error as NoSQLError where error.code == .tableNotFound && !consistent {
            return try await service.read(.strong, body)
        }
    }

    func checkTableName(_ name: String) throws(DynamoDBError) {
        do {
            try TableSchema.validate(tableName: name)
        } catch {
            throw .validation("1 validation error detected: Value '\(name)' at 'tableName' failed to satisfy constraint: \(error.message)")
        }
    }

    /// Proposes a write; the request was validated already. With an
    /// idempotency key, a write already applied under that key (within the
    /// node's window of log entries) returns its first result instead.
    func write(_ command: NoSQLCommand, idempotencyKey: String? = nil) async throws -> WriteAck {
        try command.validate(limits: service.limits)
        return try await service.write(command, idempotencyKey: idempotencyKey)
    }

    /// The outcome of a transaction of one: its write, or the DynamoDB error
    /// for a failed condition or update.
    func single(_ write: ItemWrite) async throws -> ItemWriteOutcome {
        do {
            let ack = try await self.write(.transactWrite([write]))
            guard case .transactionWritten(let outcomes) = ack.outcome, let outcome = outcomes.first else {
                throw DynamoDBError.internalServerError("unexpected outcome of a write: \(ack.outcome)")
            }
            return outcome
        } catch let error as NoSQLError where error.code == .transactionCanceled {
            guard let reason = error.cancellationReasons.first else { throw DynamoDBError.from(error) }
            switch reason.code {
            case .conditionalCheckFailed:
                throw DynamoDBError.conditionalCheckFailed(item: reason.item.map(WireFormat.json))
            case .validationError, .none:
                throw DynamoDBError.validation(reason.message ?? error.message)
            }
        }
    }

    /// The key of a request's `Key` map: exactly the table's key attributes,
    /// of the declared types.
    func key(_ map: AttributeMap, _ schema: TableSchema) throws(DynamoDBError) -> ItemKey {
        let mismatch = DynamoDBError.validation("The provided key element does not match the schema")
        guard map.count == (schema.sortKey == nil ? 1 : 2), let partition = map[schema.partitionKey] else { throw mismatch }
        var key: ItemKey
        do {
            key = ItemKey(partition: try KeyAttributeValue(partition, attribute: schema.partitionKey))
            if let sortKey = schema.sortKey {
                guard let sort = map[sortKey] else { throw mismatch }
                key.sort = try KeyAttributeValue(sort, attribute: sortKey)
            }
        } catch let error as DynamoDBError {
            throw error
        } catch {
            throw mismatch
        }
        do {
            try schema.check(key, limits: service.limits)
        } catch {
            // A key of the wrong type does not match the schema; an empty or too long one is its own error.
            if error.code == .keyTooLarge { throw keySizeError(key) }
            throw error.message.contains("empty") ? .validation(error.message) : mismatch
        }
        return key
    }

    /// DynamoDB's own words for a key over its size limit (2,048 bytes for
    /// the partition key, 1,024 for the sort key).
    func keySizeError(_ key: ItemKey) -> DynamoDBError {
        Self.keySizeError(key, limits: service.limits)
    }

    static func keySizeError(_ key: ItemKey, limits: NoSQLLimits) -> DynamoDBError {
        if key.partition.byteSize > limits.maxPartitionKeyBytes {
            return .validation(
                "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of \(limits.maxPartitionKeyBytes) bytes")
        }
        return .validation(
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of \(limits.maxSortKeyBytes) bytes")
    }

    /// Key types (as declared, or S/N for untyped tables) and sizes.
    func checkKey(_ key: ItemKey, _ schema: TableSchema) throws(DynamoDBError) {
        do {
            try schema.check(key, limits: service.limits)
        } catch {
            if error.code == .invalidKeyType && !schema.isTyped {
                throw .validation("The provided key element does not match the schema")
            }
            if error.code == .keyTooLarge { throw keySizeError(key) }
            throw .validation(error.message)
        }
    }

    /// The key of a whole item, with DynamoDB's messages.
    func itemKey(_ item: AttributeMap, _ schema: TableSchema) throws(DynamoDBError) -> ItemKey {
        func value(_ attribute: String) throws(DynamoDBError) -> KeyAttributeValue {
            guard let value = item[attribute] else {
                throw .validation("One or more parameter values were invalid: Missing the key \(attribute) in the item")
            }
            do {
                return try KeyAttributeValue(value, attribute: attribute)
            } catch {
                let expected = (attribute == schema.partitionKey ? schema.partitionKeyType : schema.sortKeyType)?.rawValue ?? "S"
                throw .validation(
                    "One or more parameter values were invalid: Type mismatch for key \(attribute) expected: \(expected) actual: \(value.typeName.rawValue)")
            }
        }
        var key = ItemKey(partition: try value(schema.partitionKey))
        if let sortKey = schema.sortKey { key.sort = try value(sortKey) }
        try checkKey(key, schema)
        return key
    }

    /// An item as it will be stored, within the size limit.
    func item(_ map: AttributeMap) throws(DynamoDBError) -> Item {
        let item = Item(map)
        let size = item.size
        guard size <= service.limits.maxItemBytes else {
            throw .validation("Item size has exceeded the maximum allowed size")
        }
        return item
    }

    /// Parses a write's expressions now, so that a bad one is answered at
    /// once (and never fills the log), and checks every placeholder is used.
    func checkExpressions(_ write: ItemWrite) throws(DynamoDBError) {
        do {
            var usage = ExpressionUsage()
            _ = try write.parsed(usage: &usage)
            try usage.checkAllUsed(write.attributes)
        } catch {
            throw .validation(error.message)
        }
    }

    /// `ReturnValuesOnConditionCheckFailure`: NONE or ALL_OLD.
    func returnOnConditionFailure(_ input: RequestObject) throws(DynamoDBError) -> Bool {
        switch try input.string("ReturnValuesOnConditionCheckFailure") ?? "NONE" {
        case "NONE": return false
        case "ALL_OLD": return true
        case let other:
            throw .validation(
                "1 validation error detected: Value '\(other)' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]")
        }
    }

    /// A projection from `ProjectionExpression` or the legacy `AttributesToGet`.
    func projection(
        _ input: RequestObject, _ attributes: ExpressionAttributes, usage: inout ExpressionUsage
    ) throws(DynamoDBError) -> [DocumentPath]? {
        if let text = try input.string("ProjectionExpression") {
            if input.has("AttributesToGet") {
                throw .validation(
                    "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}")
            }
            do {
                return try ExpressionParser.projection(text, attributes: attributes, usage: &usage)
            } catch {
                throw .validation(error.message)
            }
        }
        if let names = try input.array("AttributesToGet") {
            var paths: [DocumentPath] = []
            for name in names {
                guard case .string(let text) = name else { throw .serialization("AttributesToGet must be a list of strings") }
                paths.append(DocumentPath(attribute: text))
            }
            guard !paths.isEmpty else {
                throw .validation("1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1")
            }
            return paths
        }
        return nil
    }

    func checkUsage(_ usage: ExpressionUsage, _ attributes: ExpressionAttributes) throws(DynamoDBError) {
        do {
            try usage.checkAllUsed(attributes)
        } catch {
            throw .validation(error.message)
        }
    }

    static func object(_ members: [(String, JSONValue)]) -> JSONValue {
        .object((try? JSONObject(members)) ?? JSONObject())
    }
}
