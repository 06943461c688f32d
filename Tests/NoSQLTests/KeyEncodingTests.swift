import StorageCore
import Testing

@testable import NoSQL

@Suite("Order-preserving key encoding")
struct KeyEncodingTests {
    func encode(_ value: KeyAttributeValue) -> Bytes {
        var out: Bytes = []
        OrderedKeyEncoding.append(value, to: &out)
        return out
    }

    func randomNumber(_ random: inout SplitMix64) -> JSONNumber {
        let digitCount = Int.random(in: 1...6, using: &random)
        var text = Bool.random(using: &random) ? "-" : ""
        text += String(Int.random(in: 0...9, using: &random))
        if digitCount > 1 {
            text += "." + (1..<digitCount).map { _ in String(Int.random(in: 0...9, using: &random)) }.joined()
        }
        text += "e\(Int.random(in: -4...4, using: &random))"
        return JSONNumber(text)!
    }

    @Test("byte order of encoded numbers is numeric order, equal numbers encode equally")
    func numbers() {
        var random = SplitMix64(seed: 7)
        let numbers = (0..<400).map { _ in randomNumber(&random) }
            + ["0", "-0", "1", "1.0", "-1", "1e1000000000", "-1e1000000000", "1e-1000000000", "-1e-1000000000"].map { JSONNumber($0)! }
        for a in numbers {
            for b in numbers {
                let (ea, eb) = (encode(.number(a)), encode(.number(b)))
                #expect(ea.lexicographicallyPrecedes(eb) == (a < b), "\(a) vs \(b)")
                #expect((ea == eb) == (a == b), "\(a) vs \(b)")
            }
        }
    }

    @Test("byte order of encoded strings is UTF-8 byte order, including NUL")
    func strings() {
        let strings = ["", "\0", "\0\0", "\0a", "a", "a\0", "a\0b", "ab", "b", "é", "😀", "\u{FFFF}", "a\u{7F}", "A"]
        for a in strings {
            for b in strings {
                let (ea, eb) = (encode(.string(a)), encode(.string(b)))
                #expect(ea.lexicographicallyPrecedes(eb) == a.utf8.lexicographicallyPrecedes(b.utf8), "\(a) vs \(b)")
            }
        }
    }

    @Test("numbers sort before strings, and no encoding is a prefix of another")
    func mixedAndPrefixFree() {
        let values: [KeyAttributeValue] =
            ["", "\0", "a", "a\0", "ab"].map { .string($0) }
            + ["-12.5", "-1", "0", "1", "1.5", "15", "1e20"].map { .number(JSONNumber($0)!) }
        let encoded = values.map(encode)
        for (i, a) in encoded.enumerated() {
            for (j, b) in encoded.enumerated() where i != j {
                #expect(!b.starts(with: a), "\(values[i]) is a prefix of \(values[j])")
            }
        }
        #expect(encode(.number(JSONNumber("1e20")!)).lexicographicallyPrecedes(encode(.string(""))))
    }

    @Test("a partition is one contiguous range, and a sort key prefix is a KeyRange.prefix")
    func ranges() {
        let sortKeys = ["", "D", "Don", "Don't Stop", "Don\0", "Done", "Do", "E", "don"]
        let partitions = ["Journey", "Journey\0", "Journe", "Journeys"]
        var keys: [(partition: String, sort: String, key: Bytes)] = []
        for partition in partitions {
            for sort in sortKeys {
                keys.append((partition, sort, StorageLayout.itemKey(table: "Music", key: ItemKey(partition, sort))))
            }
        }
        for partition in partitions {
            for prefix in [nil, "Don", "D", "Don\0", "x"] as [String?] {
                let range = StorageLayout.queryRange(table: "Music", partition: .string(partition), sortKeyPrefix: prefix)
                for entry in keys {
                    let expected = entry.partition == partition && entry.sort.utf8.starts(with: (prefix ?? "").utf8)
                    #expect(range.contains(entry.key) == expected, "\(entry.partition)/\(entry.sort) in \(partition)/\(prefix ?? "nil")")
                }
            }
        }
        // Tables are apart too, and nothing uses the Raft engine's 0xFF prefix.
        let other = StorageLayout.itemKey(table: "Music2", key: ItemKey("Journey", "Don"))
        #expect(!StorageLayout.queryRange(table: "Music", partition: .string("Journey"), sortKeyPrefix: nil).contains(other))
        #expect(keys.allSatisfy { $0.key.first != 0xFF })
        #expect(StorageLayout.tableKey("Music").first != 0xFF && StorageLayout.lastIndexKey.first != 0xFF)
    }

    @Test("continuation tokens: base64url round trip and strict decoding")
    func base64() {
        var random = SplitMix64(seed: 3)
        for length in 0..<40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let text = Base64URL.encode(bytes)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64URL.decode(text) == bytes)
        }
        #expect(Base64URL.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64URL.encode(Array("fo".utf8)) == "Zm8")
        #expect(Base64URL.decode("Zm8=") == nil)  // padding
        #expect(Base64URL.decode("Zm9") == nil)  // nonzero unused bits
        #expect(Base64URL.decode("Z") == nil)  // impossible length
        #expect(Base64URL.decode("Zm+v") == nil)  // standard alphabet
    }
}
