import NoSQL
import Testing

@Suite("JSON parser and canonical form")
struct JSONParserTests {
    @Test(
        "valid input gives the canonical text",
        arguments: [
            (#"{"b":1,"a":[true,false,null]}"#, #"{"a":[true,false,null],"b":1}"#),
            (" \t\n\r{ \"a\" : [ 1 , 2 ] } \n", #"{"a":[1,2]}"#),
            (#"{}"#, #"{}"#),
            (#"[]"#, #"[]"#),
            (#"true"#, #"true"#),
            (#"null"#, #"null"#),
            (#""x""#, #""x""#),
            (#"{"z":{"y":1,"x":2},"a":{}}"#, #"{"a":{},"z":{"x":2,"y":1}}"#),
            (#""\u00e9\u00E9""#, "\"éé\""),
            (#""\ud83d\ude00""#, "\"😀\""),
            (#""\/""#, #""/""#),
            (#""a\u0000b""#, #""a\u0000b""#),
            (#""\u001F\u007f""#, "\"\\u001f\u{7F}\""),
            (#""\b\f\n\r\t\"\\""#, #""\b\f\n\r\t\"\\""#),
            ("\"\u{2028}日本語\"", "\"\u{2028}日本語\""),
        ])
    func canonical(input: String, expected: String) throws {
        #expect(try JSONValue.parse(input).canonicalText == expected)
    }

    @Test(
        "numbers keep their exact decimal value in normalized text",
        arguments: [
            ("0", "0"), ("-0", "0"), ("0.000", "0"), ("0e5", "0"),
            ("1", "1"), ("1.0", "1"), ("10e-1", "1"), ("1.50", "1.5"), ("123e-2", "1.23"),
            ("1981", "1981"), ("1E2", "100"), ("1e+2", "100"), ("-1.5e-3", "-0.0015"),
            ("0.1", "0.1"), ("0.000001", "0.000001"), ("0.0000001", "1e-7"), ("-12.5e-10", "-1.25e-9"),
            ("123456789012345678901", "123456789012345678901"),
            ("1234567890123456789012", "1.234567890123456789012e+21"),
            ("1e21", "1e+21"), ("1e20", "100000000000000000000"),
            ("3.14159265358979323846264338327950288419716939937510", "3.1415926535897932384626433832795028841971693993751"),
            ("9007199254740993", "9007199254740993"),
            ("1e1000000000", "1e+1000000000"), ("-1e-1000000000", "-1e-1000000000"),
        ])
    func numbers(input: String, expected: String) throws {
        let value = try JSONValue.parse(input)
        #expect(value.numberValue != nil)
        #expect(value.canonicalText == expected)
        // The canonical text reads back as the same number.
        #expect(try JSONValue.parse(expected) == value)
    }

    @Test("types are preserved: booleans, numbers and strings never blur")
    func typesPreserved() throws {
        let value = try JSONValue.parse(#"{"t":true,"f":false,"one":1,"zero":0,"s":"1","n":null,"a":[1,"1",true]}"#)
        #expect(value["t"] == .bool(true))
        #expect(value["f"] == .bool(false))
        #expect(value["one"] == .number(JSONNumber(1)))
        #expect(value["zero"] == .number(.zero))
        #expect(value["s"] == .string("1"))
        #expect(value["n"] == .null)
        #expect(value["a"] == [1, "1", true])
        #expect(value["one"] != value["t"])
        #expect(value["zero"] != value["f"])
    }

    @Test(
        "invalid input is invalid_json, never a trap",
        arguments: [
            "", " ", "{", "}", "[", "[1,]", "[,1]", #"{"a":1,}"#, #"{"a"}"#, #"{"a":}"#, #"{a:1}"#, "{'a':1}",
            "01", "-01", "1.", ".5", "+1", "1e", "1e+", "-", "--1", "0x10", "NaN", "Infinity", "-Infinity",
            "tru", "nul", "falsey", "True", #""abc"#, #""\x""#, #""\u12""#, #""\u12G4""#, #""\ud800""#,
            #""\udc00""#, #""\ud800\u0041""#, #""\ud800x""#, "\"a\nb\"", "\"a\tb\"", #"{"a":1}x"#, "[1] [2]",
            #"{"a":1,"a":2}"#, "[1 2]", "// c\n1", "/* c */1", "\u{FEFF}1", "1e99999999999", "-1e-1000000001",
        ])
    func invalid(input: String) {
        expectError(.invalidJSON) { try JSONValue.parse(input) }
    }

    @Test(
        "ill-formed UTF-8 is refused",
        arguments: [
            [0x22, 0xC3, 0x28, 0x22],  // lead byte without continuation
            [0x22, 0xC0, 0xAF, 0x22],  // overlong '/'
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // a UTF-16 surrogate encoded in UTF-8
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // beyond U+10FFFF
            [0x22, 0x80, 0x22],  // stray continuation byte
            [0x22, 0xE2, 0x82, 0x22],  // truncated sequence
            [0xEF, 0xBB, 0xBF, 0x31],  // byte order mark
            [0xFF],
        ] as [[UInt8]])
    func invalidUTF8(bytes: [UInt8]) {
        expectError(.invalidJSON) { try JSONValue.parse(bytes) }
    }

    @Test("nesting is limited, and deep input fails without exhausting the stack")
    func depth() throws {
        let ok = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        #expect(try JSONValue.parse(ok).nestingDepth == 32)
        let tooDeep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        expectError(.invalidJSON) { try JSONValue.parse(tooDeep) }
        expectError(.invalidJSON) { try JSONValue.parse(String(repeating: "{\"a\":", count: 100_000)) }
        expectError(.invalidJSON) { try JSONValue.parse(String(repeating: "[", count: 100_000)) }
        #expect(try JSONValue.parse(tooDeep, maxDepth: 40).nestingDepth == 33)
    }

    @Test("duplicate keys are refused by bytes; canonically equivalent keys are distinct")
    func duplicateKeys() throws {
        expectError(.invalidJSON) { try JSONValue.parse(#"{"a":1,"b":2,"a":1}"#) }
        // "é" precomposed and decomposed: equal as Swift Strings, different bytes.
        let value = try JSONValue.parse("{\"\u{E9}\":1,\"e\u{301}\":2}")
        #expect(value.objectValue?.count == 2)
        #expect(value["\u{E9}"] == 1)
        #expect(value["e\u{301}"] == 2)
        #expect(JSONValue.string("\u{E9}") != JSONValue.string("e\u{301}"))
    }

    @Test("object keys sort by UTF-8 bytes")
    func keyOrder() throws {
        let value = try JSONValue.parse(#"{"b":0,"a":0,"B":0,"é":0,"aa":0,"":0,"😀":0,"\uffff":0}"#)
        #expect(value.objectValue?.keys == ["", "B", "a", "aa", "b", "é", "\u{FFFF}", "😀"])
    }

    @Test("JSONNumber: exact comparisons, integers, text")
    func jsonNumber() throws {
        #expect(JSONNumber("1.0") == JSONNumber(1))
        #expect(JSONNumber("01") == nil)
        #expect(JSONNumber(" 1") == nil)
        #expect(JSONNumber("1 ") == nil)
        #expect(JSONNumber(Int.min).description == "-9223372036854775808")
        #expect(JSONNumber(Int.min).int64Value == Int64.min)
        #expect(JSONNumber(Int.max).int64Value == Int64.max)
        #expect(JSONNumber("9223372036854775808")?.int64Value == nil)
        #expect(JSONNumber("1.5")?.int64Value == nil)
        #expect(JSONNumber("1e3")?.int64Value == 1000)
        #expect(JSONNumber("0")?.int64Value == 0)
        let ordered = ["-1e10", "-100", "-1.5", "-1", "-0.001", "0", "1e-9", "0.5", "1", "1.0000001", "2", "10", "1e10"]
            .map { JSONNumber($0)! }
        #expect(ordered == ordered.sorted())
        for (a, b) in zip(ordered, ordered.dropFirst()) {
            #expect(a < b)
            #expect(!(b < a))
        }
    }

    @Test("random byte strings never trap, and whatever parses re-reads from its canonical text")
    func fuzz() throws {
        var random = SplitMix64(seed: 42)
        let alphabet = Array(#"{}[],:"\\/u0123456789abcdefABCDEF.-+eEtrunlsx é"#.utf8) + [0x00, 0x0A, 0xC3, 0xFF]
        var parsed = 0
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...12, using: &random)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &random)! }
            do {
                let value = try JSONValue.parse(bytes)
                parsed += 1
                let canonical = value.canonicalBytes
                #expect(try JSONValue.parse(canonical) == value)
                #expect(try JSONValue.parse(canonical).canonicalBytes == canonical)
            } catch {
                #expect(error.code == .invalidJSON, "\(error)")
            }
        }
        #expect(parsed > 0)
    }
}
