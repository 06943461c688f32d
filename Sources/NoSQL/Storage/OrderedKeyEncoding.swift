import StorageCore

/// Byte encodings of key components whose unsigned byte order is the order
/// of the values, and which are self-delimiting (no encoding is a prefix of
/// another), so components can be concatenated into one store key and a
/// partition's items form one contiguous range.
///
/// Every component starts with a type tag:
///
///     0x14  negative number   0x14 ~(exponent ‖ digits ‖ 0x00)
///     0x15  zero              0x15
///     0x16  positive number   0x16 exponent ‖ digits ‖ 0x00
///     0x20  string            0x20 escaped(UTF-8) ‖ 0x00 0x01
///     0x30  binary            0x30 escaped(bytes) ‖ 0x00 0x01
///
/// so numbers sort before strings, strings before binary values, negatives
/// before zero before positives. (A typed table's keys all have one type.)
///
/// Numbers: a nonzero value is d1.d2…dn × 10^e with d1 and dn nonzero.
/// `exponent` is e as a 32-bit big-endian integer with its sign bit flipped
/// (so it sorts as a signed number), then each digit as its ASCII character,
/// then 0x00. A larger exponent means a larger magnitude; for equal exponents
/// the digit strings compare lexicographically, and a shorter one (a prefix)
/// is smaller, which the 0x00 terminator gives. Negative numbers store the
/// bitwise complement of their magnitude's bytes, reversing the order;
/// because the encoding is prefix-free, the complement reverses it exactly.
///
/// Strings: their UTF-8 bytes with 0x00 written as 0x00 0xFF, then the
/// terminator 0x00 0x01. The terminator sorts below every escaped byte
/// sequence (a content 0x00 is always followed by 0xFF), so a string sorts
/// before its extensions; and since the terminator never occurs inside
/// escaped content, no encoding is a prefix of another (a bare 0x00
/// terminator would make "" a prefix of "\0", and partition "a" would
/// swallow partition "a\0"). escaped(p) is a prefix of escaped(s) exactly
/// when p is a prefix of s, which makes a sort-key prefix query a `KeyRange.prefix`.
/// Binary values are escaped and terminated the same way.
enum OrderedKeyEncoding {
    static let negativeNumberTag: UInt8 = 0x14
    static let zeroTag: UInt8 = 0x15
    static let positiveNumberTag: UInt8 = 0x16
    static let stringTag: UInt8 = 0x20
    static let binaryTag: UInt8 = 0x30

    /// The tags that start every encoding of one key type, as a range
    /// `[lower, upper)` of first bytes.
    static func tagRange(of type: KeyAttributeType) -> (lower: UInt8, upper: UInt8) {
        switch type {
        case .number: (negativeNumberTag, positiveNumberTag + 1)
        case .string: (stringTag, stringTag + 1)
        case .binary: (binaryTag, binaryTag + 1)
        }
    }

    static func append(_ value: KeyAttributeValue, to out: inout Bytes) {
        switch value {
        case .string(let string):
            out.append(stringTag)
            appendTerminated(string, to: &out)
        case .number(let number):
            append(number, to: &out)
        case .binary(let bytes):
            out.append(binaryTag)
            appendEscaped(bytes: bytes, to: &out)
            out.append(contentsOf: [0x00, 0x01])
        }
    }

    static func append(_ number: JSONNumber, to out: inout Bytes) {
        guard !number.isZero else {
            out.append(zeroTag)
            return
        }
        var magnitude: Bytes = []
        magnitude.reserveCapacity(number.digits.count + 5)
        // |exponent| ≤ JSONNumber.exponentLimit, well inside Int32.
        let biased = UInt32(bitPattern: Int32(number.exponent)) ^ 0x8000_0000
        withUnsafeBytes(of: biased.bigEndian) { magnitude.append(contentsOf: $0) }
        magnitude.append(contentsOf: number.digits.map { $0 + 0x30 })
        magnitude.append(0x00)
        if number.isNegative {
            out.append(negativeNumberTag)
            out.append(contentsOf: magnitude.map { ~$0 })
        } else {
            out.append(positiveNumberTag)
            out.append(contentsOf: magnitude)
        }
    }

    /// The escaped bytes of `string` followed by the 0x00 0x01 terminator.
    static func appendTerminated(_ string: String, to out: inout Bytes) {
        appendEscaped(string, to: &out)
        out.append(contentsOf: [0x00, 0x01])
    }

    /// The escaped bytes of `string`, without terminator: a prefix of the
    /// encoding of every string that starts with `string`.
    static func appendEscaped(_ string: String, to out: inout Bytes) {
        appendEscaped(bytes: string.utf8, to: &out)
    }

    static func appendEscaped(bytes: some Sequence<UInt8>, to out: inout Bytes) {
        for byte in bytes {
            out.append(byte)
            if byte == 0x00 { out.append(0xFF) }
        }
    }
}
