import StorageCore

/// The opaque string a query returns when more items follow: base64url
/// (RFC 4648 §5, no padding) of a format byte (0x01) and the store key of
/// the last item returned. The next page starts just after that key, so
/// items written or deleted between pages never make a page repeat or skip
/// an item that stayed in place.
///
/// Clients must treat it as opaque. On input it is checked strictly: the
/// alphabet, the length, zero padding bits, the format byte, and that the key
/// lies inside the range of the query it is used with; anything else is
/// `invalid_argument`.
enum ContinuationToken {
    static let format: UInt8 = 0x01

    static func encode(lastKey: Bytes) -> String {
        Base64URL.encode([format] + lastKey)
    }

    /// The key to resume after, if `token` is valid for a query over `range`.
    static func decode(_ token: String, in range: KeyRange) throws(NoSQLError) -> Bytes {
        guard let bytes = Base64URL.decode(token), bytes.first == format else {
            throw NoSQLError(.invalidArgument, "invalid continuation token")
        }
        let key = Array(bytes.dropFirst())
        guard range.contains(key) else {
            throw NoSQLError(.invalidArgument, "continuation token does not belong to this query")
        }
        return key
    }
}

/// Base64 with the URL- and filename-safe alphabet and no padding, so a
/// token can go in a query string unescaped.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: Bytes) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value: UInt32 = 0
            for byte in chunk { value = value << 8 | UInt32(byte) }
            value <<= UInt32(8 * (3 - chunk.count))
            for position in 0...chunk.count {
                out.append(alphabet[Int((value >> UInt32(18 - 6 * position)) & 0x3F)])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil for characters outside the alphabet, padding, an impossible
    /// length, or nonzero bits after the last byte (so each byte string has
    /// exactly one accepted encoding).
    static func decode(_ text: String) -> Bytes? {
        var sextets: [UInt32] = []
        sextets.reserveCapacity(text.utf8.count)
        for character in text.utf8 {
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): sextets.append(UInt32(character - UInt8(ascii: "A")))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): sextets.append(UInt32(character - UInt8(ascii: "a") + 26))
            case UInt8(ascii: "0")...UInt8(ascii: "9"): sextets.append(UInt32(character - UInt8(ascii: "0") + 52))
            case UInt8(ascii: "-"): sextets.append(62)
            case UInt8(ascii: "_"): sextets.append(63)
            default: return nil
            }
        }
        guard sextets.count % 4 != 1 else { return nil }
        var out: Bytes = []
        var index = 0
        while index < sextets.count {
            let group = sextets[index..<min(index + 4, sextets.count)]
            var value: UInt32 = 0
            for sextet in group { value = value << 6 | sextet }
            value <<= UInt32(6 * (4 - group.count))
            let byteCount = group.count - 1
            let unused = value & ((1 << UInt32(24 - 8 * byteCount)) - 1)
            guard unused == 0 else { return nil }
            for position in 0..<byteCount { out.append(UInt8((value >> UInt32(16 - 8 * position)) & 0xFF)) }
            index += 4
        }
        return out
    }
}
