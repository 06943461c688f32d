import StorageCore

/// Turns any byte-string key into a safe file name, and back.
///
/// Why hex: a key may hold `/`, `..`, 0x00, invalid UTF-8 or anything else a
/// file system chokes on. Lowercase hex uses only `0-9a-f`, so a name never
/// contains `/` or `.` (item names cannot collide with `applied`, `journal` or
/// `*.tmp`), it needs no unicode normalisation, and it is the same on every
/// file system.
///
/// - Short keys (at most `maxPlainKeyBytes`): `"k" + hex(key)`; the empty key is
///   `"k"`. The name alone gives the key back.
/// - Longer keys, whose hex would not fit in a 255-byte file name:
///   `"h" + hex(first 48 bytes) + "-" + hex(FNV-1a-128 of the whole key)`.
///   The whole key lives inside the file (see `ItemRecord`), so it is always
///   recoverable, and a reader compares it with the key it asked for: two keys
///   whose hashes collide are told apart instead of confused.
enum KeyFileName {
    /// 1 + 2 × 100 = 201 characters, plus ".tmp" while being written: well under 255.
    static let maxPlainKeyBytes = 100
    static let hashedPrefixBytes = 48

    enum Decoded: Equatable {
        /// The name holds the whole key.
        case plain(Bytes)
        /// The name holds only the key's first bytes; read the file for the rest.
        case hashed(prefix: Bytes)
    }

    static func name(for key: Bytes) -> String {
        if key.count <= maxPlainKeyBytes { return "k" + Hex.encode(key) }
        let hash = FNV1a128.hash(key)
        return "h" + Hex.encode(key.prefix(hashedPrefixBytes)) + "-" + Hex.encode(hash)
    }

    static func isHashed(_ key: Bytes) -> Bool { key.count > maxPlainKeyBytes }

    /// The key (or key prefix) a file name stands for; nil for any name that
    /// `name(for:)` cannot produce, such as `applied`, `journal` or a temp file.
    static func decode(_ name: String) -> Decoded? {
        let utf8 = Array(name.utf8)
        guard let tag = utf8.first else { return nil }
        switch tag {
        case UInt8(ascii: "k"):
            guard let key = Hex.decode(utf8[1...]), key.count <= maxPlainKeyBytes else { return nil }
            return .plain(key)
        case UInt8(ascii: "h"):
            let prefixChars = 2 * hashedPrefixBytes
            guard utf8.count == 1 + prefixChars + 1 + 32, utf8[1 + prefixChars] == UInt8(ascii: "-"),
                  let prefix = Hex.decode(utf8[1..<(1 + prefixChars)]),
                  Hex.decode(utf8[(2 + prefixChars)...]) != nil
            else { return nil }
            return .hashed(prefix: prefix)
        default:
            return nil
        }
    }
}

/// Lowercase hexadecimal, strict on decoding so that every name has exactly
/// one spelling (an uppercase twin of a name would be a second file for the
/// same key).
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Collection<UInt8>) -> String {
        var chars: [UInt8] = []
        chars.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            chars.append(digits[Int(byte >> 4)])
            chars.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: chars, as: UTF8.self)
    }

    static func encode(_ value: UInt128) -> String {
        encode((0..<16).map { UInt8(truncatingIfNeeded: value >> (8 * (15 - $0))) })
    }

    static func decode(_ chars: ArraySlice<UInt8>) -> Bytes? {
        guard chars.count % 2 == 0 else { return nil }
        var bytes: Bytes = []
        bytes.reserveCapacity(chars.count / 2)
        var index = chars.startIndex
        while index < chars.endIndex {
            guard let high = nibble(chars[index]), let low = nibble(chars[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

/// FNV-1a with a 128-bit state: tiny, dependency-free, and wide enough that
/// an accidental collision between two long keys is not a practical concern.
/// (It is not a cryptographic hash; a collision is still detected and refused,
/// see `FlatFileStateStore`.)
enum FNV1a128 {
    static let offsetBasis = UInt128(0x6C62_272E_07BB_0142) << 64 | UInt128(0x62B8_2175_6295_C58D)
    /// 2^88 + 2^8 + 0x3B.
    static let prime = UInt128(1) << 88 | UInt128(0x13B)

    static func hash(_ bytes: some Collection<UInt8>) -> UInt128 {
        var hash = offsetBasis
        for byte in bytes {
            hash ^= UInt128(byte)
            hash &*= prime
        }
        return hash
    }
}
