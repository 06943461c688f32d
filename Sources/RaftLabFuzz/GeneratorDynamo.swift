/// DynamoDB JSON protocol requests.
extension RequestGenerator {
    mutating func dynamo(_ operation: String, _ body: FuzzJSON, probe: String) -> FuzzRequest {
        dynamo(operation, bytes: body.bytes, probe: probe)
    }

    mutating func dynamo(_ operation: String, bytes: [UInt8], probe: String, target: String? = nil) -> FuzzRequest {
        FuzzRequest(
            api: .dynamo, kind: operation, probe: probe, method: "POST", path: "/",
            headers: [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", target ?? "DynamoDB_20120810.\(operation)")],
            body: bytes, node: pickNode())
    }

    mutating func dynamoRequest(_ operation: String, probing: Bool) -> FuzzRequest {
        switch operation {
        case "PutItem": return putItem(probing: probing)
        case "GetItem": return getItem(probing: probing)
        case "UpdateItem": return updateItem(probing: probing)
        case "DeleteItem": return deleteItem(probing: probing)
        case "Query": return query(probing: probing)
        case "Scan": return scan(probing: probing)
        case "BatchWriteItem": return batchWrite(probing: probing)
        case "BatchGetItem": return batchGet(probing: probing)
        case "TransactWriteItems": return transactWrite(probing: probing)
        case "TransactGetItems": return transactGet(probing: probing)
        case "CreateTable": return createTable(probing: probing)
        case "DescribeTable": return describeTable(probing: probing)
        case "DeleteTable": return deleteTable(probing: probing)
        case "ListTables":
            let limit = probing ? random.pick([0, 1, 100, 101, -1]) : 10
            return dynamo("ListTables", .object([("Limit", .number(String(limit)))]), probe: probing ? "Limit \(limit)" : "ok")
        default: return malformedDynamo()
        }
    }

    // MARK: Items

    /// An item for `table`: key, a few attributes, and at most one edge.
    mutating func dynamoItem(_ table: FuzzTable, probing: Bool) -> (FuzzJSON, String) {
        let what = probing ? random.weighted([(5, "key"), (4, "attribute"), (2, "size")]) : "none"
        let (_, keyMembers, keyProbe) = dynamoKeyMap(table, probing: what == "key")
        var members = keyMembers
        for index in 0..<random.int(0...3) { members.append(("f\(index)", ordinaryAttribute())) }
        var probe = keyProbe
        if what == "attribute" {
            let (name, value, attributeProbe) = edgeAttribute()
            members.append((name, value))
            probe = attributeProbe
        } else if what == "size" {
            // A string-keyed item at, just below or just past 400 KB.
            let delta = random.pick([-1, 0, 1, 2, -100, 1000])
            let multibyte = random.chance(0.3)
            members = keyMembers.prefix(1).map { $0 }
            var used = table.partitionKey.utf8.count
            if table.partitionType == "S" {
                let partition = "big\(random.int(0...3))"
                members = [(table.partitionKey, .object([("S", .string(partition))]))]
                used += partition.utf8.count
            } else {
                used += 8
            }
            if let sortKey = table.sortKey, let type = table.sortType {
                let sort = ordinaryKey(type)
                members.append((sortKey, dynamoValue(sort, type: type)))
                used += sortKey.utf8.count + Self.keyBytes(sort, type: type)
            }
            used += 4
            members.append(("data", .object([("S", .string(Self.filler(target: FuzzLimits.itemBytes + delta, used: used, multibyte: multibyte)))])))
            probe = "item \(FuzzLimits.itemBytes + delta) bytes\(multibyte ? " (2-byte UTF-8)" : "")"
        }
        return (.object(members), probe)
    }

    mutating func putItem(probing: Bool) -> FuzzRequest {
        let table = dynamoTable()
        let (item, probe) = dynamoItem(table, probing: probing)
        var members: [(String, FuzzJSON)] = [("TableName", .string(table.name)), ("Item", item)]
        if random.chance(0.3) {
            let (condition, names, values, conditionProbe) = conditionExpression(table, probing: probing && probe == "ok")
            members.append(("ConditionExpression", .string(condition)))
            if !names.isEmpty { members.append(("ExpressionAttributeNames", .object(names))) }
            if !values.isEmpty { members.append(("ExpressionAttributeValues", .object(values))) }
            return dynamo("PutItem", .object(members + returnValues(["NONE", "ALL_OLD"])), probe: probe == "ok" ? conditionProbe : probe)
        }
        return dynamo("PutItem", .object(members + returnValues(["NONE", "ALL_OLD"])), probe: probe)
    }

    mutating func returnValues(_ valid: [String]) -> [(String, FuzzJSON)] {
        guard random.chance(0.3) else { return [] }
        return [("ReturnValues", .string(random.chance(0.8) ? random.pick(valid) : random.pick(["ALL_NEW", "BOGUS", ""])))]
    }

    mutating func getItem(probing: Bool) -> FuzzRequest {
        let table = dynamoTable()
        let (key, _, probe) = dynamoKeyMap(table, probing: probing)
        var members: [(String, FuzzJSON)] = [("TableName", .string(table.name)), ("Key", key)]
        if random.chance(0.4) { members.append(("ConsistentRead", random.chance(0.9) ? .bool(true) : .string("true"))) }
        if random.chance(0.2) { members.append(("ProjectionExpression", .string(random.pick(["f0, f1", "f0.m1[0]", "#n", "data"])))) }
        return dynamo("GetItem", .object(members), probe: probe)
    }

    mutating func deleteItem(probing: Bool) -> FuzzRequest {
        let table = dynamoTable()
        let (key, _, probe) = dynamoKeyMap(table, probing: probing)
        var members: [(String, FuzzJSON)] = [("TableName", .string(table.name)), ("Key", key)]
        if random.chance(0.3) {
            members.append(("ConditionExpression", .string("attribute_exists(\(table.partitionKey))")))
        }
        return dynamo("DeleteItem", .object(members + returnValues(["NONE", "ALL_OLD"])), probe: probe)
    }

    // MARK: Expressions

    /// An update expression with its placeholders; when probing, one edge.
    mutating func updateExpression(_ table: FuzzTable, probing: Bool) -> (String, [(String, FuzzJSON)], [(String, FuzzJSON)], String) {
        let ordinary: [(String, [(String, FuzzJSON)], [(String, FuzzJSON)])] = [
            ("SET f0 = :v", [], [(":v", ordinaryAttribute())]),
            ("SET #n = if_not_exists(#n, :z) + :one", [("#n", .string("count"))], [(":z", .object([("N", .string("0"))])), (":one", .object([("N", .string("1"))]))]),
            ("ADD tally :one", [], [(":one", .object([("N", .string("1"))]))]),
            ("REMOVE f1, f2", [], []),
            ("SET l = list_append(if_not_exists(l, :e), :l)", [], [(":e", .object([("L", .array([]))])), (":l", .object([("L", .array([.object([("S", .string("x"))])]))]))]),
            ("ADD tags :s", [], [(":s", .object([("SS", .array([.string("a"), .string("b")]))]))]),
            ("DELETE tags :s", [], [(":s", .object([("SS", .array([.string("a")]))]))]),
            ("SET m = :m", [], [(":m", .object([("M", .object([("x", .object([("N", .string("1"))]))]))]))]),
            ("SET m.x = :v", [], [(":v", .object([("N", .string("2"))]))]),
        ]
        if !probing {
            let (expression, names, values) = random.pick(ordinary)
            return (expression, names, values, "ok")
        }
        let one: [(String, FuzzJSON)] = [(":v", .object([("N", .string("1"))]))]
        switch random.int(0...21) {
        case 0, 1:
            // Exactly at, below and past 4 KB, padded with spaces.
            let length = random.pick([FuzzLimits.expressionBytes - 1, FuzzLimits.expressionBytes, FuzzLimits.expressionBytes + 1])
            let base = "SET f0 = :v"
            return (base + String(repeating: " ", count: length - base.utf8.count), [], one, "update expression \(length) bytes")
        case 2:
            var clauses: [String] = []
            var text = "SET "
            var index = 0
            while text.utf8.count < FuzzLimits.expressionBytes - 20 {
                clauses.append("a\(index) = :v")
                text = "SET " + clauses.joined(separator: ", ")
                index += 1
            }
            return (text, [], one, "update expression with \(clauses.count) SET clauses")
        case 3: return ("SET \(table.partitionKey) = :v", [], one, "update of the partition key")
        case 4: return ("SET Year = :v", [], one, "reserved word unescaped")
        case 5: return ("SET #u = :v", [], one, "undefined name placeholder")
        case 6: return ("SET f0 = :nope", [], one, "undefined value placeholder")
        case 7: return ("SET f0 = :v", [("#unused", .string("x"))], one, "unused name placeholder")
        case 8: return (random.pick(["SET", "SET f0 =", "SET f0 = :v,", "ADD f0", "REMOVE", "SET f0 = :v REMOVE f0", "SET = :v", "f0 = :v", "SET f0 = :v SET f1 = :v"]), [], one, "update syntax")
        case 9:
            let big = "9.9999999999999999999999999999999999999E+125"
            return ("SET n = :b + :b", [], [(":b", .object([("N", .string(big))]))], "arithmetic overflow")
        case 10: return ("SET n = :b - :c", [], [(":b", .object([("N", .string("-9.9999999999999999999999999999999999999E+125"))])), (":c", .object([("N", .string("1E+125"))]))], "arithmetic underflow")
        case 11: return ("SET l[99999999999999999999999] = :v", [], one, "list index past Int")
        case 12: return ("SET l[-1] = :v", [], one, "negative list index")
        case 13:
            let depth = random.pick([31, 32, 33, 200])
            let path = (0..<depth).map { "p\($0)" }.joined(separator: ".")
            return ("SET \(path) = :v", [], one, "document path depth \(depth)")
        case 14:
            let length = random.pick([FuzzLimits.placeholderNameBytes, FuzzLimits.placeholderNameBytes + 1])
            let name = "#" + String(repeating: "n", count: length - 1)
            return ("SET \(name) = :v", [(name, .string("f0"))], one, "name placeholder \(length) bytes")
        case 15: return ("SET #n = :v", [("#n", .string(""))], one, "name placeholder for empty name")
        case 16: return ("SET f0 = :v", [], [(":v", .object([("SS", .array([]))]))], "value empty SS")
        case 17: return ("ADD f0 :v", [], [(":v", .object([("S", .string("x"))]))], "ADD of a string")
        case 18: return ("SET f0 = list_append(:v, :v)", [], one, "list_append of numbers")
        case 19: return ("SET f0 = size(f1)", [], [], "function not allowed in SET")
        case 20:
            let text = String(repeating: "(", count: 1500) + ":v" + String(repeating: ")", count: 1500)
            return ("SET f0 = " + text, [], one, "1500 nested parentheses in SET")
        default:
            return ("SET f0 = :v", [], [(":v", Self.nested(depth: 33, list: false))], "value nested depth 33")
        }
    }

    /// A condition expression; when probing, one edge.
    mutating func conditionExpression(_ table: FuzzTable, probing: Bool) -> (String, [(String, FuzzJSON)], [(String, FuzzJSON)], String) {
        let pk = table.partitionKey
        if !probing {
            let choices: [(String, [(String, FuzzJSON)], [(String, FuzzJSON)])] = [
                ("attribute_not_exists(\(pk))", [], []),
                ("attribute_exists(\(pk))", [], []),
                ("size(f0) < :n", [], [(":n", .object([("N", .string("100"))]))]),
                ("f0 = :v OR attribute_not_exists(f0)", [], [(":v", .object([("S", .string("x"))]))]),
                ("NOT contains(#t, :v)", [("#t", .string("tags"))], [(":v", .object([("S", .string("a"))]))]),
            ]
            let (expression, names, values) = random.pick(choices)
            return (expression, names, values, "ok")
        }
        switch random.int(0...9) {
        case 0:
            let depth = random.pick([100, 1000, 2000])
            return (String(repeating: "(", count: depth) + "attribute_exists(f0)" + String(repeating: ")", count: depth), [], [], "\(depth) nested parentheses")
        case 1:
            let count = random.pick([300, 1000])
            return (String(repeating: "NOT ", count: count) + "attribute_exists(f0)", [], [], "\(count) NOTs")
        case 2:
            var text = "attribute_exists(f0)"
            while text.utf8.count < FuzzLimits.expressionBytes - 30 { text += " AND attribute_exists(f0)" }
            return (text, [], [], "condition of \(text.utf8.count) bytes")
        case 3:
            let count = random.pick([100, 101])
            let values = (0..<count).map { (":v\($0)", FuzzJSON.object([("N", .string(String($0)))])) }
            return ("f0 IN (\(values.map(\.0).joined(separator: ", ")))", [], values, "IN with \(count) values")
        case 4: return ("f0 BETWEEN :hi AND :lo", [], [(":hi", .object([("N", .string("9"))])), (":lo", .object([("N", .string("1"))]))], "BETWEEN upper < lower")
        case 5: return ("attribute_type(f0, :t)", [], [(":t", .object([("S", .string("X"))]))], "attribute_type of an unknown type")
        case 6: return ("begins_with(f0, :n)", [], [(":n", .object([("N", .string("1"))]))], "begins_with a number")
        case 7: return ("f0 = :v", [], [(":v", .object([("S", .rawString([0xED, 0xA0, 0x80]))]))], "value with a UTF-8 surrogate")
        case 8: return ("size(f0) > :n", [], [(":n", .object([("N", .string("1E+126"))]))], "size against an out-of-range number")
        default: return (random.pick(["", "(", "f0 =", "AND", "f0 = = :v", "attribute_exists()", "size()"]), [], [], "condition syntax")
        }
    }

    mutating func updateItem(probing: Bool) -> FuzzRequest {
        let table = dynamoTable()
        let probeWhere = probing ? random.weighted([(3, "key"), (5, "update"), (2, "condition")]) : "none"
        let (key, _, keyProbe) = dynamoKeyMap(table, probing: probeWhere == "key")
        var (expression, names, values, probe) = updateExpression(table, probing: probeWhere == "update")
        var members: [(String, FuzzJSON)] = [("TableName", .string(table.name)), ("Key", key), ("UpdateExpression", .string(expression))]
        if probeWhere == "condition" || random.chance(0.25) {
            let (condition, conditionNames, conditionValues, conditionProbe) = conditionExpression(table, probing: probeWhere == "condition")
            members.append(("ConditionExpression", .string(condition)))
            // Placeholders of both expressions share the maps; a clash keeps the first.
            for member in conditionNames where !names.contains(where: { $0.0 == member.0 }) { names.append(member) }
            for member in conditionValues where !values.contains(where: { $0.0 == member.0 }) { values.append(member) }
            if probeWhere == "condition" { probe = conditionProbe }
        }
        if probeWhere == "key" { probe = keyProbe }
        if !names.isEmpty { members.append(("ExpressionAttributeNames", .object(names))) }
        if !values.isEmpty { members.append(("ExpressionAttributeValues", .object(values))) }
        members += returnValues(["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])
        return dynamo("UpdateItem", .object(members), probe: probe)
    }

    // MARK: Query and Scan

    mutating func query(probing: Bool) -> FuzzRequest {
        let table = dynamoTable()
        let (partition, sort, keyProbe) = key(for: table, probing: probing && random.chance(0.5))
        var probe = keyProbe
        var values: [(String, FuzzJSON)] = [(":p", dynamoValue(partition, type: table.partitionType))]
        var condition = "\(table.partitionKey) = :p"
        if let sortKey = table.sortKey, let type = table.sortType, let sort, random.chance(0.6) {
            let form = random.int(0...3)
            switch form {
            case 0: condition += " AND \(sortKey) > :s"
            case 1: condition += " AND \(sortKey) BETWEEN :s AND :s2"
            case 2: condition += type == "N" ? " AND \(sortKey) <= :s" : " AND begins_with(\(sortKey), :s)"
            default: condition += " AND \(sortKey) = :s"
            }
            values.append((":s", dynamoValue(sort, type: type)))
            if form == 1 { values.append((":s2", dynamoValue(ordinaryKey(type), type: type))) }
        }
        var members: [(String, FuzzJSON)] = [("TableName", .string(table.name))]
        if probing && keyProbe == "ok" {
            switch random.int(0...8) {
            case 0: condition = "f0 = :p"; probe = "key condition on a non-key attribute"
            case 1: members.append(("Limit", .number(random.pick(["0", "-1", "1e9", "1.5", "99999999999999999999"])))); probe = "Limit edge"
            case 2: members.append(("ExclusiveStartKey", .object([("nope", .object([("S", .string("x"))]))]))); probe = "ExclusiveStartKey not the schema"
            case 3: members.append(("ScanIndexForward", .string("yes"))); probe = "ScanIndexForward as a string"
            case 4: members.append(("Select", .string("COUNT"))); members.append(("ProjectionExpression", .string("f0"))); probe = "Select COUNT with a projection"
            case 5: members.append(("FilterExpression", .string("\(table.partitionKey) = :p"))); probe = "filter on a key attribute"
            case 6: condition = "\(table.partitionKey) > :p"; probe = "partition key not with ="
            case 7: condition = "\(table.partitionKey) = :p AND \(table.partitionKey) = :p"; probe = "partition key twice"
            default: members.append(("Select", .string("SPECIFIC_ATTRIBUTES"))); probe = "SPECIFIC_ATTRIBUTES without a projection"
            }
        } else if random.chance(0.3) {
            members.append(("Limit", .number(String(random.int(1...5)))))
        }
        members.append(("KeyConditionExpression", .string(condition)))
        members.append(("ExpressionAttributeValues", .object(values)))
        if random.chance(0.3) { members.append(("ConsistentRead", .bool(true))) }
        if random.chance(0.2) { members.append(("ScanIndexForward", .bool(false))) }
        return dynamo("Query", .object(members), probe: probe)
    }

    mutating func scan(probing: Bool) -> FuzzRequest {
        let table = dynamoTable()
        var members: [(String, FuzzJSON)] = [("TableName", .string(table.name))]
        var probe = "ok"
        if probing {
            switch random.int(0...5) {
            case 0:
                let total = random.pick([0, 1, 1_000_000, 1_000_001])
                members.append(("TotalSegments", .number(String(total))))
                members.append(("Segment", .number("0")))
                probe = "TotalSegments \(total)"
            case 1:
                members.append(("TotalSegments", .number("4")))
                members.append(("Segment", .number(random.pick(["4", "-1", "3"]))))
                probe = "Segment at the edge"
            case 2: members.append(("Segment", .number("0"))); probe = "Segment without TotalSegments"
            case 3:
                let (condition, names, values, conditionProbe) = conditionExpression(table, probing: true)
                members.append(("FilterExpression", .string(condition)))
                if !names.isEmpty { members.append(("ExpressionAttributeNames", .object(names))) }
                if !values.isEmpty { members.append(("ExpressionAttributeValues", .object(values))) }
                probe = "filter: " + conditionProbe
            case 4: members.append(("Limit", .number(random.pick(["0", "-5", "1E+3", "1001"])))); probe = "Limit edge"
            default: members.append(("Select", .string(random.pick(["COUNT", "ALL_PROJECTED_ATTRIBUTES", "NOPE"])))); probe = "Select variant"
            }
        } else if random.chance(0.5) {
            members.append(("Limit", .number(String(random.int(1...20)))))
        }
        if random.chance(0.3) { members.append(("ConsistentRead", .bool(true))) }
        return dynamo("Scan", .object(members), probe: probe)
    }

    // MARK: Batches and transactions

    mutating func batchWrite(probing: Bool) -> FuzzRequest {
        let count = probing ? random.pick([0, 1, FuzzLimits.batchWriteItems, FuzzLimits.batchWriteItems + 1]) : random.int(1...5)
        var byTable: [(String, [FuzzJSON])] = []
        var probe = probing ? "\(count) write requests" : "ok"
        let duplicate = probing && count > 1 && random.chance(0.3)
        var first: FuzzJSON?
        for index in 0..<count {
            let table = dynamoTable()
            let request: FuzzJSON
            if random.chance(0.75) {
                let (item, itemProbe) = dynamoItem(table, probing: probing && index == 0 && random.chance(0.5))
                if itemProbe != "ok" { probe = "batch item: " + itemProbe }
                request = .object([("PutRequest", .object([("Item", item)]))])
            } else {
                let (key, _, _) = dynamoKeyMap(table, probing: false)
                request = .object([("DeleteRequest", .object([("Key", key)]))])
            }
            let written = duplicate && index == 1 ? (first ?? request) : request
            if index == 0 { first = request }
            if let position = byTable.firstIndex(where: { $0.0 == table.name }) {
                byTable[position].1.append(written)
            } else {
                byTable.append((table.name, [written]))
            }
        }
        if duplicate { probe = "batch with a duplicate request" }
        return dynamo("BatchWriteItem", .object([("RequestItems", .object(byTable.map { ($0.0, FuzzJSON.array($0.1)) }))]), probe: probe)
    }

    mutating func batchGet(probing: Bool) -> FuzzRequest {
        let table = dynamoTable()
        let count = probing ? random.pick([0, 100, 101]) : random.int(1...5)
        let keys = (0..<count).map { _ in dynamoKeyMap(table, probing: false).0 }
        return dynamo(
            "BatchGetItem", .object([("RequestItems", .object([(table.name, .object([("Keys", .array(keys))]))]))]),
            probe: probing ? "\(count) keys" : "ok")
    }

    mutating func transactWrite(probing: Bool) -> FuzzRequest {
        let shape = probing ? random.weighted([(3, "count"), (2, "same item"), (3, "item"), (3, "token"), (1, "size")]) : "ok"
        let count: Int
        switch shape {
        case "count": count = random.pick([1, FuzzLimits.transactItems, FuzzLimits.transactItems + 1])
        case "size": count = random.pick([10, 11])
        default: count = random.int(1...4)
        }
        var actions: [FuzzJSON] = []
        var probe = shape == "count" ? "\(count) actions" : "ok"
        for index in 0..<count {
            let table = dynamoTable()
            switch random.int(0...3) {
            case 0 where shape != "size":
                let (key, _, _) = dynamoKeyMap(table, probing: false)
                let (expression, names, values, _) = updateExpression(table, probing: false)
                var update: [(String, FuzzJSON)] = [("TableName", .string(table.name)), ("Key", key), ("UpdateExpression", .string(expression))]
                if !names.isEmpty { update.append(("ExpressionAttributeNames", .object(names))) }
                if !values.isEmpty { update.append(("ExpressionAttributeValues", .object(values))) }
                actions.append(.object([("Update", .object(update))]))
            case 1 where shape != "size":
                let (key, _, _) = dynamoKeyMap(table, probing: false)
                actions.append(.object([("ConditionCheck", .object([
                    ("TableName", .string(table.name)), ("Key", key), ("ConditionExpression", .string("attribute_exists(\(table.partitionKey))")),
                ]))]))
            case 2 where shape != "size":
                let (key, _, _) = dynamoKeyMap(table, probing: false)
                actions.append(.object([("Delete", .object([("TableName", .string(table.name)), ("Key", key)]))]))
            default:
                if shape == "size" {
                    let name = "fz_s"
                    let filler = Self.filler(target: FuzzLimits.itemBytes - 10, used: 2 + 6 + 4, multibyte: false)
                    let item: FuzzJSON = .object([("pk", .object([("S", .string("tx\(index)"))])), ("data", .object([("S", .string(filler))]))])
                    actions.append(.object([("Put", .object([("TableName", .string(name)), ("Item", item)]))]))
                    probe = "\(count) puts of ~400 KB (over 4 MB: \(count > 10))"
                } else {
                    let (item, itemProbe) = dynamoItem(table, probing: shape == "item" && index == 0)
                    if itemProbe != "ok" { probe = "transaction item: " + itemProbe }
                    actions.append(.object([("Put", .object([("TableName", .string(table.name)), ("Item", item)]))]))
                }
            }
        }
        if shape == "same item", let action = actions.first {
            actions.append(action)
            probe = "two actions on one item"
        }
        var members: [(String, FuzzJSON)] = [("TransactItems", .array(actions))]
        if shape == "token" || random.chance(0.3) {
            let token: String
            if shape == "token" {
                switch random.int(0...4) {
                case 0 where !requestTokens.isEmpty:
                    token = random.pick(requestTokens)
                    probe = "ClientRequestToken reused with another body"
                case 1:
                    token = String(repeating: "t", count: FuzzLimits.clientRequestTokenMax + 1)
                    probe = "ClientRequestToken 37 characters"
                case 2:
                    token = ""
                    probe = "ClientRequestToken empty"
                case 3:
                    token = "tok\u{7}\u{0}"
                    probe = "ClientRequestToken with control characters"
                default:
                    token = String(repeating: "t", count: FuzzLimits.clientRequestTokenMax)
                    probe = "ClientRequestToken 36 characters"
                }
            } else {
                token = "tok-\(seed)-\(counter)"
            }
            members.append(("ClientRequestToken", .string(token)))
            requestTokens.append(token)
            if requestTokens.count > 20 { requestTokens.removeFirst() }
        }
        return dynamo("TransactWriteItems", .object(members), probe: probe)
    }

    mutating func transactGet(probing: Bool) -> FuzzRequest {
        let count = probing ? random.pick([0, 100, 101]) : random.int(1...3)
        let gets = (0..<count).map { _ -> FuzzJSON in
            let table = dynamoTable()
            return .object([("Get", .object([("TableName", .string(table.name)), ("Key", dynamoKeyMap(table, probing: false).0)]))])
        }
        return dynamo("TransactGetItems", .object([("TransactItems", .array(gets))]), probe: probing ? "\(count) gets" : "ok")
    }

    // MARK: Tables

    mutating func createTableRequest(_ table: FuzzTable, probe: String) -> FuzzRequest {
        var schema: [FuzzJSON] = [.object([("AttributeName", .string(table.partitionKey)), ("KeyType", .string("HASH"))])]
        var definitions: [FuzzJSON] = [.object([("AttributeName", .string(table.partitionKey)), ("AttributeType", .string(table.partitionType))])]
        if let sortKey = table.sortKey, let type = table.sortType {
            schema.append(.object([("AttributeName", .string(sortKey)), ("KeyType", .string("RANGE"))]))
            definitions.append(.object([("AttributeName", .string(sortKey)), ("AttributeType", .string(type))]))
        }
        return dynamo("CreateTable", .object([
            ("TableName", .string(table.name)), ("KeySchema", .array(schema)), ("AttributeDefinitions", .array(definitions)),
            ("BillingMode", .string("PAY_PER_REQUEST")),
        ]), probe: probe)
    }

    mutating func tableName(probing: Bool) -> (String, String) {
        guard probing else { return ("fzx_\(random.word(4...10))", "ok") }
        switch random.int(0...7) {
        case 0: return (String(repeating: "t", count: 2), "table name 2 characters")
        case 1: return ("t" + random.word(2...2), "table name 3 characters")
        case 2: return ("t" + String(repeating: random.word(1...1), count: 254), "table name 255 characters")
        case 3: return (String(repeating: "t", count: 256), "table name 256 characters")
        case 4: return ("tab le", "table name with a space")
        case 5: return ("tablé", "table name with UTF-8")
        case 6: return ("", "table name empty")
        default: return ("ta/../b", "table name with a slash")
        }
    }

    mutating func createTable(probing: Bool) -> FuzzRequest {
        let what = probing ? random.weighted([(3, "name"), (3, "key names"), (4, "schema")]) : "none"
        let (name, nameProbe) = tableName(probing: what == "name")
        let types = ["S", "N", "B"]
        var table = FuzzTable(name: name, api: .dynamo, partitionKey: "pk", partitionType: random.pick(types))
        if random.chance(0.6) {
            table.sortKey = "sk"
            table.sortType = random.pick(types)
        }
        var probe = nameProbe
        if what == "key names" {
            let length = random.pick([0, 255, 256])
            table.partitionKey = String(repeating: "p", count: length)
            probe = "key name \(length) bytes"
        }
        if what == "schema" {
            let variants: [(String, FuzzJSON)] = [
                ("two HASH keys", .object([
                    ("TableName", .string(name)),
                    ("KeySchema", .array([.object([("AttributeName", .string("a")), ("KeyType", .string("HASH"))]), .object([("AttributeName", .string("b")), ("KeyType", .string("HASH"))])])),
                    ("AttributeDefinitions", .array([.object([("AttributeName", .string("a")), ("AttributeType", .string("S"))]), .object([("AttributeName", .string("b")), ("AttributeType", .string("S"))])])),
                ])),
                ("key type BOOL", .object([
                    ("TableName", .string(name)),
                    ("KeySchema", .array([.object([("AttributeName", .string("a")), ("KeyType", .string("HASH"))])])),
                    ("AttributeDefinitions", .array([.object([("AttributeName", .string("a")), ("AttributeType", .string("BOOL"))])])),
                ])),
                ("definition missing", .object([
                    ("TableName", .string(name)),
                    ("KeySchema", .array([.object([("AttributeName", .string("a")), ("KeyType", .string("HASH"))])])),
                    ("AttributeDefinitions", .array([])),
                ])),
                ("extra definition", .object([
                    ("TableName", .string(name)),
                    ("KeySchema", .array([.object([("AttributeName", .string("a")), ("KeyType", .string("HASH"))])])),
                    ("AttributeDefinitions", .array([.object([("AttributeName", .string("a")), ("AttributeType", .string("S"))]), .object([("AttributeName", .string("z")), ("AttributeType", .string("N"))])])),
                ])),
                ("RANGE only", .object([
                    ("TableName", .string(name)),
                    ("KeySchema", .array([.object([("AttributeName", .string("a")), ("KeyType", .string("RANGE"))])])),
                    ("AttributeDefinitions", .array([.object([("AttributeName", .string("a")), ("AttributeType", .string("S"))])])),
                ])),
                ("KeySchema not a list", .object([("TableName", .string(name)), ("KeySchema", .string("pk")), ("AttributeDefinitions", .array([]))])),
                ("ProvisionedThroughput 0", .object([
                    ("TableName", .string(name)),
                    ("KeySchema", .array([.object([("AttributeName", .string("a")), ("KeyType", .string("HASH"))])])),
                    ("AttributeDefinitions", .array([.object([("AttributeName", .string("a")), ("AttributeType", .string("S"))])])),
                    ("BillingMode", .string("PROVISIONED")),
                    ("ProvisionedThroughput", .object([("ReadCapacityUnits", .number("0")), ("WriteCapacityUnits", .number("-1"))])),
                ])),
                ("existing table", .object([
                    ("TableName", .string("fz_s")),
                    ("KeySchema", .array([.object([("AttributeName", .string("pk")), ("KeyType", .string("HASH"))])])),
                    ("AttributeDefinitions", .array([.object([("AttributeName", .string("pk")), ("AttributeType", .string("S"))])])),
                ])),
            ]
            let (variantProbe, body) = random.pick(variants)
            return dynamo("CreateTable", body, probe: "schema: " + variantProbe)
        }
        let request = createTableRequest(table, probe: probe)
        // Only a valid ordinary table joins the model (the generator never sees answers).
        if what == "none" && extraTables.count < 6 {
            extraTables.append(table)
            tables.append(table)
        }
        return request
    }

    mutating func describeTable(probing: Bool) -> FuzzRequest {
        let (name, probe) = probing ? tableName(probing: true) : (random.pick(tables).name, "ok")
        return dynamo("DescribeTable", .object([("TableName", .string(name))]), probe: probe)
    }

    mutating func deleteTable(probing: Bool) -> FuzzRequest {
        if !probing, let table = extraTables.first {
            extraTables.removeFirst()
            tables.removeAll { $0.name == table.name }
            return dynamo("DeleteTable", .object([("TableName", .string(table.name))]), probe: "ok")
        }
        let (name, probe) = tableName(probing: true)
        return dynamo("DeleteTable", .object([("TableName", .string(name))]), probe: probe)
    }

    // MARK: Malformed

    mutating func malformedDynamo() -> FuzzRequest {
        let table = dynamoTable()
        let good = Array(#"{"TableName":"\#(table.name)","Key":{"pk":{"S":"k1"}}}"#.utf8)
        switch random.int(0...13) {
        case 0: return dynamo("GetItem", bytes: Array(good.prefix(random.int(1...(good.count - 1)))), probe: "truncated JSON")
        case 1: return dynamo("GetItem", bytes: [], probe: "empty body")
        case 2: return dynamo("PutItem", bytes: Array("[]".utf8), probe: "body is a list")
        case 3: return dynamo("PutItem", bytes: Array("null".utf8), probe: "body is null")
        case 4: return dynamo("GetItem", bytes: Array(String(repeating: "[", count: 100_000).utf8), probe: "100000 nested lists")
        case 5: return dynamo("GetItem", bytes: good + Array(",".utf8), probe: "trailing garbage")
        case 6: return dynamo("GetItem", bytes: [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D], probe: "invalid UTF-8 member name")
        case 7: return dynamo("GetItem", bytes: good, probe: "unknown target", target: "DynamoDB_20120810.Bogus")
        case 8: return dynamo("GetItem", bytes: good, probe: "target without prefix", target: "GetItem")
        case 9: return dynamo("PutItem", .object([("TableName", .number("5")), ("Item", .array([]))]), probe: "wrong member types")
        case 10: return dynamo("PutItem", .object([("TableName", .string(table.name)), ("TableName", .string("other")), ("Item", .object([]))]), probe: "duplicate member")
        case 11: return dynamo("GetItem", bytes: Array(#"{"TableName":"\#(table.name)","Key":{"pk":{"N":1e999999}}}"#.utf8), probe: "huge number literal")
        case 12: return dynamo("Query", .object([("TableName", .string(table.name))]), probe: "Query without a key condition")
        default: return dynamo("UpdateItem", .object([("TableName", .string(table.name)), ("Key", .object([("pk", .object([("S", .string("k1"))]))])), ("AttributeUpdates", .object([("f0", .object([("Action", .string("PUT"))]))]))]), probe: "legacy AttributeUpdates without a value")
        }
    }
}
