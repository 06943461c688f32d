import Foundation
import NoSQL
import RaftLabNode

/// CreateTable, DeleteTable, DescribeTable, ListTables.
extension DynamoDBHandler {
    func createTable(_ input: RequestObject, _ context: Context) async throws -> JSONValue {
        let name = try input.requiredString("TableName")
        try checkTableName(name)
        for (member, feature) in [
            ("GlobalSecondaryIndexes", "global secondary indexes"), ("LocalSecondaryIndexes", "local secondary indexes"),
            ("Tags", "tags"),
        ] where input.has(member) {
            throw DynamoDBError.validation("RaftLab does not support \(feature) (\(member))")
        }
        if let stream = try input.object("StreamSpecification"), try stream.bool("StreamEnabled") == true {
            throw DynamoDBError.validation("RaftLab does not support DynamoDB Streams (StreamSpecification)")
        }
        if try input.bool("DeletionProtectionEnabled") == true {
            throw DynamoDBError.validation("RaftLab does not support deletion protection (DeletionProtectionEnabled)")
        }

        // Key schema: a HASH key, then optionally a RANGE key.
        guard let keySchema = try input.array("KeySchema"), (1...2).contains(keySchema.count) else {
            throw DynamoDBError.validation("1 validation error detected: Value at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2 and greater than or equal to 1")
        }
        var names: [String] = []
        for (offset, element) in keySchema.enumerated() {
            let entry = try RequestObject(element, path: "KeySchema.\(offset + 1)")
            let attribute = try entry.requiredString("AttributeName")
            let type = try entry.requiredString("KeyType")
            guard type == (offset == 0 ? "HASH" : "RANGE") else {
                throw DynamoDBError.validation(
                    offset == 0
                        ? "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
                        : "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
            }
            names.append(attribute)
        }
        if names.count == 2 && names[0] == names[1] {
            throw DynamoDBError.validation("Both the Hash Key and the Range Key element in the KeySchema have the same name")
        }

        // Attribute definitions: exactly the key attributes, each S, N or B.
        var types: [String: KeyAttributeType] = [:]
        for (offset, element) in (try input.array("AttributeDefinitions") ?? []).enumerated() {
            let entry = try RequestObject(element, path: "AttributeDefinitions.\(offset + 1)")
            let attribute = try entry.requiredString("AttributeName")
            let typeName = try entry.requiredString("AttributeType")
            guard let type = KeyAttributeType(rawValue: typeName) else {
                throw DynamoDBError.validation(
                    "1 validation error detected: Value '\(typeName)' at 'attributeDefinitions.\(offset + 1).member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]")
            }
            guard types[attribute] == nil else {
                throw DynamoDBError.validation("Cannot have two attributes with the same name. Attribute name: \(attribute)")
            }
            types[attribute] = type
        }
        guard types.count == names.count, names.allSatisfy({ types[$0] != nil }) else {
            throw DynamoDBError.validation(
                "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
        }

        // Billing: recorded as given, with DynamoDB's consistency rules.
        let mode = try input.string("BillingMode") ?? "PROVISIONED"
        guard let billingMode = BillingSettings.Mode(rawValue: mode) else {
            throw DynamoDBError.validation(
                "1 validation error detected: Value '\(mode)' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]")
        }
        var billing = BillingSettings(mode: billingMode)
        let throughput = try input.object("ProvisionedThroughput")
        switch (billingMode, throughput) {
        case (.payPerRequest, _?):
            throw DynamoDBError.validation(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
        case (.provisioned, nil):
            throw DynamoDBError.validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
        case (.provisioned, let throughput?):
            guard let read = try throughput.int("ReadCapacityUnits"), let write = try throughput.int("WriteCapacityUnits"),
                read >= 1, write >= 1
            else {
                throw DynamoDBError.validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be at least 1")
            }
            billing.readCapacityUnits = UInt64(read)
            billing.writeCapacityUnits = UInt64(write)
        case (.payPerRequest, nil):
            break
        }

        let schema = TableSchema(
            name: name, partitionKey: names[0], sortKey: names.count > 1 ? names[1] : nil,
            partitionKeyType: types[names[0]], sortKeyType: names.count > 1 ? types[names[1]] : nil,
            billing: billing, creationTime: UInt64(max(0, clock().timeIntervalSince1970 * 1000)))
        do {
            try schema.validate()
        } catch {
            throw DynamoDBError.validation(error.message)
        }
        do {
            let ack = try await write(.createTable(schema))
            guard case .tableCreated(let info) = ack.outcome else {
                throw DynamoDBError.internalServerError("unexpected outcome of create-table: \(ack.outcome)")
            }
            return Self.object([("TableDescription", description(info, TableStatistics(), status: "ACTIVE", context))])
        } catch let error as NoSQLError where error.code == .tableExists {
            throw DynamoDBError.resourceInUse("Table already exists: \(name)")
        }
    }

    func deleteTable(_ input: RequestObject, _ context: Context) async throws -> JSONValue {
        let name = try input.requiredString("TableName")
        try checkTableName(name)
        do {
            let ack = try await write(.deleteTable(name: name))
            guard case let .tableDeleted(info, count) = ack.outcome else {
                throw DynamoDBError.internalServerError("unexpected outcome of delete-table: \(ack.outcome)")
            }
            let statistics = TableStatistics(itemCount: UInt64(count), sizeBytes: 0)
            return Self.object([("TableDescription", description(info, statistics, status: "DELETING", context))])
        } catch let error as NoSQLError where error.code == .tableNotFound {
            throw DynamoDBError.tableNotFound(name)
        }
    }

    func describeTable(_ input: RequestObject, _ context: Context) async throws -> JSONValue {
        let name = try input.requiredString("TableName")
        try checkTableName(name)
        do {
            let (info, statistics) = try await service.read(.strong) { machine, store in
                (try machine.describeTable(name, in: store), try machine.tableStatistics(name, in: store))
            }
            return Self.object([("Table", description(info, statistics, status: "ACTIVE", context))])
        } catch let error as NoSQLError where error.code == .tableNotFound {
            throw DynamoDBError.tableNotFound(name)
        }
    }

    func listTables(_ input: RequestObject) async throws -> JSONValue {
        let limit = try input.int("Limit") ?? 100
        guard (1...100).contains(limit) else {
            throw DynamoDBError.validation(
                "1 validation error detected: Value '\(limit)' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100 and greater than or equal to 1")
        }
        let start = try input.string("ExclusiveStartTableName")
        let tables = try await service.read(.strong) { machine, store in try machine.listTables(in: store).map(\.name) }
        // Names are in byte order, the store's order.
        let after = start.map { start in tables.filter { Array(start.utf8).lexicographicallyPrecedes(Array($0.utf8)) } } ?? tables
        let page = Array(after.prefix(limit))
        var members: [(String, JSONValue)] = [("TableNames", .array(page.map { .string($0) }))]
        if after.count > limit, let last = page.last { members.append(("LastEvaluatedTableName", .string(last))) }
        return Self.object(members)
    }

    /// DynamoDB's `TableDescription`. A table created through the native
    /// API declares no key types; it is described with type S for each key.
    func description(_ info: TableInfo, _ statistics: TableStatistics, status: String, _ context: Context) -> JSONValue {
        let schema = info.schema
        var keySchema: [JSONValue] = [
            Self.object([("AttributeName", .string(schema.partitionKey)), ("KeyType", .string("HASH"))])
        ]
        var definitions: [JSONValue] = [
            Self.object([
                ("AttributeName", .string(schema.partitionKey)),
                ("AttributeType", .string((schema.partitionKeyType ?? .string).rawValue)),
            ])
        ]
        if let sortKey = schema.sortKey {
            keySchema.append(Self.object([("AttributeName", .string(sortKey)), ("KeyType", .string("RANGE"))]))
            definitions.append(
                Self.object([
                    ("AttributeName", .string(sortKey)), ("AttributeType", .string((schema.sortKeyType ?? .string).rawValue)),
                ]))
        }
        let billing = schema.billing ?? BillingSettings(mode: .payPerRequest)
        var members: [(String, JSONValue)] = [
            ("TableName", .string(schema.name)),
            ("TableArn", .string("arn:aws:dynamodb:\(context.region):000000000000:table/\(schema.name)")),
            ("TableId", .string(Self.tableID(info))),
            ("TableStatus", .string(status)),
            ("KeySchema", .array(keySchema)),
            ("AttributeDefinitions", .array(definitions)),
            ("ItemCount", .number(JSONNumber(Int(clamping: statistics.itemCount)))),
            ("TableSizeBytes", .number(JSONNumber(Int(clamping: statistics.sizeBytes)))),
            (
                "ProvisionedThroughput",
                Self.object([
                    ("NumberOfDecreasesToday", .number(JSONNumber(0))),
                    ("ReadCapacityUnits", .number(JSONNumber(Int(clamping: billing.readCapacityUnits)))),
                    ("WriteCapacityUnits", .number(JSONNumber(Int(clamping: billing.writeCapacityUnits)))),
                ])
            ),
            ("BillingModeSummary", Self.object([("BillingMode", .string(billing.mode.rawValue))])),
        ]
        if schema.creationTime > 0 {
            // Seconds since 1970 with milliseconds, as DynamoDB's JSON writes timestamps.
            let seconds = JSONNumber(decimalText: "\(schema.creationTime / 1000).\(String(format: "%03d", schema.creationTime % 1000))")
            if let seconds { members.append(("CreationDateTime", .number(seconds))) }
        }
        return Self.object(members)
    }

    /// A stable id for the table: its name and the log index that created it.
    static func tableID(_ info: TableInfo) -> String {
        let digest = SHA256.hex(SHA256.hash(Array("\(info.name)/\(info.createdAt)".utf8)))
        let characters = Array(digest.prefix(32))
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }
}
