/// `Codable`, for files written through Foundation's `JSONEncoder` (the
/// benchmark's `report.json`), not for replicated state: state and the wire
/// use `canonicalText`, which keeps every digit.
///
/// Encoding goes through the encoder's own number types, so a number prints
/// as the encoder prints them: an integer that fits Int64 (or UInt64) as that
/// integer, anything else as the nearest Double (`0.25`, `1e+20`) — the text
/// the report wrote when its config held `Int64` and `Double` cases. Decoding
/// accepts any JSON; a number is taken as an integer when it reads as one and
/// otherwise from the Double the decoder reads, so a value written from a
/// Double decodes to that Double's digits.
extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .number(JSONNumber(value))
        } else if let value = try? container.decode(UInt64.self) {
            self = .number(JSONNumber(value))
        } else if let value = try? container.decode(Double.self) {
            guard let number = JSONNumber(value) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(value) is not a JSON number")
            }
            self = .number(number)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(JSONObject(value))
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .array(let elements):
            var container = encoder.unkeyedContainer()
            for element in elements { try container.encode(element) }
        case .object(let object):
            // Members in their (byte-sorted) order; an encoder asked to sort keys sorts them its own way.
            var container = encoder.container(keyedBy: MemberKey.self)
            for member in object.members { try container.encode(member.value, forKey: MemberKey(member.key)) }
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .string(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .number(let number):
            var container = encoder.singleValueContainer()
            if let integer = number.int64Value {
                try container.encode(integer)
            } else if let integer = number.uint64Value {
                try container.encode(integer)
            } else {
                try container.encode(number.doubleValue)
            }
        }
    }

    private struct MemberKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ key: String) { stringValue = key }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

extension JSONNumber {
    /// The exact value of `value`.
    public init(_ value: Int64) {
        self.init(Int(value))
    }

    /// The exact value of `value`.
    public init(_ value: UInt64) {
        let digits = String(value).utf8.map { $0 - 0x30 }
        self.init(negative: false, digits: digits, pointPosition: digits.count)!
    }

    /// The digits of the shortest text that reads back as `value` (`0.1` is
    /// 0.1, not the binary fraction's 55 digits); nil for NaN and infinities,
    /// which JSON cannot hold.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        // Swift prints the shortest round-tripping form ("0.1", "1e-05", "1e+20"),
        // all of which the JSON number grammar accepts.
        self.init(value.description)
    }

    /// The exact value when it is a nonnegative integer that fits a UInt64.
    public var uint64Value: UInt64? {
        guard isInteger, !isNegative, exponent < 20 else { return nil }
        var value: UInt64 = 0
        for position in 0...max(exponent, 0) where !isZero {
            let digit = UInt64(position < digits.count ? digits[position] : 0)
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = shifted.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = next
        }
        return value
    }
}
