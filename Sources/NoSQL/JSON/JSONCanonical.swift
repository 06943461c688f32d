/// The canonical JSON text of a value: the one byte string every node writes
/// for it, so replicated state is byte-identical.
///
/// Rules (close to RFC 8785 JCS, with keys sorted by UTF-8 bytes, the order
/// the store uses everywhere, rather than by UTF-16 units):
/// - no whitespace;
/// - object members sorted by the UTF-8 bytes of their keys;
/// - numbers as `JSONNumber.description` (exact, normalized);
/// - strings: `"` and `\` escaped as `\"` and `\\`; control characters as
///   `\b \f \n \r \t` or `\u00xx` (lowercase hex); every other character,
///   including `/`, DEL and non-ASCII, as its raw UTF-8 bytes.
extension JSONValue {
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        writeCanonical(to: &out)
        return out
    }

    public var canonicalText: String {
        String(decoding: canonicalBytes, as: UTF8.self)
    }

    func writeCanonical(to out: inout [UInt8]) {
        switch self {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let value):
            out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let number):
            out.append(contentsOf: number.description.utf8)
        case .string(let string):
            Self.writeCanonical(string: string, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (offset, element) in elements.enumerated() {
                if offset > 0 { out.append(UInt8(ascii: ",")) }
                element.writeCanonical(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (offset, member) in object.members.enumerated() {
                if offset > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeCanonical(string: member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                member.value.writeCanonical(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeCanonical(string: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
