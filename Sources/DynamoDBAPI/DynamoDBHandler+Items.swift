import NoSQL

/// PutItem, GetItem, DeleteItem, UpdateItem.
extension DynamoDBHandler {
    static var legacyWriteParameters: [(String, String)] {
        [("Expected", "ConditionExpression"), ("ConditionalOperator", "ConditionExpression")]
    }

    func putItem(_ input: RequestObject) async throws -> JSONValue {
        try input.refuseLegacy(Self.legacyWriteParameters)
        let tableName = try input.requiredString("TableName")
        guard let map = try input.attributeMap("Item") else {
            throw DynamoDBError.validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
        }
        let placeholders = try input.expressionAttributes()
        let table = try await table(tableName)
        _ = try itemKey(map, table.schema)
        let returnOld = try returnValues(input, allowed: ["NONE", "ALL_OLD"]) == "ALL_OLD"
        let write = ItemWrite(
            table: tableName, action: .put(try item(map)), condition: try input.string("ConditionExpression"),
            attributes: placeholders, returnItemOnConditionFailure: try returnOnConditionFailure(input))
        try checkExpressions(write)
        let outcome = try await single(write)
        return Self.object(returnOld ? attributes(outcome.old?.content) : [])
    }

    func getItem(_ input: RequestObject) async throws -> JSONValue {
        let tableName = try input.requiredString("TableName")
        guard let keyMap = try input.attributeMap("Key") else {
            throw DynamoDBError.validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
        }
        _ = try input.expressionAttributes()
        let table = try await table(tableName)
        let key = try key(keyMap, table.schema)
        let attributes = try input.expressionAttributes()
        var usage = ExpressionUsage()
        let projection = try projection(input, attributes, usage: &usage)
        try checkUsage(usage, attributes)
        let consistent = try input.bool("ConsistentRead") ?? false
        let stored = try await read(consistent: consistent) { machine, store in
            try machine.findItem(table: tableName, key: key, in: store)
        }
        guard let stored else { return Self.object([]) }
        return Self.object([("Item", Self.render(stored.content, projection))])
    }

    func deleteItem(_ input: RequestObject) async throws -> JSONValue {
        try input.refuseLegacy(Self.legacyWriteParameters)
        let tableName = try input.requiredString("TableName")
        guard let keyMap = try input.attributeMap("Key") else {
            throw DynamoDBError.validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
        }
        _ = try input.expressionAttributes()
        let table = try await table(tableName)
        let returnOld = try returnValues(input, allowed: ["NONE", "ALL_OLD"]) == "ALL_OLD"
        let write = ItemWrite(
            table: tableName, action: .delete(key: try key(keyMap, table.schema)),
            condition: try input.string("ConditionExpression"), attributes: try input.expressionAttributes(),
            returnItemOnConditionFailure: try returnOnConditionFailure(input))
        try checkExpressions(write)
        let outcome = try await single(write)
        return Self.object(returnOld ? attributes(outcome.old?.content) : [])
    }

    func updateItem(_ input: RequestObject) async throws -> JSONValue {
        try input.refuseLegacy(Self.legacyWriteParameters + [("AttributeUpdates", "UpdateExpression")])
        let tableName = try input.requiredString("TableName")
        guard let keyMap = try input.attributeMap("Key") else {
            throw DynamoDBError.validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
        }
        _ = try input.expressionAttributes()
        let table = try await table(tableName)
        let expression = try input.string("UpdateExpression")
        if expression?.isEmpty == true {
            throw DynamoDBError.validation("Invalid UpdateExpression: The expression can not be empty;")
        }
        let returnValues = try returnValues(input, allowed: ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])
        let write = ItemWrite(
            table: tableName, action: .update(key: try key(keyMap, table.schema), expression: expression ?? ""),
            condition: try input.string("ConditionExpression"), attributes: try input.expressionAttributes(),
            returnItemOnConditionFailure: try returnOnConditionFailure(input))
        try checkExpressions(write)
        let outcome = try await single(write)
        switch returnValues {
        case "ALL_OLD":
            return Self.object(attributes(outcome.old?.content))
        case "ALL_NEW":
            return Self.object(attributes(outcome.new?.content))
        case "UPDATED_OLD", "UPDATED_NEW":
            var usage = ExpressionUsage()
            let paths = try write.parsed(usage: &usage).update?.updatedPaths ?? []
            guard let content = returnValues == "UPDATED_OLD" ? outcome.old?.content : outcome.new?.content else {
                return Self.object([])
            }
            let projected = Projection.apply(paths, to: content.attributes)
            return Self.object(projected.isEmpty ? [] : [("Attributes", WireFormat.json(projected))])
        default:
            return Self.object([])
        }
    }

    // MARK: Helpers

    func returnValues(_ input: RequestObject, allowed: [String]) throws(DynamoDBError) -> String {
        let value = try input.string("ReturnValues") ?? "NONE"
        guard allowed.contains(value) else {
            throw DynamoDBError.validation("Return values set to invalid value")
        }
        return value
    }

    /// `"Attributes": item`, or nothing when there is no item.
    func attributes(_ item: Item?) -> [(String, JSONValue)] {
        guard let item else { return [] }
        return [("Attributes", WireFormat.json(item))]
    }

    /// An item as a response carries it, projected when asked.
    static func render(_ item: Item, _ projection: [DocumentPath]?) -> JSONValue {
        guard let projection else { return WireFormat.json(item) }
        return WireFormat.json(Projection.apply(projection, to: item.attributes))
    }
}
