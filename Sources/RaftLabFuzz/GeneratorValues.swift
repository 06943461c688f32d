/// Keys, attribute values, names and numbers at the documented edges.
extension RequestGenerator {
    /// A value for a key attribute of `type`; `probe` asks for one at an edge.
    /// Returns the value as text (S: the string; N: the number's literal;
    /// B: base64), an override for wire-level oddities, and what it probes.
    struct KeyValue {
        var text: String
        /// A wire-level value replacing the usual `{"T": text}` (wrong types, invalid UTF-8).
        var dynamoOverride: FuzzJSON?
        /// The native JSON value (string or number), when it differs from the default.
        var nativeOverride: FuzzJSON?
        var probe: String
    }

    static let twoByte = "é"
    static let threeByte = "€"
    static let fourByte = "😀"

    mutating func ordinaryKey(_ type: String) -> KeyValue {
        switch type {
        case "N": return KeyValue(text: String(random.int(-50...50)), probe: "ok")
        case "B": return KeyValue(text: FuzzJSON.base64([UInt8(random.int(0...9)), UInt8(random.int(0...3))]), probe: "ok")
        default: return KeyValue(text: "k\(random.int(0...40))", probe: "ok")
        }
    }

    mutating func edgeKey(_ type: String, limit: Int, role: String) -> KeyValue {
        switch type {
        case "N":
            let choices: [(String, String)] = [
                ("0", "zero"), ("-0", "negative zero"),
                (String(repeating: "9", count: 38), "38 digits"),
                (String(repeating: "9", count: 39), "39 digits"),
                ("1" + String(repeating: "0", count: 37) + "1", "39 significant digits"),
                ("0.000000000000000000000000000000000000000000012345678901234567890123456789012345678", "38 digits, leading zeros"),
                ("9.9999999999999999999999999999999999999E+125", "largest magnitude"),
                ("1E+126", "exponent past +125"), ("-9.9999999999999999999999999999999999999E+125", "most negative"),
                ("1E-130", "smallest magnitude"), ("1E-131", "exponent past -130"), ("-1E-130", "negative smallest"),
                ("1" + String(repeating: "0", count: 125), "1E+125 written out"),
                ("abc", "not a number"), ("", "empty number"), ("1e", "truncated exponent"), ("+1", "leading plus"),
                (" 1", "leading space"), ("NaN", "NaN"), ("Infinity", "Infinity"), ("0x10", "hex"), ("1E+99999999999999999999", "huge exponent"),
                (String(repeating: "1", count: limit), "\(limit) digits"),
                (String(repeating: "1", count: limit + 1), "\(limit + 1) digits"),
            ]
            let (text, what) = random.pick(choices)
            return KeyValue(text: text, probe: "\(role) N \(what)")
        case "B":
            let sizes = [0, 1, limit - 1, limit, limit + 1, 4 * limit]
            let size = random.pick(sizes)
            if random.chance(0.15) {
                let bad = random.pick(["!!!!", "YQ", "YQ=", "Y Q==", "====", "\u{00e9}"])
                return KeyValue(text: bad, probe: "\(role) B invalid base64 \"\(bad)\"")
            }
            return KeyValue(text: FuzzJSON.base64(random.bytes(size)), probe: "\(role) B \(size) bytes")
        default:
            let choice = random.int(0...13)
            switch choice {
            case 0: return KeyValue(text: "", probe: "\(role) S empty")
            case 1: return KeyValue(text: String(repeating: "a", count: limit - 1), probe: "\(role) S \(limit - 1) bytes")
            case 2: return KeyValue(text: String(repeating: "a", count: limit), probe: "\(role) S \(limit) bytes")
            case 3: return KeyValue(text: String(repeating: "a", count: limit + 1), probe: "\(role) S \(limit + 1) bytes")
            case 4: return KeyValue(text: String(repeating: Self.twoByte, count: limit / 2), probe: "\(role) S \(limit) bytes of 2-byte UTF-8")
            case 5: return KeyValue(text: "a" + String(repeating: Self.twoByte, count: limit / 2), probe: "\(role) S \(limit + 1) bytes, 2-byte UTF-8 straddling")
            case 6: return KeyValue(text: String(repeating: Self.threeByte, count: limit / 3), probe: "\(role) S \(limit / 3 * 3) bytes of 3-byte UTF-8")
            case 7: return KeyValue(text: String(repeating: Self.fourByte, count: limit / 4), probe: "\(role) S \(limit) bytes of 4-byte UTF-8")
            case 8: return KeyValue(text: String(repeating: Self.fourByte, count: limit / 4 + 1), probe: "\(role) S \(limit + 4) bytes of 4-byte UTF-8")
            case 9: return KeyValue(text: "a\u{0}b", probe: "\(role) S with NUL")
            case 10:
                return KeyValue(
                    text: "invalid", dynamoOverride: .object([("S", .rawString([0x61, 0xFF, 0xFE, 0x62]))]),
                    nativeOverride: .rawString([0x61, 0xFF, 0xFE, 0x62]), probe: "\(role) S invalid UTF-8")
            case 11:
                return KeyValue(text: "x", dynamoOverride: .object([("N", .string("1"))]), nativeOverride: .bool(true), probe: "\(role) wrong type")
            case 12:
                return KeyValue(
                    text: "x", dynamoOverride: .object([("S", .string("a")), ("N", .string("1"))]), nativeOverride: .null,
                    probe: "\(role) two types / null")
            default:
                return KeyValue(text: String(repeating: "z", count: 10 * limit), probe: "\(role) S \(10 * limit) bytes")
            }
        }
    }

    /// `{"T": text}` unless overridden.
    func dynamoValue(_ key: KeyValue, type: String) -> FuzzJSON {
        key.dynamoOverride ?? .object([(type, type == "N" ? .string(key.text) : .string(key.text))])
    }

    /// The native JSON of a key: a string, or for N-typed native keys a number literal.
    func nativeValue(_ key: KeyValue, type: String) -> FuzzJSON {
        if let override = key.nativeOverride { return override }
        return type == "N" ? .number(key.text) : .string(key.text)
    }

    /// A table's key: both attributes, one of them (at most) at an edge.
    mutating func key(for table: FuzzTable, probing: Bool) -> (partition: KeyValue, sort: KeyValue?, probe: String) {
        let probeSort = table.sortKey != nil && random.chance(0.4)
        var partition = ordinaryKey(table.partitionType)
        var sort = table.sortType.map { ordinaryKey($0) }
        if probing {
            if probeSort, let type = table.sortType {
                sort = edgeKey(type, limit: FuzzLimits.sortKeyBytes, role: "sk")
            } else {
                partition = edgeKey(table.partitionType, limit: FuzzLimits.partitionKeyBytes, role: "pk")
            }
        }
        let probe = [partition.probe, sort?.probe].compactMap { $0 }.first { $0 != "ok" } ?? "ok"
        return (partition, sort, probe)
    }

    mutating func dynamoKeyMap(_ table: FuzzTable, probing: Bool) -> (FuzzJSON, [(String, FuzzJSON)], String) {
        let (partition, sort, probe) = key(for: table, probing: probing)
        var members: [(String, FuzzJSON)] = [(table.partitionKey, dynamoValue(partition, type: table.partitionType))]
        if let sort, let name = table.sortKey, let type = table.sortType { members.append((name, dynamoValue(sort, type: type))) }
        return (.object(members), members, probe)
    }

    // MARK: Attribute values

    mutating func ordinaryAttribute(depth: Int = 0) -> FuzzJSON {
        switch random.int(0...(depth > 2 ? 4 : 8)) {
        case 0: return .object([("S", .string(random.word()))])
        case 1: return .object([("N", .string(String(random.int(-1000...1000))))])
        case 2: return .object([("BOOL", .bool(random.chance(0.5)))])
        case 3: return .object([("NULL", .bool(true))])
        case 4: return .object([("B", .string(FuzzJSON.base64(random.bytes(random.int(1...8)))))])
        case 5: return .object([("SS", .array(["a", "b", random.word()].uniqued().map { .string($0) }))])
        case 6: return .object([("NS", .array(["1", "2.5", String(random.int(3...99))].map { .string($0) }))])
        case 7: return .object([("L", .array((0..<random.int(0...3)).map { _ in ordinaryAttribute(depth: depth + 1) }))])
        default:
            return .object([("M", .object((0..<random.int(0...3)).map { i in ("m\(i)", ordinaryAttribute(depth: depth + 1)) }))])
        }
    }

    /// Nested maps (or lists) `depth` levels deep around a string.
    static func nested(depth: Int, list: Bool) -> FuzzJSON {
        var value: FuzzJSON = .object([("S", .string("deep"))])
        for _ in 0..<depth {
            value = list ? .object([("L", .array([value]))]) : .object([("M", .object([("d", value)]))])
        }
        return value
    }

    /// A non-key attribute at an edge: (name, value, probe).
    mutating func edgeAttribute() -> (String, FuzzJSON, String) {
        switch random.int(0...21) {
        case 0: return ("a", .object([("S", .string(""))]), "attr empty S")
        case 1: return ("a", .object([("B", .string(""))]), "attr empty B")
        case 2: return ("a", .object([("SS", .array([]))]), "attr empty SS")
        case 3: return ("a", .object([("SS", .array([.string("x"), .string("x")]))]), "attr duplicate SS")
        case 4: return ("a", .object([("NS", .array([.string("1"), .string("1.0")]))]), "attr NS duplicate by value")
        case 5:
            let depth = random.pick([FuzzLimits.nestingDepth - 1, FuzzLimits.nestingDepth, FuzzLimits.nestingDepth + 1, 99])
            return ("a", Self.nested(depth: depth, list: false), "attr nested M depth \(depth)")
        case 6:
            let depth = random.pick([FuzzLimits.nestingDepth - 1, FuzzLimits.nestingDepth, FuzzLimits.nestingDepth + 1])
            return ("a", Self.nested(depth: depth, list: true), "attr nested L depth \(depth)")
        case 7: return ("a", .object([("S", .number("1"))]), "attr S holding a number")
        case 8: return ("a", .object([("N", .string("x1"))]), "attr N not a number")
        case 9: return ("a", .object([("BOOL", .string("true"))]), "attr BOOL as string")
        case 10: return ("a", .object([("NULL", .bool(false))]), "attr NULL false")
        case 11: return ("a", .object([]), "attr no type")
        case 12: return ("a", .object([("X", .string("1"))]), "attr unknown type")
        case 13: return ("", .object([("S", .string("v"))]), "attr empty name")
        case 14:
            let length = random.pick([FuzzLimits.attributeNameBytes, FuzzLimits.attributeNameBytes + 1])
            return (String(repeating: "n", count: length), .object([("S", .string("v"))]), "attr name \(length) bytes")
        case 15: return ("a", .object([("S", .rawString([0xC3, 0x28]))]), "attr invalid UTF-8")
        case 16:
            let number = random.pick([
                "9.9999999999999999999999999999999999999E+125", "1E+126", "1E-130", "1E-131", String(repeating: "7", count: 38),
                String(repeating: "7", count: 39), "-0", "0.0000", "1" + String(repeating: "0", count: 126),
            ])
            return ("a", .object([("N", .string(number))]), "attr N \(number.prefix(20))")
        case 17: return ("a", .object([("L", .array([]))]), "attr empty L")
        case 18: return ("a", .object([("M", .object([("", .object([("S", .string("x"))]))]))]), "attr M empty member name")
        case 19: return ("a", .object([("S", .string("x")), ("N", .string("1"))]), "attr two types")
        case 20: return ("a", .object([("BS", .array([.string("!!")]))]), "attr BS invalid base64")
        default: return ("a", .object([("SS", .array([.number("1")]))]), "attr SS holding a number")
        }
    }

    /// Bytes of a string attribute that brings an item of `table` with the
    /// given key to `target` bytes, as DynamoDB counts it (names plus values).
    static func filler(target: Int, used: Int, multibyte: Bool) -> String {
        let remaining = max(0, target - used)
        if multibyte {
            return String(repeating: twoByte, count: remaining / 2) + (remaining % 2 == 1 ? "a" : "")
        }
        return String(repeating: "x", count: remaining)
    }

    static func keyBytes(_ key: KeyValue, type: String) -> Int {
        switch type {
        case "N": return max(1, (key.text.filter(\.isNumber).count + 1) / 2 + 1)
        case "B": return key.text.count / 4 * 3
        default: return key.text.utf8.count
        }
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
