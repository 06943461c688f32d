/// An exact decimal number, as JSON writes it: never rounded through a Double.
///
/// Kept normalized (no leading or trailing zeros in the significand, one form
/// for zero) so that equal values are equal and serialize to the same text:
/// `1`, `1.0` and `10e-1` are one number whose canonical text is `1`. `-0`
/// reads as `0`. State must be byte-identical on every node, and binary
/// floating point would differ in rounding, so numbers stay decimal digits.
public struct JSONNumber: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// True below zero; zero is never negative.
    public let isNegative: Bool
    /// Significant decimal digits (values 0...9), first and last nonzero;
    /// empty for zero.
    public let digits: [UInt8]
    /// Power of ten of the first digit: value = d1.d2d3... × 10^exponent (0 for zero).
    public let exponent: Int

    /// Numbers whose exponent lies outside ±`exponentLimit` are refused, so
    /// that hostile input like `1e99999999999999999999` cannot overflow, and
    /// the exponent fits the 32-bit field of the order-preserving key encoding.
    public static let exponentLimit = 1_000_000_000

    public static let zero = JSONNumber(isNegative: false, digits: [], exponent: 0)

    private init(isNegative: Bool, digits: [UInt8], exponent: Int) {
        self.isNegative = isNegative
        self.digits = digits
        self.exponent = exponent
    }

    /// Normalizes `digits` (values 0...9) read with the decimal point after
    /// `pointPosition` of them (may be negative or past the end). Nil when the
    /// exponent is out of range.
    init?(negative: Bool, digits raw: [UInt8], pointPosition: Int) {
        guard let first = raw.firstIndex(where: { $0 != 0 }) else {
            self = .zero
            return
        }
        let last = raw.lastIndex(where: { $0 != 0 })!
        let exponent = pointPosition - (first - raw.startIndex) - 1
        guard abs(exponent) <= JSONNumber.exponentLimit else { return nil }
        self.init(isNegative: negative, digits: Array(raw[first...last]), exponent: exponent)
    }

    public init(_ value: Int) {
        let negative = value < 0
        var magnitude = value.magnitude
        var reversed: [UInt8] = []
        repeat {
            reversed.append(UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        self.init(negative: negative, digits: reversed.reversed(), pointPosition: reversed.count)!
    }

    /// Parses the whole of `text` as one JSON number (RFC 8259 grammar: no
    /// `+`, no leading zeros, no bare `.`). Nil for anything else.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        var scanner = JSONNumberScanner(bytes: bytes, position: 0)
        guard case .number(let number) = scanner.scan(), scanner.position == bytes.count else { return nil }
        self = number
    }

    public var isZero: Bool { digits.isEmpty }

    /// True when the value has no fractional part.
    public var isInteger: Bool { isZero || exponent >= digits.count - 1 }

    /// The exact value when it is an integer that fits an Int64.
    public var int64Value: Int64? {
        guard isInteger else { return nil }
        guard exponent < 19 else { return nil }
        var value: Int64 = 0
        for position in 0...max(exponent, 0) where !isZero {
            let digit = Int64(position < digits.count ? digits[position] : 0)
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = isNegative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = next
        }
        return value
    }

    /// The nearest Double (may round; for display and arithmetic, never for state).
    public var doubleValue: Double { Double(description) ?? .nan }

    /// The canonical text: the shortest form JavaScript's `Number#toString`
    /// would choose for these digits, so plain integers such as `1981` stay
    /// plain. With k digits and the point after n = exponent + 1 of them:
    /// integers when k ≤ n ≤ 21, a decimal point when 0 < n ≤ 21,
    /// `0.000ddd` when -6 < n ≤ 0, otherwise `d.ddde+N` / `d.ddde-N`.
    public var description: String {
        if isZero { return "0" }
        var out = isNegative ? "-" : ""
        let text = String(decoding: digits.map { $0 + 0x30 }, as: UTF8.self)
        let k = digits.count
        let n = exponent + 1
        if k <= n && n <= 21 {
            out += text + String(repeating: "0", count: n - k)
        } else if 0 < n && n <= 21 {
            out += String(text.prefix(n)) + "." + String(text.dropFirst(n))
        } else if -6 < n && n <= 0 {
            out += "0." + String(repeating: "0", count: -n) + text
        } else {
            out += String(text.prefix(1))
            if k > 1 { out += "." + String(text.dropFirst()) }
            out += exponent >= 0 ? "e+\(exponent)" : "e-\(-exponent)"
        }
        return out
    }

    /// Numeric order.
    public static func < (a: JSONNumber, b: JSONNumber) -> Bool {
        let signA = a.isZero ? 0 : (a.isNegative ? -1 : 1)
        let signB = b.isZero ? 0 : (b.isNegative ? -1 : 1)
        if signA != signB { return signA < signB }
        if signA == 0 { return false }
        let magnitude = compareMagnitude(a, b)
        return signA > 0 ? magnitude < 0 : magnitude > 0
    }

    /// -1, 0 or 1 as |a| is below, equal to or above |b| (both nonzero).
    private static func compareMagnitude(_ a: JSONNumber, _ b: JSONNumber) -> Int {
        if a.exponent != b.exponent { return a.exponent < b.exponent ? -1 : 1 }
        if a.digits == b.digits { return 0 }
        return a.digits.lexicographicallyPrecedes(b.digits) ? -1 : 1
    }
}

/// The RFC 8259 number grammar, shared by the JSON parser and
/// `JSONNumber.init?(_:)`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
struct JSONNumberScanner {
    enum Outcome {
        case number(JSONNumber)
        case malformed(String)
        case outOfRange
    }

    let bytes: [UInt8]
    var position: Int

    private func isDigit(_ index: Int) -> Bool {
        index < bytes.count && bytes[index] >= 0x30 && bytes[index] <= 0x39
    }

    mutating func scan() -> Outcome {
        var negative = false
        if position < bytes.count && bytes[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        guard isDigit(position) else { return .malformed("expected a digit") }
        var digits: [UInt8] = []
        if bytes[position] == UInt8(ascii: "0") {
            digits.append(0)
            position += 1
            if isDigit(position) { return .malformed("leading zeros are not allowed in numbers") }
        } else {
            while isDigit(position) {
                digits.append(bytes[position] - 0x30)
                position += 1
            }
        }
        let integerCount = digits.count
        if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard isDigit(position) else { return .malformed("expected a digit after the decimal point") }
            while isDigit(position) {
                digits.append(bytes[position] - 0x30)
                position += 1
            }
        }
        var exponent = 0
        if position < bytes.count && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")) {
            position += 1
            var exponentNegative = false
            if position < bytes.count && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) {
                exponentNegative = bytes[position] == UInt8(ascii: "-")
                position += 1
            }
            guard isDigit(position) else { return .malformed("expected a digit in the exponent") }
            // Saturate: anything past 10^10 is out of range anyway, and this cannot overflow.
            while isDigit(position) {
                if exponent < 10_000_000_000 { exponent = exponent * 10 + Int(bytes[position] - 0x30) }
                position += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        guard let number = JSONNumber(negative: negative, digits: digits, pointPosition: integerCount + exponent) else {
            return .outOfRange
        }
        return .number(number)
    }
}
