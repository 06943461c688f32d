import Foundation
import NoSQL

/// The text of the chaos files (`report.json` pretty printed, each line of
/// `history.jsonl` compact), exactly as Foundation's `JSONSerialization`
/// wrote them with `.sortedKeys` before these documents became `JSONValue`s,
/// so tools and diffs over old runs see the same bytes:
/// - keys sorted as `JSONSerialization` sorts them (numeric, case
///   insensitive: "k9" before "k10");
/// - `/` escaped as `\/`, control characters as `\b \f \n \r \t` or `\u00xx`;
/// - pretty: two spaces per level, `"key" : value`, and an empty array or
///   object as an opening line, an empty line and the closing bracket;
/// - numbers: integers as digits, fractions as Swift prints the Double.
enum ReportJSONText {
    static func text(_ value: JSONValue, pretty: Bool) -> String {
        var writer = Writer(pretty: pretty)
        writer.write(value)
        return writer.out
    }

    /// `JSONSerialization`'s order of keys with `.sortedKeys`.
    static func precedes(_ a: String, _ b: String) -> Bool {
        a.compare(b, options: [.numeric, .caseInsensitive, .forcedOrdering], range: a.startIndex..<a.endIndex,
                  locale: NSLocale.system) == .orderedAscending
    }

    private struct Writer {
        let pretty: Bool
        var out = ""
        var indent = 0

        init(pretty: Bool) { self.pretty = pretty }

        mutating func write(_ value: JSONValue) {
            switch value {
            case .null: out += "null"
            case .bool(let value): out += value ? "true" : "false"
            case .number(let number): out += ReportJSONText.text(number)
            case .string(let string): write(string: string)
            case .array(let elements):
                out += "["
                open()
                for (offset, element) in elements.enumerated() {
                    if offset > 0 { out += pretty ? ",\n" : "," }
                    writeIndent()
                    write(element)
                }
                close()
                out += "]"
            case .object(let object):
                out += "{"
                open()
                let members = object.members.sorted { ReportJSONText.precedes($0.key, $1.key) }
                for (offset, member) in members.enumerated() {
                    if offset > 0 { out += pretty ? ",\n" : "," }
                    writeIndent()
                    write(string: member.key)
                    out += pretty ? " : " : ":"
                    write(member.value)
                }
                close()
                out += "}"
            }
        }

        private mutating func open() {
            guard pretty else { return }
            out += "\n"
            indent += 2
        }

        private mutating func close() {
            guard pretty else { return }
            out += "\n"
            indent -= 2
            writeIndent()
        }

        private mutating func writeIndent() {
            if pretty { out += String(repeating: " ", count: indent) }
        }

        private mutating func write(string: String) {
            out += "\""
            for scalar in string.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "/": out += "\\/"
                case "\u{8}": out += "\\b"
                case "\u{c}": out += "\\f"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{0}"..."\u{f}": out += "\\u000" + String(scalar.value, radix: 16)
                case "\u{10}"..."\u{1f}": out += "\\u00" + String(scalar.value, radix: 16)
                default: out.unicodeScalars.append(scalar)
                }
            }
            out += "\""
        }
    }

    /// Integers (the Ints and UInt64s these documents hold) as their digits;
    /// anything else as Swift prints the Double, without a trailing ".0".
    static func text(_ number: JSONNumber) -> String {
        if let integer = number.int64Value { return String(integer) }
        if let integer = number.uint64Value { return String(integer) }
        var text = number.doubleValue.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }
}

/// Building the chaos documents from the values the runner holds.
extension JSONValue {
    init(_ value: Int) { self = .number(JSONNumber(value)) }
    init(_ value: UInt64) { self = .number(JSONNumber(value)) }
    /// JSON holds no NaN or infinity; such a value is written as null.
    init(_ value: Double) { self = JSONNumber(value).map(JSONValue.number) ?? .null }
    init(_ value: String) { self = .string(value) }
    init(_ value: Bool) { self = .bool(value) }
    init(_ object: [String: JSONValue]) { self = .object(JSONObject(object)) }
    init(_ values: [UInt64]) { self = .array(values.map { JSONValue($0) }) }
    init(_ values: [String]) { self = .array(values.map { JSONValue($0) }) }
}
