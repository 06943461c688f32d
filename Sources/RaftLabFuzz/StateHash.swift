import StorageCore

/// A 128-bit digest of a state store's contents at one applied position (two
/// FNV-1a streams over every length-prefixed key and value of a consistent
/// snapshot): tells two replicas apart; not cryptographic.
public enum StateHash {
    public static func digest(of store: any StateStore) throws -> (position: AppliedPosition, entries: Int, hex: String) {
        let snapshot = try store.snapshot()
        defer { snapshot.close() }
        var first: UInt64 = 0xCBF2_9CE4_8422_2325
        var second: UInt64 = 0x8422_2325_CBF2_9CE4
        func mix(_ bytes: [UInt8]) {
            var length = UInt32(bytes.count)
            for _ in 0..<4 {
                let byte = UInt64(length & 0xFF)
                first = (first ^ byte) &* 0x100_0000_01B3
                second = ((second ^ byte) &* 0x0000_0100_0000_01B3) ^ (second >> 29)
                length >>= 8
            }
            bytes.withUnsafeBufferPointer { buffer in
                var a = first
                var b = second
                for byte in buffer {
                    a = (a ^ UInt64(byte)) &* 0x100_0000_01B3
                    b = ((b ^ UInt64(byte)) &* 0x0000_0100_0000_01B3) ^ (b >> 29)
                }
                first = a
                second = b
            }
        }
        var count = 0
        while let pair = try snapshot.next() {
            mix(pair.key)
            mix(pair.value)
            count += 1
        }
        let hex = [first, second].map { word in
            let text = String(word, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }.joined()
        return (snapshot.position, count, hex)
    }
}
