/// Native JSON API requests.
extension RequestGenerator {
    /// Percent-encodes everything but RFC 3986's unreserved characters.
    static func percent(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF")
        var out = ""
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
            }
        }
        return out
    }

    static func percent(_ text: String) -> String { percent(Array(text.utf8)) }

    static func query(_ parameters: [(String, String)]) -> String {
        parameters.isEmpty ? "" : "?" + parameters.map { "\(percent($0.0))=\(percent($0.1))" }.joined(separator: "&")
    }

    mutating func native(
        _ kind: String, _ method: String, _ path: String, body: [UInt8] = [], probe: String, idempotencyKey: String? = nil
    ) -> FuzzRequest {
        var headers: [(String, String)] = body.isEmpty ? [] : [("Content-Type", "application/json")]
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        return FuzzRequest(api: .native, kind: "native.\(kind)", probe: probe, method: method, path: path, headers: headers, body: body, node: pickNode())
    }

    mutating func nativeRequest(_ operation: String, probing: Bool) -> FuzzRequest {
        switch operation {
        case "create_table": return nativeCreate(probing: probing)
        case "put_item": return nativePut(probing: probing)
        case "get_item", "delete_item", "rollback": return nativeKeyed(operation, probing: probing)
        case "query": return nativeQuery(probing: probing)
        case "delete_table":
            let (name, probe) = tableName(probing: true)
            return native("delete_table", "DELETE", "/tables/\(Self.percent(name))", probe: probe)
        default: return malformedNative()
        }
    }

    mutating func nativeCreateRequest(_ table: FuzzTable, probe: String) -> FuzzRequest {
        var members: [(String, FuzzJSON)] = [("table_name", .string(table.name)), ("partition_key_name", .string(table.partitionKey))]
        if let sortKey = table.sortKey { members.append(("sort_key_name", .string(sortKey))) }
        return native("create_table", "POST", "/tables", body: FuzzJSON.object(members).bytes, probe: probe)
    }

    mutating func nativeCreate(probing: Bool) -> FuzzRequest {
        guard probing else {
            let (name, _) = tableName(probing: false)
            return nativeCreateRequest(FuzzTable(name: name, api: .native, partitionKey: "id", partitionType: "S"), probe: "ok")
        }
        switch random.int(0...5) {
        case 0, 1:
            let (name, probe) = tableName(probing: true)
            return nativeCreateRequest(FuzzTable(name: name, api: .native, partitionKey: "id", partitionType: "S"), probe: probe)
        case 2:
            let length = random.pick([0, 255, 256])
            return nativeCreateRequest(
                FuzzTable(name: "fzx_\(random.word())", api: .native, partitionKey: String(repeating: "k", count: length), partitionType: "S"),
                probe: "key name \(length) bytes")
        case 3:
            return nativeCreateRequest(FuzzTable(name: "fzx_same", api: .native, partitionKey: "id", partitionType: "S", sortKey: "id", sortType: "S"), probe: "sort key = partition key")
        case 4:
            return native("create_table", "POST", "/tables", body: FuzzJSON.object([("table_name", .number("7")), ("partition_key_name", .null)]).bytes, probe: "wrong member types")
        default:
            return native("create_table", "POST", "/tables", body: FuzzJSON.object([("table_name", .string("fzx_extra")), ("partition_key_name", .string("id")), ("bogus", .bool(true))]).bytes, probe: "unknown member")
        }
    }

    /// A native item (a JSON object) for `table`, at most one edge.
    mutating func nativeItem(_ table: FuzzTable, probing: Bool) -> (FuzzJSON, String) {
        let what = probing ? random.weighted([(5, "key"), (4, "attribute"), (2, "size")]) : "none"
        let (partition, sort, keyProbe) = key(for: table, probing: what == "key")
        // Native tables are untyped: a key edge of type N is written as a JSON number.
        let partitionType = what == "key" && random.chance(0.3) ? "N" : table.partitionType
        let partitionValue = partitionType == table.partitionType ? partition : edgeKey("N", limit: FuzzLimits.partitionKeyBytes, role: "pk")
        var members: [(String, FuzzJSON)] = [(table.partitionKey, nativeValue(partitionValue, type: partitionType))]
        if let sortKey = table.sortKey, let sort { members.append((sortKey, nativeValue(sort, type: table.sortType ?? "S"))) }
        for index in 0..<random.int(0...3) { members.append(("f\(index)", random.chance(0.5) ? .string(random.word()) : .number(String(random.int(-99...99))))) }
        var probe = partitionType == table.partitionType ? keyProbe : partitionValue.probe
        if what == "attribute" {
            switch random.int(0...9) {
            case 0:
                let depth = random.pick([31, 32, 33, 500])
                var value: FuzzJSON = .string("deep")
                for _ in 0..<(depth - 1) { value = random.chance(0.5) ? .array([value]) : .object([("d", value)]) }
                members.append(("nest", value))
                probe = "attr nesting \(depth) (item depth \(depth + 1))"
            case 1:
                let number = random.pick([
                    String(repeating: "9", count: 38), String(repeating: "9", count: 39), "1E+125", "1E+126", "1E-130", "1E-131",
                    "1E+400", "-1E-400", "1" + String(repeating: "0", count: 5000), "0." + String(repeating: "0", count: 5000) + "1",
                ])
                members.append(("n", .number(number)))
                probe = "attr number \(number.prefix(16))… (\(number.count) characters)"
            case 2: members.append(("s", .rawString([0xF0, 0x28, 0x8C, 0x28]))); probe = "attr invalid UTF-8"
            case 3: members.append(("", .string("x"))); probe = "attr empty name"
            case 4: members.append(("s", .string(""))); probe = "attr empty string"
            case 5: members.append((String(repeating: "n", count: 65_536), .bool(true))); probe = "attr name 65536 bytes"
            case 6: members.append(("s", .string("\u{0}\u{1}\u{1F}"))); probe = "attr control characters"
            case 7: members.append(("dup", .number("1"))); members.append(("dup", .number("2"))); probe = "duplicate member"
            case 8: members.append(("big", .array((0..<20_000).map { _ in .number("1") }))); probe = "attr list of 20000 numbers"
            default: members.append(("s", .rawString(Array("\\ud800".utf8)))); probe = "attr lone surrogate escape"
            }
        } else if what == "size" {
            let delta = random.pick([-1, 0, 1, 2, 1000])
            let partition = "big\(random.int(0...3))"
            members = [(table.partitionKey, .string(partition))]
            var used = table.partitionKey.utf8.count + partition.utf8.count
            if let sortKey = table.sortKey {
                members.append((sortKey, .string("s")))
                used += sortKey.utf8.count + 1
            }
            used += 4
            let multibyte = random.chance(0.3)
            members.append(("data", .string(Self.filler(target: FuzzLimits.itemBytes + delta, used: used, multibyte: multibyte))))
            probe = "item \(FuzzLimits.itemBytes + delta) bytes\(multibyte ? " (2-byte UTF-8)" : "")"
        }
        return (.object(members), probe)
    }

    /// An Idempotency-Key: none, fresh, reused (with whatever body this request has), or at an edge.
    mutating func idempotencyKey(probing: Bool) -> (String?, String?) {
        guard random.chance(0.5) else { return (nil, nil) }
        if probing {
            switch random.int(0...4) {
            case 0 where !idempotencyKeys.isEmpty: return (random.pick(idempotencyKeys), "Idempotency-Key reused with another body")
            case 1: return (String(repeating: "i", count: FuzzLimits.idempotencyKeyMax), "Idempotency-Key 255 characters")
            case 2: return (String(repeating: "i", count: FuzzLimits.idempotencyKeyMax + 1), "Idempotency-Key 256 characters")
            case 3: return ("", "Idempotency-Key empty")
            default: return ("key with spaces é", "Idempotency-Key not printable ASCII")
            }
        }
        let key = "idem-\(seed)-\(counter)"
        idempotencyKeys.append(key)
        if idempotencyKeys.count > 20 { idempotencyKeys.removeFirst() }
        return (key, nil)
    }

    mutating func nativePut(probing: Bool) -> FuzzRequest {
        let table = nativeTable()
        let probeKey = probing && random.chance(0.25)
        let (item, itemProbe) = nativeItem(table, probing: probing && !probeKey)
        let (key, keyProbe) = idempotencyKey(probing: probeKey)
        var parameters: [(String, String)] = []
        var probe = keyProbe ?? itemProbe
        if probing && random.chance(0.15) {
            let version = random.pick(["0", "-1", "18446744073709551616", "abc", "1.5", ""])
            parameters.append(("expected_version", version))
            probe = "expected_version \(version)"
        } else if random.chance(0.1) {
            parameters.append(("expected_version", String(random.int(1...50))))
        }
        return native("put_item", "PUT", "/tables/\(table.name)/items" + Self.query(parameters), body: item.bytes, probe: probe, idempotencyKey: key)
    }

    /// Key parameters of the native URL API (strings unless typed number).
    mutating func nativeKeyParameters(_ table: FuzzTable, probing: Bool) -> ([(String, String)], String) {
        let (partition, sort, probe) = key(for: table, probing: probing)
        var parameters: [(String, String)] = [("partition_key", partition.text)]
        if partition.probe.contains(" N ") || (probing && random.chance(0.2)) { parameters.append(("partition_key_type", random.pick(["number", "string", "bogus"]))) }
        if let sort { parameters.append(("sort_key", sort.text)) }
        return (parameters, probe)
    }

    mutating func nativeKeyed(_ operation: String, probing: Bool) -> FuzzRequest {
        let table = nativeTable()
        var (parameters, probe) = nativeKeyParameters(table, probing: probing)
        var key: String?
        switch operation {
        case "get_item":
            if random.chance(0.4) { parameters.append(("consistency", probing && random.chance(0.3) ? "bogus" : random.pick(["strong", "local"]))) }
            return native("get_item", "GET", "/tables/\(table.name)/items" + Self.query(parameters), probe: probe)
        case "delete_item":
            let (idempotency, keyProbe) = idempotencyKey(probing: probing && probe == "ok")
            key = idempotency
            if let keyProbe { probe = keyProbe }
            if random.chance(0.15) { parameters.append(("expected_version", String(random.int(1...50)))) }
            return native("delete_item", "DELETE", "/tables/\(table.name)/items" + Self.query(parameters), probe: probe, idempotencyKey: key)
        default:
            if random.chance(0.3) { parameters.append(("expected_version", String(random.int(1...50)))) }
            return native("rollback", "POST", "/tables/\(table.name)/items/rollback" + Self.query(parameters), probe: probe)
        }
    }

    mutating func nativeQuery(probing: Bool) -> FuzzRequest {
        let table = nativeTable()
        let (partition, _, keyProbe) = key(for: table, probing: probing && random.chance(0.5))
        var parameters: [(String, String)] = [("partition_key", partition.text)]
        var probe = keyProbe
        if table.sortKey != nil && random.chance(0.4) { parameters.append(("sort_key_prefix", "k")) }
        if probing && keyProbe == "ok" {
            switch random.int(0...4) {
            case 0:
                let limit = random.pick(["0", "-1", "1000", "1001", "abc", "99999999999999999999"])
                parameters.append(("limit", limit))
                probe = "limit \(limit)"
            case 1: parameters.append(("continuation_token", random.pick(["garbage", "", "%%%", String(repeating: "A", count: 5000)]))); probe = "continuation_token garbage"
            case 2: parameters.append(("bogus", "1")); probe = "unknown parameter"
            case 3: parameters.removeAll(); probe = "no partition_key"
            default: parameters.append(("sort_key_prefix", String(repeating: "s", count: 1025))); probe = "sort_key_prefix 1025 bytes"
            }
        } else if random.chance(0.4) {
            parameters.append(("limit", String(random.int(1...10))))
        }
        return native("query", "GET", "/tables/\(table.name)/query" + Self.query(parameters), probe: probe)
    }

    mutating func malformedNative() -> FuzzRequest {
        let table = nativeTable()
        let good = Array(#"{"\#(table.partitionKey)":"k1","f0":1}"#.utf8)
        let path = "/tables/\(table.name)/items"
        switch random.int(0...9) {
        case 0: return native("put_item", "PUT", path, body: Array(good.prefix(random.int(1...(good.count - 1)))), probe: "truncated JSON")
        case 1: return native("put_item", "PUT", path, body: Array("[1,2]".utf8), probe: "item is a list")
        case 2: return native("put_item", "PUT", path, body: Array(String(repeating: "[", count: 100_000).utf8), probe: "100000 nested lists")
        case 3: return native("put_item", "PUT", path, body: [0xFF, 0xFE, 0x00], probe: "binary body")
        case 4: return native("put_item", "PUT", path, body: good + Array("}".utf8), probe: "trailing garbage")
        case 5: return native("put_item", "PUT", "/tables/\(Self.percent(String(repeating: "t", count: 300)))/items", body: good, probe: "table name 300 characters in the path")
        case 6: return native("get_item", "GET", path + "?partition_key=%FF%FE", probe: "invalid UTF-8 in the query")
        case 7: return native("get_item", "GET", path + "?partition_key=a&partition_key=b", probe: "parameter twice")
        case 8: return native("put_item", "PUT", path, body: Array(#"{"\#(table.partitionKey)":"k1","n":1e99999999999}"#.utf8), probe: "huge exponent literal")
        default: return native("put_item", "PUT", path, body: [], probe: "empty body")
        }
    }
}
