/// DynamoDB's view of numbers: its input grammar, its plain output form, its
/// limits (38 significant digits, magnitudes 1E-130 to under 1E+126), and
/// exact addition for update expressions.
extension JSONNumber {
    /// Parses a number as DynamoDB accepts it: an optional sign, digits with
    /// an optional decimal point (`1.`, `.5`, leading zeros), an optional
    /// exponent (`-17.4E37`, `1e+5`). No spaces, no `NaN` or `Infinity`.
    /// Nil for anything else, or an exponent beyond `exponentLimit`.
    public init?(decimalText text: String) {
        let bytes = Array(text.utf8)
        var position = 0
        var negative = false
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: "+") {
            negative = bytes[position] == UInt8(ascii: "-")
            position += 1
        }
        func isDigit(_ index: Int) -> Bool { index < bytes.count && (0x30...0x39).contains(bytes[index]) }
        var digits: [UInt8] = []
        while isDigit(position) {
            digits.append(bytes[position] - 0x30)
            position += 1
        }
        let integerCount = digits.count
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            while isDigit(position) {
                digits.append(bytes[position] - 0x30)
                position += 1
            }
        }
        guard !digits.isEmpty else { return nil }
        var exponent = 0
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            var exponentNegative = false
            if position < bytes.count, bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: "+") {
                exponentNegative = bytes[position] == UInt8(ascii: "-")
                position += 1
            }
            guard isDigit(position) else { return nil }
            while isDigit(position) {
                // Saturate: anything this large is out of range anyway.
                if exponent < 10_000_000_000 { exponent = exponent * 10 + Int(bytes[position] - 0x30) }
                position += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        guard position == bytes.count else { return nil }
        guard let number = JSONNumber(negative: negative, digits: digits, pointPosition: integerCount + exponent) else {
            return nil
        }
        self = number
    }

    /// The value in plain decimal notation, never with an exponent, as
    /// DynamoDB returns numbers: `100`, `0.0000123`, `-2.5`.
    public var plainText: String {
        if isZero { return "0" }
        let text = String(decoding: digits.map { $0 + 0x30 }, as: UTF8.self)
        let count = digits.count
        let integerDigits = exponent + 1
        var out = isNegative ? "-" : ""
        if integerDigits >= count {
            out += text + String(repeating: "0", count: integerDigits - count)
        } else if integerDigits > 0 {
            out += String(text.prefix(integerDigits)) + "." + String(text.dropFirst(integerDigits))
        } else {
            out += "0." + String(repeating: "0", count: -integerDigits) + text
        }
        return out
    }

    /// Why DynamoDB could not store this number, if it could not.
    public enum DynamoDBLimit: Sendable, Hashable {
        case tooManyDigits, overflow, underflow

        public var message: String {
            switch self {
            case .tooManyDigits: "Attempting to store more than 38 significant digits in a Number"
            case .overflow: "Number overflow. Attempting to store a number with magnitude larger than supported range"
            case .underflow: "Number underflow. Attempting to store a number with magnitude smaller than supported range"
            }
        }
    }

    /// DynamoDB numbers have at most 38 significant digits and a magnitude
    /// from 1E-130 to 9.99…E+125 (or are zero).
    public var dynamoDBLimitExceeded: DynamoDBLimit? {
        if isZero { return nil }
        if digits.count > 38 { return .tooManyDigits }
        if exponent > 125 { return .overflow }
        if exponent < -130 { return .underflow }
        return nil
    }

    public var negated: JSONNumber {
        isZero ? self : JSONNumber(negative: !isNegative, digits: digits, pointPosition: exponent + 1)!
    }

    /// Exact `self + other`. Nil when the digits of the two numbers span more
    /// than `maxWorkingDigits` decimal places: such a sum cannot be a valid
    /// DynamoDB number anyway, and computing it would let a tiny request ask
    /// for gigabytes (`1e900000000 + 1`).
    public func adding(_ other: JSONNumber) -> JSONNumber? {
        if isZero { return other }
        if other.isZero { return self }
        let lowA = exponent - (digits.count - 1)
        let lowB = other.exponent - (other.digits.count - 1)
        let low = Swift.min(lowA, lowB)
        let top = Swift.max(exponent, other.exponent)
        guard top - low < JSONNumber.maxWorkingDigits else { return nil }
        let width = top - low + 2
        // Little-endian digit columns of each magnitude, aligned at `low`.
        func columns(_ number: JSONNumber, lowest: Int) -> [Int] {
            var out = [Int](repeating: 0, count: width)
            for (offset, digit) in number.digits.reversed().enumerated() { out[lowest - low + offset] = Int(digit) }
            return out
        }
        let a = columns(self, lowest: lowA)
        let b = columns(other, lowest: lowB)
        var result = [Int](repeating: 0, count: width)
        var negative: Bool
        if isNegative == other.isNegative {
            negative = isNegative
            var carry = 0
            for index in 0..<width {
                let sum = a[index] + b[index] + carry
                result[index] = sum % 10
                carry = sum / 10
            }
        } else {
            // Subtract the smaller magnitude from the larger.
            let aLarger = a.reversed().lexicographicallyPrecedes(b.reversed()) == false
            let (big, small) = aLarger ? (a, b) : (b, a)
            negative = aLarger ? isNegative : other.isNegative
            var borrow = 0
            for index in 0..<width {
                var difference = big[index] - small[index] - borrow
                borrow = difference < 0 ? 1 : 0
                if difference < 0 { difference += 10 }
                result[index] = difference
            }
            if result.allSatisfy({ $0 == 0 }) { negative = false }
        }
        let bigEndian = result.reversed().map { UInt8($0) }
        return JSONNumber(negative: negative, digits: Array(bigEndian), pointPosition: width + low)
    }

    public func subtracting(_ other: JSONNumber) -> JSONNumber? {
        adding(other.negated)
    }

    /// See `adding(_:)`.
    public static let maxWorkingDigits = 4096
}
