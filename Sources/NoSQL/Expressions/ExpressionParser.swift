/// Parses DynamoDB's expression language into `Condition`, `UpdateExpression`
/// and projection paths, resolving `#name` and `:value` placeholders.
///
/// Grammar (keywords are case-insensitive, function names are not):
///
///     condition  = or
///     or         = and { OR and }
///     and        = not { AND not }
///     not        = NOT not | primary
///     primary    = "(" condition ")" | function | operand comparison
///     comparison = ("=" | "<>" | "<" | "<=" | ">" | ">=") operand
///                | BETWEEN operand AND operand | IN "(" operand { "," operand } ")"
///     function   = attribute_exists(path) | attribute_not_exists(path)
///                | attribute_type(path, :t) | begins_with(operand, operand)
///                | contains(operand, operand)
///     operand    = path | :value | size(operand)
///     path       = (name | #name) { "." (name | #name) | "[" digits "]" }
///
///     update     = clause { clause }, each of SET, REMOVE, ADD, DELETE at most once
///     clause     = SET action { "," action } | REMOVE path { "," path }
///                | ADD path :value { "," path :value } | DELETE path :value { ... }
///     action     = path "=" value [ ("+" | "-") value ]
///     value      = path | :value | if_not_exists(path, value) | list_append(value, value)
///
///     projection = path { "," path }
///
/// Errors are `invalid_expression` with DynamoDB's wording, e.g.
/// `Invalid ConditionExpression: Syntax error; token: "=", near: "a = = b"`.
/// An attribute name that is a DynamoDB reserved word must be written
/// through a `#name` placeholder, as DynamoDB requires.
public struct ExpressionParser {
    /// Longest expression text, in UTF-8 bytes (DynamoDB's limit).
    public static let maxExpressionBytes = 4096
    /// Deepest nesting of parentheses, NOT and functions; bounds recursion.
    public static let maxNesting = 64
    /// Most operands of one IN (DynamoDB's limit).
    public static let maxInOperands = 100

    let kind: ExpressionKind
    let text: String
    let attributes: ExpressionAttributes
    private var tokens: [Token] = []
    private var position = 0
    private var nesting = 0
    /// The placeholders this parse used.
    public private(set) var usage = ExpressionUsage()

    init(_ text: String, kind: ExpressionKind, attributes: ExpressionAttributes) {
        self.text = text
        self.kind = kind
        self.attributes = attributes
    }

    // MARK: Entry points

    /// A condition, filter or key condition expression.
    public static func condition(
        _ text: String, kind: ExpressionKind = .condition, attributes: ExpressionAttributes, usage: inout ExpressionUsage
    ) throws(NoSQLError) -> Condition {
        var parser = ExpressionParser(text, kind: kind, attributes: attributes)
        try parser.tokenize()
        let condition = try parser.parseOr()
        try parser.expectEnd()
        usage.names.formUnion(parser.usage.names)
        usage.values.formUnion(parser.usage.values)
        return condition
    }

    public static func update(
        _ text: String, attributes: ExpressionAttributes, usage: inout ExpressionUsage
    ) throws(NoSQLError) -> UpdateExpression {
        var parser = ExpressionParser(text, kind: .update, attributes: attributes)
        try parser.tokenize()
        let update = try parser.parseUpdate()
        usage.names.formUnion(parser.usage.names)
        usage.values.formUnion(parser.usage.values)
        return update
    }

    public static func projection(
        _ text: String, attributes: ExpressionAttributes, usage: inout ExpressionUsage
    ) throws(NoSQLError) -> [DocumentPath] {
        var parser = ExpressionParser(text, kind: .projection, attributes: attributes)
        try parser.tokenize()
        var paths = [try parser.parsePath()]
        while parser.consumeSymbol(",") { paths.append(try parser.parsePath()) }
        try parser.expectEnd()
        try parser.checkNoOverlap(paths)
        usage.names.formUnion(parser.usage.names)
        usage.values.formUnion(parser.usage.values)
        return paths
    }

    // MARK: Tokens

    struct Token {
        enum Kind: Equatable {
            case identifier(String)
            case namePlaceholder(String)
            case valuePlaceholder(String)
            case integer(String)
            case symbol(String)
            case invalid(String)
            case end
        }

        let kind: Kind
        let start: Int
        let end: Int
    }

    private mutating func tokenize() throws(NoSQLError) {
        let bytes = Array(text.utf8)
        guard bytes.count <= Self.maxExpressionBytes else {
            throw error("Expression size has exceeded the maximum allowed size; expression size: \(bytes.count)")
        }
        func isWordByte(_ byte: UInt8) -> Bool {
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x5F
        }
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let start = index
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D:
                index += 1
                continue
            case UInt8(ascii: "#"), UInt8(ascii: ":"):
                index += 1
                while index < bytes.count, isWordByte(bytes[index]) { index += 1 }
                let name = String(decoding: bytes[start..<index], as: UTF8.self)
                if index == start + 1 {
                    tokens.append(Token(kind: .invalid(name), start: start, end: index))
                } else {
                    tokens.append(Token(kind: byte == UInt8(ascii: "#") ? .namePlaceholder(name) : .valuePlaceholder(name), start: start, end: index))
                }
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
                tokens.append(Token(kind: .integer(String(decoding: bytes[start..<index], as: UTF8.self)), start: start, end: index))
            case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ","),
                UInt8(ascii: "."), UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"):
                index += 1
                tokens.append(Token(kind: .symbol(String(UnicodeScalar(byte))), start: start, end: index))
            case UInt8(ascii: "<"):
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "=") || bytes[index] == UInt8(ascii: ">") { index += 1 }
                tokens.append(Token(kind: .symbol(String(decoding: bytes[start..<index], as: UTF8.self)), start: start, end: index))
            case UInt8(ascii: ">"):
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "=") { index += 1 }
                tokens.append(Token(kind: .symbol(String(decoding: bytes[start..<index], as: UTF8.self)), start: start, end: index))
            default:
                if isWordByte(byte) {
                    while index < bytes.count, isWordByte(bytes[index]) { index += 1 }
                    tokens.append(Token(kind: .identifier(String(decoding: bytes[start..<index], as: UTF8.self)), start: start, end: index))
                } else {
                    // One whole UTF-8 sequence, so the message shows a character.
                    index += 1
                    while index < bytes.count, bytes[index] & 0xC0 == 0x80 { index += 1 }
                    tokens.append(Token(kind: .invalid(String(decoding: bytes[start..<index], as: UTF8.self)), start: start, end: index))
                }
            }
        }
        if tokens.isEmpty { throw error("The expression can not be empty;") }
        tokens.append(Token(kind: .end, start: bytes.count, end: bytes.count))
    }

    private var current: Token { tokens[position] }

    private func isKeyword(_ keyword: String, _ token: Token? = nil) -> Bool {
        if case .identifier(let word) = (token ?? current).kind { return word.uppercased() == keyword }
        return false
    }

    private mutating func consumeKeyword(_ keyword: String) -> Bool {
        guard isKeyword(keyword) else { return false }
        position += 1
        return true
    }

    private func isSymbol(_ symbol: String) -> Bool {
        current.kind == .symbol(symbol)
    }

    private mutating func consumeSymbol(_ symbol: String) -> Bool {
        guard isSymbol(symbol) else { return false }
        position += 1
        return true
    }

    private mutating func expectSymbol(_ symbol: String) throws(NoSQLError) {
        guard consumeSymbol(symbol) else { throw syntaxError() }
    }

    private func expectEnd() throws(NoSQLError) {
        guard current.kind == .end else { throw syntaxError() }
    }

    // MARK: Errors

    func error(_ message: String) -> NoSQLError {
        NoSQLError(.invalidExpression, "Invalid \(kind.rawValue): \(message)")
    }

    /// DynamoDB's syntax error: the offending token and the text around it.
    private func syntaxError() -> NoSQLError {
        let token = current
        let bytes = Array(text.utf8)
        let tokenText = token.kind == .end ? "<EOF>" : String(decoding: bytes[token.start..<token.end], as: UTF8.self)
        let nearStart = position > 0 ? tokens[position - 1].start : token.start
        let nearEnd = position + 1 < tokens.count ? tokens[position + 1].end : token.end
        let near = String(decoding: bytes[nearStart..<max(nearStart, nearEnd)], as: UTF8.self)
        return error("Syntax error; token: \"\(tokenText)\", near: \"\(near)\"")
    }

    private mutating func enter() throws(NoSQLError) {
        nesting += 1
        guard nesting <= Self.maxNesting else { throw error("The expression nests more than \(Self.maxNesting) levels") }
    }

    private mutating func leave() { nesting -= 1 }

    // MARK: Conditions

    private mutating func parseOr() throws(NoSQLError) -> Condition {
        var left = try parseAnd()
        while consumeKeyword("OR") { left = .or(left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws(NoSQLError) -> Condition {
        var left = try parseNot()
        while consumeKeyword("AND") { left = .and(left, try parseNot()) }
        return left
    }

    private mutating func parseNot() throws(NoSQLError) -> Condition {
        guard consumeKeyword("NOT") else { return try parsePrimary() }
        try enter()
        defer { leave() }
        return .not(try parseNot())
    }

    private static let conditionFunctions: Set<String> = [
        "attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains",
    ]
    private static let updateFunctions: Set<String> = ["if_not_exists", "list_append"]
    private static let allFunctions = conditionFunctions.union(updateFunctions).union(["size"])

    private func isFunctionCall() -> Bool {
        guard case .identifier = current.kind, position + 1 < tokens.count else { return false }
        return tokens[position + 1].kind == .symbol("(")
    }

    private mutating func parsePrimary() throws(NoSQLError) -> Condition {
        if consumeSymbol("(") {
            try enter()
            defer { leave() }
            let inner = try parseOr()
            try expectSymbol(")")
            return inner
        }
        if isFunctionCall(), case .identifier(let name) = current.kind, Self.conditionFunctions.contains(name) {
            return try parseConditionFunction(name)
        }
        let left = try parseOperand()
        if case .symbol(let symbol) = current.kind, let comparator = Comparator(rawValue: symbol) {
            position += 1
            let right = try parseOperand()
            if comparator != .equal && comparator != .notEqual {
                try checkOrderable(left, operator: symbol)
                try checkOrderable(right, operator: symbol)
            }
            return .compare(left, comparator, right)
        }
        if consumeKeyword("BETWEEN") {
            let low = try parseOperand()
            guard consumeKeyword("AND") else { throw syntaxError() }
            let high = try parseOperand()
            for operand in [left, low, high] { try checkOrderable(operand, operator: "BETWEEN") }
            if case .value(let lowValue) = low, case .value(let highValue) = high,
                let order = ConditionEvaluator.order(lowValue, highValue), order > 0
            {
                throw error(
                    "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {\(lowValue.typeName.rawValue):\(Self.describe(lowValue))}, upper bound operand: AttributeValue: {\(highValue.typeName.rawValue):\(Self.describe(highValue))}")
            }
            return .between(left, low, high)
        }
        if consumeKeyword("IN") {
            try expectSymbol("(")
            var options = [try parseOperand()]
            while consumeSymbol(",") { options.append(try parseOperand()) }
            try expectSymbol(")")
            guard options.count <= Self.maxInOperands else {
                throw error("The IN operator takes at most \(Self.maxInOperands) operands; found \(options.count)")
            }
            return .isIn(left, options)
        }
        throw syntaxError()
    }

    private mutating func parseConditionFunction(_ name: String) throws(NoSQLError) -> Condition {
        position += 2  // name and "("
        try enter()
        defer { leave() }
        let condition: Condition
        switch name {
        case "attribute_exists", "attribute_not_exists":
            let path = try parsePath()
            condition = name == "attribute_exists" ? .attributeExists(path) : .attributeNotExists(path)
        case "attribute_type":
            let path = try parsePath()
            try expectSymbol(",")
            let type = try parseOperand()
            if case .value(let value) = type {
                guard case .string(let typeName) = value else {
                    throw incorrectOperand("attribute_type", value)
                }
                guard AttributeValue.TypeName(rawValue: typeName) != nil else {
                    throw error("Invalid attribute type name found; type: \(typeName), valid types: { B,NULL,SS,BOOL,L,BS,N,NS,S,M }")
                }
            }
            condition = .attributeType(path, type)
        case "begins_with":
            let subject = try parseOperand()
            try expectSymbol(",")
            let prefix = try parseOperand()
            for operand in [subject, prefix] {
                if case .value(let value) = operand, value.typeName != .string && value.typeName != .binary {
                    throw incorrectOperand("begins_with", value)
                }
            }
            condition = .beginsWith(subject, prefix)
        default:  // contains
            let subject = try parseOperand()
            try expectSymbol(",")
            condition = .contains(subject, try parseOperand())
        }
        try expectSymbol(")")
        return condition
    }

    /// Operands of <, <=, >, >= and BETWEEN: a literal must be N, S or B.
    private func checkOrderable(_ operand: Operand, operator name: String) throws(NoSQLError) {
        if case .value(let value) = operand, ![.number, .string, .binary].contains(value.typeName) {
            throw incorrectOperand(name, value)
        }
    }

    private func incorrectOperand(_ name: String, _ value: AttributeValue) -> NoSQLError {
        error("Incorrect operand type for operator or function; operator or function: \(name), operand type: \(value.typeName.rawValue)")
    }

    static func describe(_ value: AttributeValue) -> String {
        switch value {
        case .number(let number): number.plainText
        case .string(let string): string
        case .binary(let bytes): Base64.encode(bytes)
        default: value.json.canonicalText
        }
    }

    // MARK: Operands

    /// A condition operand: a path, a value, or `size(...)`.
    private mutating func parseOperand() throws(NoSQLError) -> Operand {
        if isFunctionCall(), case .identifier(let name) = current.kind {
            guard name == "size" else {
                if Self.allFunctions.contains(name) {
                    throw error("The function is not allowed to be used this way in an expression; function: \(name)")
                }
                throw error("Invalid function name; function: \(name)")
            }
            position += 2
            try enter()
            defer { leave() }
            let argument = try parseOperand()
            try expectSymbol(")")
            switch argument {
            case .value(let value):
                if ![.string, .binary, .stringSet, .numberSet, .binarySet, .map, .list].contains(value.typeName) {
                    throw incorrectOperand("size", value)
                }
            case .size:
                throw error("Incorrect operand type for operator or function; operator or function: size, operand type: N")
            default: break
            }
            return .size(argument)
        }
        if case .valuePlaceholder(let name) = current.kind {
            position += 1
            return .value(try value(named: name))
        }
        return .path(try parsePath())
    }

    private mutating func value(named name: String) throws(NoSQLError) -> AttributeValue {
        guard let value = attributes.values[name] else {
            throw error("An expression attribute value used in expression is not defined; attribute value: \(name)")
        }
        usage.values.insert(name)
        return value
    }

    private mutating func parsePath() throws(NoSQLError) -> DocumentPath {
        var elements = [DocumentPath.Element.name(try parseName())]
        while true {
            if consumeSymbol(".") {
                elements.append(.name(try parseName()))
            } else if consumeSymbol("[") {
                guard case .integer(let digits) = current.kind, let index = Int(digits), index <= Int(Int32.max) else {
                    throw syntaxError()
                }
                position += 1
                try expectSymbol("]")
                elements.append(.index(index))
            } else {
                return DocumentPath(elements)
            }
        }
    }

    private mutating func parseName() throws(NoSQLError) -> String {
        switch current.kind {
        case .identifier(let word):
            if ReservedWords.contains(word) {
                throw error("Attribute name is a reserved keyword; reserved keyword: \(word)")
            }
            position += 1
            return word
        case .namePlaceholder(let placeholder):
            guard let name = attributes.names[placeholder] else {
                throw error("An expression attribute name used in the document path is not defined; attribute name: \(placeholder)")
            }
            usage.names.insert(placeholder)
            position += 1
            return name
        default:
            throw syntaxError()
        }
    }

    // MARK: Updates

    private mutating func parseUpdate() throws(NoSQLError) -> UpdateExpression {
        var update = UpdateExpression()
        var seen: Set<String> = []
        repeat {
            guard case .identifier(let word) = current.kind else { throw syntaxError() }
            let clause = word.uppercased()
            guard ["SET", "REMOVE", "ADD", "DELETE"].contains(clause) else { throw syntaxError() }
            guard seen.insert(clause).inserted else {
                throw error("The \"\(clause)\" section can only be used once in an update expression;")
            }
            position += 1
            repeat {
                switch clause {
                case "SET":
                    let path = try parsePath()
                    try expectSymbol("=")
                    update.assignments.append((path, try parseSetValue()))
                case "REMOVE":
                    update.removals.append(try parsePath())
                default:
                    let path = try parsePath()
                    guard case .valuePlaceholder(let name) = current.kind else { throw syntaxError() }
                    position += 1
                    let value = try value(named: name)
                    if clause == "ADD" {
                        guard [.number, .stringSet, .numberSet, .binarySet].contains(value.typeName) else {
                            throw error("Incorrect operand type for operator or function; operator: ADD, operand type: \(Self.longTypeName(value))")
                        }
                        update.additions.append((path, value))
                    } else {
                        guard [.stringSet, .numberSet, .binarySet].contains(value.typeName) else {
                            throw error("Incorrect operand type for operator or function; operator: DELETE, operand type: \(Self.longTypeName(value))")
                        }
                        update.deletions.append((path, value))
                    }
                }
            } while consumeSymbol(",")
        } while current.kind != .end
        try checkNoOverlap(update.updatedPaths)
        return update
    }

    /// `value [("+" | "-") value]`.
    private mutating func parseSetValue() throws(NoSQLError) -> Operand {
        let left = try parseUpdateOperand()
        if consumeSymbol("+") {
            let right = try parseUpdateOperand()
            try checkNumeric(left, "+")
            try checkNumeric(right, "+")
            return .plus(left, right)
        }
        if consumeSymbol("-") {
            let right = try parseUpdateOperand()
            try checkNumeric(left, "-")
            try checkNumeric(right, "-")
            return .minus(left, right)
        }
        return left
    }

    private func checkNumeric(_ operand: Operand, _ name: String) throws(NoSQLError) {
        if case .value(let value) = operand, value.typeName != .number {
            throw error("Incorrect operand type for operator or function; operator: \(name), operand type: \(Self.longTypeName(value))")
        }
    }

    private mutating func parseUpdateOperand() throws(NoSQLError) -> Operand {
        if isFunctionCall(), case .identifier(let name) = current.kind {
            guard Self.updateFunctions.contains(name) else {
                if Self.allFunctions.contains(name) {
                    throw error("The function is not allowed in an update expression; function: \(name)")
                }
                throw error("Invalid function name; function: \(name)")
            }
            position += 2
            try enter()
            defer { leave() }
            let operand: Operand
            if name == "if_not_exists" {
                let path = try parsePath()
                try expectSymbol(",")
                operand = .ifNotExists(path, try parseUpdateOperand())
            } else {
                let first = try parseUpdateOperand()
                try expectSymbol(",")
                let second = try parseUpdateOperand()
                for argument in [first, second] {
                    if case .value(let value) = argument, value.typeName != .list {
                        throw error("Incorrect operand type for operator or function; operator or function: list_append, operand type: \(value.typeName.rawValue)")
                    }
                }
                operand = .listAppend(first, second)
            }
            try expectSymbol(")")
            return operand
        }
        if case .valuePlaceholder(let name) = current.kind {
            position += 1
            return .value(try value(named: name))
        }
        return .path(try parsePath())
    }

    /// DynamoDB's long type names, used in some messages.
    static func longTypeName(_ value: AttributeValue) -> String {
        switch value.typeName {
        case .string: "STRING"
        case .number: "NUMBER"
        case .binary: "BINARY"
        case .stringSet: "STRING_SET"
        case .numberSet: "NUMBER_SET"
        case .binarySet: "BINARY_SET"
        case .map: "MAP"
        case .list: "LIST"
        case .null: "NULL"
        case .bool: "BOOLEAN"
        }
    }

    /// No path may be a prefix of another (or repeat), as in DynamoDB.
    private func checkNoOverlap(_ paths: [DocumentPath]) throws(NoSQLError) {
        for (offset, first) in paths.enumerated() {
            for second in paths[(offset + 1)...] where first.overlaps(second) {
                let verb = first == second ? "conflict" : "overlap"
                throw error(
                    "Two document paths \(verb) with each other; must remove or rewrite one of these paths; path one: \(first), path two: \(second)")
            }
        }
    }
}
