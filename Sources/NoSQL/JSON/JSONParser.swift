/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// Strict because every node must accept exactly the same inputs, and
/// because anything a client sends must end in a value or a typed error,
/// never a trap:
/// - one value, surrounded only by JSON whitespace (space, tab, LF, CR);
///   trailing data, a byte order mark, comments, trailing commas are refused;
/// - strings must be valid UTF-8 with no raw control characters; escapes are
///   the eight of the RFC plus `\uXXXX`, and a surrogate must come as a
///   high/low pair (a lone surrogate is refused);
/// - numbers follow the RFC grammar exactly and are kept as exact decimals
///   (`JSONNumber`), with the exponent bounded;
/// - duplicate object keys are refused (see `JSONObject.init(_:)`);
/// - arrays and objects nest at most `maxDepth` deep, which also bounds recursion.
struct JSONParser {
    private let bytes: [UInt8]
    private var position = 0
    private let maxDepth: Int

    private init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    static func parse(_ bytes: [UInt8], maxDepth: Int) throws(NoSQLError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            throw parser.error("a byte order mark is not allowed")
        }
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else {
            throw parser.error("unexpected \(parser.describeCurrent()) after the JSON value")
        }
        return value
    }

    // MARK: Values

    private mutating func parseValue(depth: Int) throws(NoSQLError) -> JSONValue {
        guard position < bytes.count else { throw error("unexpected end of input, expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected \(describeCurrent()), expected a value")
        }
    }

    private mutating func parseObject(depth: Int) throws(NoSQLError) -> JSONValue {
        guard depth <= maxDepth else { throw error("objects and arrays nest deeper than \(maxDepth) levels") }
        position += 1
        var pairs: [(String, JSONValue)] = []
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return .object(JSONObject()) }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a string key, found \(describeCurrent())")
            }
            let key = try parseString()
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { throw error("expected ':' after an object key, found \(describeCurrent())") }
            skipWhitespace()
            pairs.append((key, try parseValue(depth: depth)))
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            if consume(UInt8(ascii: "}")) { break }
            throw error("expected ',' or '}' in an object, found \(describeCurrent())")
        }
        return .object(try JSONObject(pairs))
    }

    private mutating func parseArray(depth: Int) throws(NoSQLError) -> JSONValue {
        guard depth <= maxDepth else { throw error("objects and arrays nest deeper than \(maxDepth) levels") }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if consume(UInt8(ascii: "]")) { return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            if consume(UInt8(ascii: "]")) { break }
            throw error("expected ',' or ']' in an array, found \(describeCurrent())")
        }
        return .array(elements)
    }

    private mutating func expectLiteral(_ literal: String) throws(NoSQLError) {
        let expected = Array(literal.utf8)
        guard bytes.count - position >= expected.count,
            bytes[position..<position + expected.count].elementsEqual(expected)
        else { throw error("invalid literal, expected \(literal)") }
        position += expected.count
    }

    private mutating func parseNumber() throws(NoSQLError) -> JSONNumber {
        let start = position
        var scanner = JSONNumberScanner(bytes: bytes, position: position)
        let outcome = scanner.scan()
        position = scanner.position
        switch outcome {
        case .number(let number): return number
        case .malformed(let reason): throw error(reason)
        case .outOfRange:
            throw error(at: start, "number out of range (exponent beyond ±\(JSONNumber.exponentLimit))")
        }
    }

    // MARK: Strings

    private mutating func parseString() throws(NoSQLError) -> String {
        let start = position
        position += 1
        var buffer: [UInt8] = []
        var runStart = position
        while true {
            guard position < bytes.count else { throw error(at: start, "unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                buffer.append(contentsOf: bytes[runStart..<position])
                position += 1
                break
            }
            if byte == UInt8(ascii: "\\") {
                buffer.append(contentsOf: bytes[runStart..<position])
                try parseEscape(into: &buffer)
                runStart = position
                continue
            }
            guard byte >= 0x20 else { throw error("unescaped control character \(hex(byte)) in a string") }
            position += 1
        }
        // Escapes append whole, valid sequences that begin with a lead byte, so
        // validating the joined buffer is the same as validating each raw run.
        guard let string = String(validating: buffer, as: UTF8.self) else {
            throw error(at: start, "string is not valid UTF-8")
        }
        return string
    }

    private mutating func parseEscape(into buffer: inout [UInt8]) throws(NoSQLError) {
        position += 1
        guard position < bytes.count else { throw error("unterminated escape sequence") }
        let byte = bytes[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(byte)
        case UInt8(ascii: "b"): buffer.append(0x08)
        case UInt8(ascii: "f"): buffer.append(0x0C)
        case UInt8(ascii: "n"): buffer.append(0x0A)
        case UInt8(ascii: "r"): buffer.append(0x0D)
        case UInt8(ascii: "t"): buffer.append(0x09)
        case UInt8(ascii: "u"):
            let escapeStart = position - 2
            var scalar = try readHex4()
            if (0xD800...0xDBFF).contains(scalar) {
                guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                else { throw error(at: escapeStart, "high surrogate \\u\(hex4(scalar)) is not followed by a low surrogate") }
                position += 2
                let low = try readHex4()
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw error(at: escapeStart, "high surrogate \\u\(hex4(scalar)) is followed by \\u\(hex4(low)), not a low surrogate")
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                throw error(at: escapeStart, "lone low surrogate \\u\(hex4(scalar))")
            }
            // Surrogates are handled above, so every remaining value is a scalar.
            guard let unicode = Unicode.Scalar(scalar) else { throw error(at: escapeStart, "invalid \\u escape") }
            UTF8.encode(unicode) { buffer.append($0) }
        default:
            throw error(at: position - 2, "invalid escape '\\\(describe(byte))'")
        }
    }

    private mutating func readHex4() throws(NoSQLError) -> UInt32 {
        guard bytes.count - position >= 4 else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit \(describeCurrent()) in a \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    // MARK: Helpers

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    private func describeCurrent() -> String {
        position < bytes.count ? describe(bytes[position]) : "end of input"
    }

    private func describe(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte \(hex(byte))"
    }

    private func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return "0x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
    }

    private func hex4(_ value: UInt32) -> String {
        let digits = Array("0123456789abcdef")
        return (0..<4).reversed().map { String(digits[Int(value >> (UInt32($0) * 4) & 0xF)]) }.joined()
    }

    private func error(_ message: String) -> NoSQLError {
        error(at: position, message)
    }

    private func error(at offset: Int, _ message: String) -> NoSQLError {
        NoSQLError(.invalidJSON, "invalid JSON at byte \(offset): \(message)")
    }
}
