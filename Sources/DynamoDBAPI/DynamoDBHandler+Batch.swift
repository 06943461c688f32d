import NoSQL
import StorageCore

/// BatchGetItem, BatchWriteItem, TransactWriteItems, TransactGetItems.
extension DynamoDBHandler {
    func batchGetItem(_ input: RequestObject) async throws -> JSONValue {
        guard let request = try input.object("RequestItems"), !request.object.isEmpty else {
            throw DynamoDBError.validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
        }
        var responses: [(String, JSONValue)] = []
        var total = 0
        for member in request.object.members {
            let tableName = member.key
            let entry = try RequestObject(member.value, path: "RequestItems.\(tableName)")
            let table = try await table(tableName)
            let keyMaps = try entry.array("Keys") ?? []
            guard !keyMaps.isEmpty else {
                throw DynamoDBError.validation("1 validation error detected: Value at 'requestItems.\(tableName).member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1")
            }
            var keys: [ItemKey] = []
            for keyMap in keyMaps {
                let key = try key(try WireFormat.attributeMap(keyMap, what: "Keys"), table.schema)
                guard !keys.contains(key) else { throw DynamoDBError.validation("Provided list of item keys contains duplicates") }
                keys.append(key)
            }
            total += keys.count
            guard total <= 100 else {
                throw DynamoDBError.validation("Too many items requested for the BatchGetItem call")
            }
            let attributes = try entry.expressionAttributes()
            var usage = ExpressionUsage()
            let projection = try projection(entry, attributes, usage: &usage)
            try checkUsage(usage, attributes)
            let consistent = try entry.bool("ConsistentRead") ?? false
            let requested = keys
            let found = try await read(consistent: consistent) { machine, store in
                try requested.compactMap { try machine.findItem(table: tableName, key: $0, in: store) }
            }
            responses.append((tableName, .array(found.map { Self.render($0.content, projection) })))
        }
        return Self.object([("Responses", Self.object(responses)), ("UnprocessedKeys", Self.object([]))])
    }

    /// Applied as one transaction of its puts and deletes: all or nothing,
    /// so `UnprocessedItems` is always empty.
    func batchWriteItem(_ input: RequestObject) async throws -> JSONValue {
        guard let request = try input.object("RequestItems"), !request.object.isEmpty else {
            throw DynamoDBError.validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
        }
        var writes: [ItemWrite] = []
        var seen: Set<Bytes> = []
        for member in request.object.members {
            let tableName = member.key
            let table = try await table(tableName)
            guard case .array(let requests) = member.value, !requests.isEmpty else {
                throw DynamoDBError.validation("1 validation error detected: Value at 'requestItems.\(tableName).member' failed to satisfy constraint: Member must have length greater than or equal to 1")
            }
            for (offset, element) in requests.enumerated() {
                let entry = try RequestObject(element, path: "RequestItems.\(tableName).\(offset + 1)")
                let put = try entry.object("PutRequest")
                let delete = try entry.object("DeleteRequest")
                let write: ItemWrite
                let key: ItemKey
                switch (put, delete) {
                case let (put?, nil):
                    guard let map = try put.attributeMap("Item") else {
                        throw DynamoDBError.validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
                    }
                    key = try itemKey(map, table.schema)
                    write = ItemWrite(table: tableName, action: .put(try item(map)))
                case let (nil, delete?):
                    guard let map = try delete.attributeMap("Key") else {
                        throw DynamoDBError.validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
                    }
                    key = try self.key(map, table.schema)
                    write = ItemWrite(table: tableName, action: .delete(key: key))
                default:
                    throw DynamoDBError.validation("Supplied AttributeValue has more than one or no write request set (PutRequest or DeleteRequest)")
                }
                guard seen.insert(Self.identity(tableName, key)).inserted else {
                    throw DynamoDBError.validation("Provided list of item keys contains duplicates")
                }
                writes.append(write)
            }
        }
        guard writes.count <= 25 else {
            throw DynamoDBError.validation(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]")
        }
        do {
            _ = try await write(.transactWrite(writes))
        } catch let error as NoSQLError where error.code == .transactionCanceled {
            throw DynamoDBError.validation(error.cancellationReasons.compactMap(\.message).first ?? error.message)
        }
        return Self.object([("UnprocessedItems", Self.object([]))])
    }

    /// One Raft entry, applied atomically with per-item conditions. A
    /// `ClientRequestToken` makes it idempotent through the node's exactly-once
    /// writes: the key is the token and a digest of the request, so a retry
    /// of the same request (the SDKs resend the token they generated) is not
    /// applied twice, and a different request under the same token is a
    /// new transaction rather than DynamoDB's IdempotentParameterMismatchException.
    func transactWriteItems(_ input: RequestObject) async throws -> JSONValue {
        guard let items = try input.array("TransactItems"), (1...NoSQLCommand.maxTransactionWrites).contains(items.count) else {
            throw DynamoDBError.validation(
                "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1")
        }
        var writes: [ItemWrite] = []
        var seen: Set<Bytes> = []
        for (offset, element) in items.enumerated() {
            let entry = try RequestObject(element, path: "TransactItems.\(offset + 1)")
            let actions = ["ConditionCheck", "Put", "Delete", "Update"].filter { entry.has($0) }
            guard actions.count == 1, let action = actions.first, let body = try entry.object(action) else {
                throw DynamoDBError.validation("TransactItems can only contain one of Check, Put, Update or Delete")
            }
            try body.refuseLegacy(Self.legacyWriteParameters)
            let tableName = try body.requiredString("TableName")
            let table = try await table(tableName)
            let key: ItemKey
            let itemAction: ItemWrite.Action
            switch action {
            case "Put":
                guard let map = try body.attributeMap("Item") else {
                    throw DynamoDBError.validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
                }
                key = try itemKey(map, table.schema)
                itemAction = .put(try item(map))
            default:
                guard let map = try body.attributeMap("Key") else {
                    throw DynamoDBError.validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
                }
                key = try self.key(map, table.schema)
                switch action {
                case "Delete": itemAction = .delete(key: key)
                case "ConditionCheck": itemAction = .conditionCheck(key: key)
                default:
                    guard let expression = try body.string("UpdateExpression"), !expression.isEmpty else {
                        throw DynamoDBError.validation("1 validation error detected: Value null at 'transactItems.\(offset + 1).member.update.updateExpression' failed to satisfy constraint: Member must not be null")
                    }
                    itemAction = .update(key: key, expression: expression)
                }
            }
            let condition = try body.string("ConditionExpression")
            if action == "ConditionCheck" && condition == nil {
                throw DynamoDBError.validation("1 validation error detected: Value null at 'transactItems.\(offset + 1).member.conditionCheck.conditionExpression' failed to satisfy constraint: Member must not be null")
            }
            let write = ItemWrite(
                table: tableName, action: itemAction, condition: condition, attributes: try body.expressionAttributes(),
                returnItemOnConditionFailure: try returnOnConditionFailure(body))
            try checkExpressions(write)
            guard seen.insert(Self.identity(tableName, key)).inserted else {
                throw DynamoDBError.validation("Transaction request cannot include multiple operations on one item")
            }
            writes.append(write)
        }
        var idempotencyKey: String?
        if let token = try input.string("ClientRequestToken") {
            guard (1...36).contains(token.utf8.count), token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw DynamoDBError.validation(
                    "1 validation error detected: Value '\(token)' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36")
            }
            // The token alone names the request: the node records a digest of
            // the transaction with it, so the same token with other writes is
            // refused (IdempotentParameterMismatchException), as in DynamoDB.
            idempotencyKey = "dynamodb-transaction:\(token)"
        }
        _ = try await write(.transactWrite(writes), idempotencyKey: idempotencyKey)
        return Self.object([])
    }

    /// Every item as of one point in the log: the gets run between two reads
    /// of the last applied index and are repeated until no write landed in
    /// between (each applied batch is atomic and stamps that index).
    func transactGetItems(_ input: RequestObject) async throws -> JSONValue {
        guard let items = try input.array("TransactItems"), (1...100).contains(items.count) else {
            throw DynamoDBError.validation(
                "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1")
        }
        var gets: [(table: String, key: ItemKey, projection: [DocumentPath]?)] = []
        var seen: Set<Bytes> = []
        for (offset, element) in items.enumerated() {
            let entry = try RequestObject(element, path: "TransactItems.\(offset + 1)")
            guard let body = try entry.object("Get") else {
                throw DynamoDBError.validation("1 validation error detected: Value null at 'transactItems.\(offset + 1).member.get' failed to satisfy constraint: Member must not be null")
            }
            let tableName = try body.requiredString("TableName")
            let table = try await table(tableName)
            guard let map = try body.attributeMap("Key") else {
                throw DynamoDBError.validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
            }
            let key = try key(map, table.schema)
            guard seen.insert(Self.identity(tableName, key)).inserted else {
                throw DynamoDBError.validation("Transaction request cannot include multiple operations on one item")
            }
            let attributes = try body.expressionAttributes()
            var usage = ExpressionUsage()
            let projection = try projection(body, attributes, usage: &usage)
            try checkUsage(usage, attributes)
            gets.append((tableName, key, projection))
        }
        let requests = gets.map { ($0.table, $0.key) }
        let found: [StoredItem?]? = try await service.read(.strong) { machine, store in
            for _ in 0..<64 {
                let before = try machine.lastAppliedIndex(in: store)
                let found = try requests.map { try machine.findItem(table: $0.0, key: $0.1, in: store) }
                if try machine.lastAppliedIndex(in: store) == before { return found }
            }
            return nil
        }
        guard let found else {
            throw DynamoDBError(
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                extra: ["CancellationReasons": .array(gets.map { _ in Self.object([("Code", .string("TransactionConflict"))]) })])
        }
        let responses: [JSONValue] = zip(found, gets).map { stored, get in
            guard let stored else { return Self.object([]) }
            return Self.object([("Item", Self.render(stored.content, get.projection))])
        }
        return Self.object([("Responses", .array(responses))])
    }

    /// Table and key as one comparable value, to find repeated items.
    static func identity(_ table: String, _ key: ItemKey) -> Bytes {
        var bytes = Array(table.utf8) + [0]
        for value in [key.partition] + (key.sort.map { [$0] } ?? []) {
            bytes += Item(value.attributeValue).bytes
        }
        return bytes
    }
}
