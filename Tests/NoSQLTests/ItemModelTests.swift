import NoSQL
import StorageCore
import Testing

@Suite("Item model: attribute values, canonical encoding, sizes, numbers")
struct ItemModelTests {
    static let everyType: AttributeMap = [
        "S": "text é \u{0}", "N": .number(JSONNumber("-12.5e3")!), "B": .binary([0, 1, 254, 255]),
        "SS": AttributeValue.set(strings: ["b", "a", "é"])!, "NS": AttributeValue.set(numbers: [JSONNumber(10), JSONNumber("-0.5")!])!,
        "BS": AttributeValue.set(binaries: [[2], [1, 0]])!, "M": ["inner": ["deep": true]], "L": ["x", 1, .null, .bool(false)],
        "NULL": .null, "BOOL": true,
    ]

    @Test("every type survives the encoding, and decoding gives the same value")
    func roundTrip() throws {
        let item = Item(Self.everyType)
        let reread = try Item(validating: item.bytes)
        #expect(reread == item)
        #expect(reread.attributes == Self.everyType)
        #expect(item["NS"] == AttributeValue.set(numbers: [JSONNumber("-0.5")!, JSONNumber(10)]))
        #expect(item["missing"] == nil)
    }

    @Test("one value, one encoding: set order and member order do not matter")
    func canonical() {
        let a = Item(["x": .stringSet(["b", "a"]), "y": 1] as AttributeMap)
        let b = Item(["y": 1, "x": .stringSet(["a", "b"])] as AttributeMap)
        #expect(a.bytes == b.bytes)
        #expect(AttributeValue.numberSet([JSONNumber(1), JSONNumber(2)]) == .numberSet([JSONNumber("2.0")!, JSONNumber(1)]))
        #expect(AttributeValue.set(strings: ["a", "a"]) == nil)
        #expect(AttributeValue.set(numbers: [JSONNumber(1), JSONNumber("1.0")!]) == nil)
        #expect(AttributeValue.set(strings: []) == nil)
        // Strings compare by bytes: precomposed and decomposed é are different values.
        #expect(AttributeValue.string("\u{E9}") != .string("e\u{301}"))
        #expect(AttributeValue.set(strings: ["\u{E9}", "e\u{301}"]) != nil)
    }

    @Test("malformed encodings are refused with a reason, never a trap")
    func malformed() {
        let valid = Item(Self.everyType).bytes
        var random = SplitMix64(seed: 7)
        var refused = 0
        for round in 0..<3000 {
            var bytes = valid
            if round % 3 == 0 {
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random)))
            } else {
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            do {
                let item = try Item(validating: bytes)
                #expect(Item(item.value).bytes == bytes, "an accepted encoding must be canonical")
            } catch {
                #expect(error.code == .invalidItem)
                refused += 1
            }
        }
        #expect(refused > 1000)
    }

    @Test("item size follows DynamoDB's rule")
    func sizes() {
        // name + value: strings and binary by bytes, numbers (digits+1)/2 + 1, NULL and BOOL 1.
        #expect(Item(["ab": "xyz"] as AttributeMap).size == 2 + 3)
        #expect(Item(["n": .number(JSONNumber(12345))] as AttributeMap).size == 1 + 3 + 1)
        #expect(Item(["n": .number(JSONNumber("1.20")!)] as AttributeMap).size == 1 + 1 + 1)
        #expect(Item(["n": .number(JSONNumber(0))] as AttributeMap).size == 1 + 1)
        #expect(Item(["b": .binary([1, 2, 3, 4])] as AttributeMap).size == 1 + 4)
        #expect(Item(["z": .null, "t": true] as AttributeMap).size == 2 + 2)
        // Sets: the sum of their elements.
        #expect(Item(["s": .stringSet(["aa", "bbb"])] as AttributeMap).size == 1 + 5)
        // Lists and maps: 3 bytes, plus 1 per element, plus the elements (and member names).
        #expect(Item(["l": ["a", "bc"]] as AttributeMap).size == 1 + 3 + (1 + 1) + (1 + 2))
        #expect(Item(["m": ["k": "v"]] as AttributeMap).size == 1 + 3 + 1 + 1 + 1)
        #expect(Item(["m": [:]] as AttributeMap).size == 1 + 3)
    }

    @Test("the native JSON view: strings, numbers, booleans, null, arrays, objects map both ways; sets and binary do not")
    func jsonMapping() throws {
        let json = try JSONValue.parse(#"{"a":"x","b":1.5,"c":true,"d":null,"e":[1,"y"],"f":{"g":{}}}"#)
        let item = Item(json: json)
        #expect(item.json == json)
        #expect(item.attributes["b"] == .number(JSONNumber("1.5")!))
        #expect(item.attributes["e"] == [1, "y"])
        let typed = Item(["s": AttributeValue.set(strings: ["b", "a"])!, "bin": .binary([0xFF])] as AttributeMap)
        #expect(typed.json == (try JSONValue.parse(#"{"bin":"/w==","s":["a","b"]}"#)))
    }

    @Test("DynamoDB's number grammar, plain output and limits")
    func numbers() {
        for text in ["3", "-7.1234", "-17e5", "-17.4E37", "+3", ".123", "0001.23", "1e+5", "0e1000", "1.", "-0"] {
            #expect(JSONNumber(decimalText: text) != nil, "\(text) is a DynamoDB number")
        }
        for text in ["NaN", "Infinity", "-Infinity", "dog", " 1", "1 ", "", ".", "-", "1e", "e5", "1..2", "0x10", "1,5"] {
            #expect(JSONNumber(decimalText: text) == nil, "\(text) is not a DynamoDB number")
        }
        #expect(JSONNumber(decimalText: "1e2")!.plainText == "100")
        #expect(JSONNumber(decimalText: "1.50")!.plainText == "1.5")
        #expect(JSONNumber(decimalText: "-0.0000123")!.plainText == "-0.0000123")
        #expect(JSONNumber(decimalText: "0001.23")!.plainText == "1.23")
        #expect(JSONNumber(decimalText: "-0")!.plainText == "0")
        #expect(JSONNumber(decimalText: "12345678901234567890123456789012345678")!.dynamoDBLimitExceeded == nil)
        #expect(JSONNumber(decimalText: "123456789012345678901234567890123456789")!.dynamoDBLimitExceeded == .tooManyDigits)
        // Trailing zeros are not significant.
        #expect(JSONNumber(decimalText: "1234567890123456789012345678901234567800000")!.dynamoDBLimitExceeded == nil)
        #expect(JSONNumber(decimalText: "9.9999999999999999999999999999999999999E+125")!.dynamoDBLimitExceeded == nil)
        #expect(JSONNumber(decimalText: "1E+126")!.dynamoDBLimitExceeded == .overflow)
        #expect(JSONNumber(decimalText: "1E-130")!.dynamoDBLimitExceeded == nil)
        #expect(JSONNumber(decimalText: "0.9E-130")!.dynamoDBLimitExceeded == .underflow)
    }

    @Test("decimal arithmetic is exact, and refuses sums too wide to compute")
    func arithmetic() {
        func n(_ text: String) -> JSONNumber { JSONNumber(decimalText: text)! }
        #expect(n("0.3").subtracting(n("0.1")) == n("0.2"))
        #expect(n("10000000000000000000000").adding(n("1"))?.plainText == "10000000000000000000001")
        #expect(n("10000000000000000000000").subtracting(n("1"))?.plainText == "9999999999999999999999")
        #expect(n("100000000000000000000.00000001").subtracting(n("1"))?.plainText == "99999999999999999999.00000001")
        #expect(n("-5").adding(n("5")) == .zero)
        #expect(n("-5").adding(n("3"))?.plainText == "-2")
        #expect(n("2.5").subtracting(n("-2.5"))?.plainText == "5")
        #expect(n("1e50").adding(n("1"))?.dynamoDBLimitExceeded == .tooManyDigits)
        #expect(n("9e125").adding(n("9e125"))?.dynamoDBLimitExceeded == .overflow)
        #expect(JSONNumber("1e900000000")!.adding(n("1")) == nil)
    }
}
