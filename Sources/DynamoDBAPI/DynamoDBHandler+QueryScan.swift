import NoSQL
import StorageCore

/// Query and Scan.
extension DynamoDBHandler {
    func query(_ input: RequestObject) async throws -> JSONValue {
        try input.refuseLegacy([
            ("QueryFilter", "FilterExpression"), ("ConditionalOperator", "FilterExpression"),
        ])
        let tableName = try input.requiredString("TableName")
        if let index = try input.string("IndexName") {
            throw DynamoDBError.validation("The table does not have the specified index: \(index) (RaftLab has no secondary indexes)")
        }
        let table = try await table(tableName)
        let schema = table.schema
        let attributes = try input.expressionAttributes()
        var usage = ExpressionUsage()

        let partition: KeyAttributeValue
        let sortCondition: SortKeyCondition?
        if let text = try input.string("KeyConditionExpression") {
            if input.has("KeyConditions") {
                throw DynamoDBError.validation(
                    "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {KeyConditions} Expression parameters: {KeyConditionExpression}")
            }
            let condition: Condition
            do {
                condition = try ExpressionParser.condition(text, kind: .keyCondition, attributes: attributes, usage: &usage)
            } catch {
                throw DynamoDBError.validation(error.message)
            }
            (partition, sortCondition) = try KeyConditionPlanner.plan(condition, schema: schema)
        } else if let legacy = try input.object("KeyConditions") {
            (partition, sortCondition) = try KeyConditionPlanner.plan(legacy: legacy, schema: schema)
        } else {
            throw DynamoDBError.validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
        }
        do {
            try TableSchema.checkSizes(of: ItemKey(partition: partition), limits: service.limits)
        } catch {
            throw DynamoDBError.validation(error.message)
        }
        let filter = try filter(input, attributes, &usage)
        if let filter, let key = Self.keyAttribute(in: filter, schema) {
            throw DynamoDBError.validation(
                "Filter Expression can only contain non-primary key attributes: Primary key attribute: \(key)")
        }
        let forward = try input.bool("ScanIndexForward") ?? true
        return try await readPage(
            input, table: table, scope: .partition(partition, sortCondition), forward: forward, segment: nil,
            filter: filter, attributes: attributes, usage: &usage)
    }

    func scan(_ input: RequestObject) async throws -> JSONValue {
        try input.refuseLegacy([("ScanFilter", "FilterExpression"), ("ConditionalOperator", "FilterExpression")])
        let tableName = try input.requiredString("TableName")
        if let index = try input.string("IndexName") {
            throw DynamoDBError.validation("The table does not have the specified index: \(index) (RaftLab has no secondary indexes)")
        }
        let table = try await table(tableName)
        let attributes = try input.expressionAttributes()
        var usage = ExpressionUsage()
        let filter = try filter(input, attributes, &usage)
        var segment: ItemRangeRead.Segment?
        switch (try input.int("Segment"), try input.int("TotalSegments")) {
        case (nil, nil): break
        case let (index?, count?):
            guard (1...1_000_000).contains(count) else {
                throw DynamoDBError.validation(
                    "1 validation error detected: Value '\(count)' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000 and greater than or equal to 1")
            }
            guard (0..<count).contains(index) else {
                throw DynamoDBError.validation("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: \(index) is not less than TotalSegments: \(count)")
            }
            segment = ItemRangeRead.Segment(index: index, count: count)
        default:
            throw DynamoDBError.validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
        }
        return try await readPage(
            input, table: table, scope: .table, forward: true, segment: segment, filter: filter, attributes: attributes,
            usage: &usage)
    }

    private func filter(
        _ input: RequestObject, _ attributes: ExpressionAttributes, _ usage: inout ExpressionUsage
    ) throws(DynamoDBError) -> Condition? {
        guard let text = try input.string("FilterExpression") else { return nil }
        do {
            return try ExpressionParser.condition(text, kind: .filter, attributes: attributes, usage: &usage)
        } catch {
            throw .validation(error.message)
        }
    }

    /// Reads one page, filters, projects and counts it.
    private func readPage(
        _ input: RequestObject, table: TableInfo, scope: ItemRangeRead.Scope, forward: Bool,
        segment: ItemRangeRead.Segment?, filter: Condition?, attributes: ExpressionAttributes, usage: inout ExpressionUsage
    ) async throws -> JSONValue {
        let schema = table.schema
        let projection = try projection(input, attributes, usage: &usage)
        try checkUsage(usage, attributes)
        let select = try input.string("Select") ?? (projection == nil ? "ALL_ATTRIBUTES" : "SPECIFIC_ATTRIBUTES")
        switch select {
        case "ALL_ATTRIBUTES":
            if projection != nil {
                throw DynamoDBError.validation(
                    "Cannot specify the AttributesToGet or ProjectionExpression when choosing to get ALL_ATTRIBUTES")
            }
        case "COUNT":
            if projection != nil {
                throw DynamoDBError.validation("Cannot specify the AttributesToGet or ProjectionExpression when choosing to get COUNT")
            }
        case "SPECIFIC_ATTRIBUTES":
            if projection == nil {
                throw DynamoDBError.validation(
                    "SPECIFIC_ATTRIBUTES requires AttributesToGet or ProjectionExpression to be specified")
            }
        case "ALL_PROJECTED_ATTRIBUTES":
            throw DynamoDBError.validation("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
        default:
            throw DynamoDBError.validation(
                "1 validation error detected: Value '\(select)' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]")
        }
        let limit = try input.int("Limit")
        if let limit, limit < 1 {
            throw DynamoDBError.validation(
                "1 validation error detected: Value '\(limit)' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
        }
        var startKey: ItemKey?
        if let start = try input.attributeMap("ExclusiveStartKey") {
            do {
                startKey = try key(start, schema)
            } catch {
                throw DynamoDBError.validation("The provided starting key is invalid: \(error.message)")
            }
            if case .partition(let partition, _) = scope, startKey?.partition != partition {
                throw DynamoDBError.validation("The provided starting key does not match the range key predicate")
            }
        }
        let read = ItemRangeRead(
            table: schema.name, scope: scope, forward: forward, exclusiveStartKey: startKey, limit: limit, segment: segment)
        let consistent = try input.bool("ConsistentRead") ?? false
        let page = try await self.read(consistent: consistent) { machine, store in try machine.readItems(read, in: store) }

        var items: [JSONValue] = []
        var count = 0
        for stored in page.items {
            if let filter, !ConditionEvaluator.evaluate(filter, on: stored.content.attributes) { continue }
            count += 1
            if select != "COUNT" { items.append(Self.render(stored.content, projection)) }
        }
        var members: [(String, JSONValue)] = [
            ("Count", .number(JSONNumber(count))), ("ScannedCount", .number(JSONNumber(page.items.count))),
        ]
        if select != "COUNT" { members.append(("Items", .array(items))) }
        if let last = page.lastEvaluatedKey {
            members.append(("LastEvaluatedKey", WireFormat.json(schema.keyAttributes(of: last))))
        }
        return Self.object(members)
    }

    /// A key attribute the condition refers to, if any (Query filters may not).
    static func keyAttribute(in condition: Condition, _ schema: TableSchema) -> String? {
        func inOperand(_ operand: Operand) -> String? {
            switch operand {
            case .path(let path): schema.isKeyAttribute(path.attribute) ? path.attribute : nil
            case .size(let inner): inOperand(inner)
            default: nil
            }
        }
        switch condition {
        case let .compare(a, _, b): return inOperand(a) ?? inOperand(b)
        case let .between(a, b, c): return inOperand(a) ?? inOperand(b) ?? inOperand(c)
        case let .isIn(a, options): return inOperand(a) ?? options.lazy.compactMap(inOperand).first
        case let .and(a, b), let .or(a, b): return keyAttribute(in: a, schema) ?? keyAttribute(in: b, schema)
        case .not(let inner): return keyAttribute(in: inner, schema)
        case .attributeExists(let path), .attributeNotExists(let path), .attributeType(let path, _):
            return schema.isKeyAttribute(path.attribute) ? path.attribute : nil
        case let .beginsWith(a, b), let .contains(a, b): return inOperand(a) ?? inOperand(b)
        }
    }
}

/// Turns a key condition into the partition to read and the sort key range
/// within it, with DynamoDB's rules: the partition key with `=`, and at most
/// one condition on the sort key (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`,
/// `begins_with`), joined by AND.
enum KeyConditionPlanner {
    static func plan(_ condition: Condition, schema: TableSchema) throws(DynamoDBError) -> (KeyAttributeValue, SortKeyCondition?) {
        var conjuncts: [Condition] = []
        func flatten(_ condition: Condition) throws(DynamoDBError) {
            switch condition {
            case let .and(a, b):
                try flatten(a)
                try flatten(b)
            case .or:
                throw .validation("Invalid operator used in KeyConditionExpression: OR")
            case .not:
                throw .validation("Invalid operator used in KeyConditionExpression: NOT")
            default:
                conjuncts.append(condition)
            }
        }
        try flatten(condition)
        var partition: KeyAttributeValue?
        var sort: SortKeyCondition?
        for conjunct in conjuncts {
            let (attribute, sortCondition) = try keyCondition(conjunct, schema)
            if attribute == schema.partitionKey {
                guard partition == nil else {
                    throw .validation("KeyConditionExpressions must only contain one condition per key")
                }
                guard case .compare(.equal, let value) = sortCondition else {
                    throw .validation("Query key condition not supported")
                }
                partition = value
            } else if let sortKey = schema.sortKey, attribute == sortKey {
                guard sort == nil else { throw .validation("KeyConditionExpressions must only contain one condition per key") }
                sort = sortCondition
            } else {
                throw .validation("Query condition missed key schema element: \(schema.partitionKey)")
            }
        }
        guard let partition else { throw .validation("Query condition missed key schema element: \(schema.partitionKey)") }
        return (partition, sort)
    }

    /// One conjunct: the key attribute it constrains and how.
    private static func keyCondition(_ condition: Condition, _ schema: TableSchema) throws(DynamoDBError) -> (String, SortKeyCondition) {
        let unsupported = DynamoDBError.validation("Query key condition not supported")
        switch condition {
        case let .compare(.path(path), comparator, .value(value)):
            guard comparator != .notEqual else { throw unsupported }
            let name = try attribute(path, schema)
            return (name, .compare(comparator, try keyValue(value, name, schema)))
        case let .compare(.value(value), comparator, .path(path)):
            guard comparator != .notEqual else { throw unsupported }
            let name = try attribute(path, schema)
            return (name, .compare(comparator.mirrored, try keyValue(value, name, schema)))
        case let .between(.path(path), .value(low), .value(high)):
            let name = try attribute(path, schema)
            let lowKey = try keyValue(low, name, schema)
            let highKey = try keyValue(high, name, schema)
            if let order = order(lowKey, highKey), order > 0 {
                throw .validation(
                    "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {\(low.typeName.rawValue):\(describe(low))}, upper bound operand: AttributeValue: {\(high.typeName.rawValue):\(describe(high))}")
            }
            return (name, .between(lowKey, highKey))
        case let .beginsWith(.path(path), .value(prefix)):
            let name = try attribute(path, schema)
            let value = try keyValue(prefix, name, schema)
            if case .number = value {
                throw .validation("Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N")
            }
            return (name, .beginsWith(value))
        default:
            throw unsupported
        }
    }

    private static func attribute(_ path: DocumentPath, _ schema: TableSchema) throws(DynamoDBError) -> String {
        guard path.elements.count == 1 else { throw .validation("Query key condition not supported") }
        return path.attribute
    }

    private static func keyValue(_ value: AttributeValue, _ attribute: String, _ schema: TableSchema) throws(DynamoDBError) -> KeyAttributeValue {
        let declared = attribute == schema.partitionKey ? schema.partitionKeyType : schema.sortKeyType
        let key: KeyAttributeValue
        do {
            key = try KeyAttributeValue(value, attribute: attribute)
        } catch {
            throw .validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
        }
        if let declared, key.type != declared {
            throw .validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
        }
        return key
    }

    private static func order(_ a: KeyAttributeValue, _ b: KeyAttributeValue) -> Int? {
        switch (a, b) {
        case let (.number(x), .number(y)): x < y ? -1 : (x == y ? 0 : 1)
        case let (.string(x), .string(y)): x.utf8.elementsEqual(y.utf8) ? 0 : (x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1)
        case let (.binary(x), .binary(y)): x == y ? 0 : (x.lexicographicallyPrecedes(y) ? -1 : 1)
        default: nil
        }
    }

    private static func describe(_ value: AttributeValue) -> String {
        switch value {
        case .number(let number): number.plainText
        case .string(let string): string
        case .binary(let bytes): Base64.encode(bytes)
        default: ""
        }
    }

    /// The legacy `KeyConditions`: `{attribute: {ComparisonOperator, AttributeValueList}}`.
    static func plan(legacy: RequestObject, schema: TableSchema) throws(DynamoDBError) -> (KeyAttributeValue, SortKeyCondition?) {
        var condition: Condition?
        for member in legacy.object.members {
            let entry = try RequestObject(member.value, path: "KeyConditions.\(member.key)")
            let comparison = try entry.requiredString("ComparisonOperator")
            var values: [AttributeValue] = []
            for element in try entry.array("AttributeValueList") ?? [] { values.append(try WireFormat.attributeValue(element)) }
            let path = Operand.path(DocumentPath(attribute: member.key))
            func arguments(_ count: Int) throws(DynamoDBError) -> [Operand] {
                guard values.count == count else {
                    throw .validation("One or more parameter values were invalid: Invalid number of argument(s) for the \(comparison) ComparisonOperator")
                }
                return values.map { .value($0) }
            }
            let conjunct: Condition
            switch comparison {
            case "EQ": conjunct = .compare(path, .equal, try arguments(1)[0])
            case "LT": conjunct = .compare(path, .less, try arguments(1)[0])
            case "LE": conjunct = .compare(path, .lessOrEqual, try arguments(1)[0])
            case "GT": conjunct = .compare(path, .greater, try arguments(1)[0])
            case "GE": conjunct = .compare(path, .greaterOrEqual, try arguments(1)[0])
            case "BEGINS_WITH": conjunct = .beginsWith(path, try arguments(1)[0])
            case "BETWEEN":
                let bounds = try arguments(2)
                conjunct = .between(path, bounds[0], bounds[1])
            default:
                throw .validation("Unsupported operator on KeyCondition: \(comparison)")
            }
            condition = condition.map { .and($0, conjunct) } ?? conjunct
        }
        guard let condition else { throw .validation("Query condition missed key schema element: \(schema.partitionKey)") }
        return try plan(condition, schema: schema)
    }
}
