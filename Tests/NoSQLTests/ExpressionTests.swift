import NoSQL
import Testing

/// The expression parser and evaluators, against DynamoDB's documented behaviour.
@Suite("Expressions: parser, conditions, updates, projections")
struct ExpressionTests {
    static let song: AttributeMap = [
        "Artist": "Queen", "Title": "Bohemian Rhapsody", "Plays": 10, "Rating": .number(JSONNumber("4.5")!),
        "Tags": AttributeValue.set(strings: ["opera", "rock"])!, "Scores": AttributeValue.set(numbers: [JSONNumber(1), JSONNumber(2)])!,
        "Blobby": .binary([1, 2, 3]), "Credits": ["Mercury", "May", .bool(true)],
        "Meta": ["len": .number(JSONNumber("5.92")!), "live": .bool(false), "nothing": .null, "words": ["a", "b"]],
        "Flag": .null, "Blank": "",
    ]

    static let values: [String: AttributeValue] = [
        ":queen": "Queen", ":ten": 10, ":five": 5, ":twenty": 20, ":rock": "rock", ":pop": "pop", ":B": "B",
        ":one": 1, ":two": 2, ":zero": 0, ":list": ["x"], ":S": "S", ":SS": "SS", ":M": "M", ":N": "N", ":NULL": "NULL",
        ":bin": .binary([1, 2]), ":Mer": "Mer", ":set": AttributeValue.set(strings: ["jazz", "rock"])!,
        ":nums": AttributeValue.set(numbers: [JSONNumber(2), JSONNumber(3)])!, ":empty": "",
    ]

    func condition(_ text: String, names: [String: String] = [:]) throws -> Condition {
        var usage = ExpressionUsage()
        return try ExpressionParser.condition(text, attributes: ExpressionAttributes(names: names, values: Self.values), usage: &usage)
    }

    func holds(_ text: String, names: [String: String] = [:], on item: AttributeMap? = ExpressionTests.song) throws -> Bool {
        ConditionEvaluator.evaluate(try condition(text, names: names), on: item)
    }

    func parseError(_ text: String, kind: ExpressionKind = .condition, names: [String: String] = [:]) -> String {
        var usage = ExpressionUsage()
        let attributes = ExpressionAttributes(names: names, values: Self.values)
        do {
            switch kind {
            case .update: _ = try ExpressionParser.update(text, attributes: attributes, usage: &usage)
            case .projection: _ = try ExpressionParser.projection(text, attributes: attributes, usage: &usage)
            default: _ = try ExpressionParser.condition(text, kind: kind, attributes: attributes, usage: &usage)
            }
            return "parsed"
        } catch {
            #expect(error.code == .invalidExpression)
            return error.message
        }
    }

    // MARK: Parsing

    @Test("precedence: comparisons, then NOT, AND, OR; parentheses override; keywords in any case")
    func precedence() throws {
        #expect(
            try condition("Plays = :ten OR Plays = :five AND NOT Artist = :queen")
                == .or(
                    .compare(.path(DocumentPath(attribute: "Plays")), .equal, .value(10)),
                    .and(
                        .compare(.path(DocumentPath(attribute: "Plays")), .equal, .value(5)),
                        .not(.compare(.path(DocumentPath(attribute: "Artist")), .equal, .value("Queen"))))))
        #expect(try holds("Plays = :ten or Plays = :five and not Artist = :queen"))
        #expect(try !holds("(Plays = :ten OR Plays = :five) AND NOT Artist = :queen"))
        #expect(try holds("Plays BETWEEN :five AND :twenty AND Artist = :queen"))
        #expect(try holds("NOT NOT attribute_exists(Plays)"))
    }

    @Test("paths: nested names, list indexes, #placeholders standing for any name (dots included)")
    func paths() throws {
        #expect(try holds("Meta.len > :five"))
        #expect(try holds("Meta.words[1] = :B", names: [:]) == false)
        #expect(try holds("Credits[0] = #n", names: ["#n": "x"]) == false)
        #expect(try holds("Credits[0] > :Mer"))
        #expect(try holds("#a.#b = :queen", names: ["#a": "Meta", "#b": "x"]) == false)
        #expect(try holds("#dotted = :queen", names: ["#dotted": "Artist"]))
        #expect(try condition("#d = :one", names: ["#d": "a.b"]) == .compare(.path(DocumentPath(attribute: "a.b")), .equal, .value(1)))
        #expect(try condition("a.b[2][0].c = :one") == .compare(.path(DocumentPath([.name("a"), .name("b"), .index(2), .index(0), .name("c")])), .equal, .value(1)))
    }

    @Test("errors name the expression and say what is wrong, as DynamoDB's do")
    func errors() {
        #expect(parseError("Plays = = :ten") == "Invalid ConditionExpression: Syntax error; token: \"=\", near: \"= = :ten\"")
        #expect(parseError("Plays =") == "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"=\"")
        #expect(parseError("Plays = :nope").contains("An expression attribute value used in expression is not defined; attribute value: :nope"))
        #expect(parseError("#nope = :one").contains("An expression attribute name used in the document path is not defined; attribute name: #nope"))
        #expect(parseError("Year = :one") == "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: Year")
        #expect(parseError("name = :one").contains("reserved keyword: name"))
        #expect(parseError("", kind: .filter) == "Invalid FilterExpression: The expression can not be empty;")
        #expect(parseError("Plays BETWEEN :twenty AND :five").contains("The BETWEEN operator requires upper bound to be greater than or equal to lower bound"))
        #expect(parseError("Plays < :list").contains("Incorrect operand type for operator or function; operator or function: <, operand type: L"))
        #expect(parseError("begins_with(Artist, :ten)").contains("operator or function: begins_with, operand type: N"))
        #expect(parseError("size(:ten) > :one").contains("operator or function: size, operand type: N"))
        #expect(parseError("attribute_type(Plays, :pop)").contains("Invalid attribute type name found; type: pop"))
        #expect(parseError("bogus(Plays)").contains("Invalid function name; function: bogus"))
        #expect(parseError("if_not_exists(Plays, :one) = :one").contains("The function is not allowed to be used this way"))
        #expect(parseError("Plays = :one !").contains("Syntax error; token: \"!\""))
        #expect(parseError(String(repeating: "(", count: 70) + "a = :one" + String(repeating: ")", count: 70)).contains("nests more than"))
        #expect(parseError("a = :one AND " + String(repeating: "b = :one AND ", count: 400) + "c = :one").contains("Expression size has exceeded"))
        #expect(parseError("a IN (" + Array(repeating: ":one", count: 101).joined(separator: ",") + ")").contains("IN operator takes at most 100"))
        // Updates.
        #expect(parseError("SET a = :one SET b = :two", kind: .update).contains("The \"SET\" section can only be used once"))
        #expect(parseError("SET a = :one, a.b = :two", kind: .update).contains("Two document paths overlap with each other"))
        #expect(parseError("SET a = :one REMOVE a", kind: .update).contains("Two document paths conflict with each other"))
        #expect(parseError("ADD a :pop", kind: .update).contains("operator: ADD, operand type: STRING"))
        #expect(parseError("DELETE a :one", kind: .update).contains("operator: DELETE, operand type: NUMBER"))
        #expect(parseError("SET a = size(b)", kind: .update).contains("The function is not allowed in an update expression; function: size"))
        #expect(parseError("SET a = :one + :pop", kind: .update).contains("operator: +, operand type: STRING"))
        #expect(parseError("SET a = list_append(:one, :list)", kind: .update).contains("list_append, operand type: N"))
        #expect(parseError("UPSERT a = :one", kind: .update).contains("Syntax error"))
        #expect(parseError("a, a.b", kind: .projection).contains("Two document paths overlap"))
    }

    @Test("every placeholder the request defines must be used")
    func unusedPlaceholders() throws {
        var usage = ExpressionUsage()
        let attributes = ExpressionAttributes(names: ["#a": "a", "#b": "b"], values: [":x": 1, ":y": 2])
        _ = try ExpressionParser.condition("#a = :x", attributes: attributes, usage: &usage)
        #expect(throws: NoSQLError.self) { try usage.checkAllUsed(attributes) }
        do {
            try usage.checkAllUsed(attributes)
        } catch {
            #expect(error.message == "Value provided in ExpressionAttributeValues unused in expressions: keys: {:y}")
        }
        _ = try ExpressionParser.update("SET #b = :y", attributes: attributes, usage: &usage)
        try usage.checkAllUsed(attributes)
    }

    // MARK: Conditions

    @Test("comparisons: by value for numbers, by bytes for strings and binary; different types never compare")
    func comparisons() throws {
        #expect(try holds("Plays = :ten") && holds("Plays <> :five") && holds("Plays > :five") && holds("Plays >= :ten"))
        #expect(try holds("Rating < :five") && !holds("Rating > :five"))
        #expect(try holds("Artist > :Mer") && holds("Artist <= :queen"))
        #expect(try !holds("Plays > :queen") && !holds("Plays < :queen"))  // N vs S: false both ways
        #expect(try !holds("Plays = :queen") && holds("Plays <> :queen"))
        #expect(try holds("Blobby > :bin"))
        #expect(try holds("Tags = :set") == false)
        #expect(try holds("Plays IN (:five, :ten)") && !holds("Plays IN (:one, :two)"))
        #expect(try holds("Plays BETWEEN :ten AND :ten") && !holds("Plays BETWEEN :one AND :five"))
        #expect(try holds("Meta.len BETWEEN :five AND :ten"))
    }

    @Test("a missing attribute makes comparisons false and <> true")
    func missing() throws {
        #expect(try !holds("Nope = :one") && !holds("Nope < :one") && !holds("Nope BETWEEN :one AND :two"))
        #expect(try holds("Nope <> :one") && holds("NOT Nope = :one"))
        #expect(try !holds("Nope IN (:one)") && !holds("begins_with(Nope, :B)") && !holds("contains(Nope, :rock)"))
        #expect(try holds("attribute_not_exists(Nope)") && !holds("attribute_exists(Nope)"))
        #expect(try holds("attribute_exists(Flag)"))  // NULL is a value
        #expect(try holds("attribute_not_exists(Artist)", on: nil))
        #expect(try !holds("Meta.words[5] = :B"))
    }

    @Test("functions: attribute_type, begins_with, contains, size")
    func functions() throws {
        for (path, type) in [("Artist", ":S"), ("Tags", ":SS"), ("Meta", ":M"), ("Plays", ":N"), ("Flag", ":NULL")] {
            #expect(try holds("attribute_type(\(path), \(type))"))
        }
        #expect(try !holds("attribute_type(Plays, :S)"))
        #expect(try holds("begins_with(Artist, :queen)") && holds("begins_with(Credits[0], :Mer)") && !holds("begins_with(Artist, :rock)"))
        #expect(try holds("begins_with(Blobby, :bin)") && !holds("begins_with(Plays, :Mer)"))
        #expect(try holds("begins_with(Artist, :empty)"))
        #expect(try holds("contains(Tags, :rock)") && !holds("contains(Tags, :pop)"))
        #expect(try holds("contains(Title, :B)") && !holds("contains(Title, :pop)"))
        #expect(try holds("contains(Scores, :two)") && !holds("contains(Scores, :five)"))
        #expect(try holds("contains(Credits, :B)") == false)
        #expect(try !holds("contains(Tags, :ten)"))  // a number is never in a string set
        #expect(try holds("size(Artist) = :five") && holds("size(Tags) = :two") && holds("size(Credits) > :two"))
        #expect(try holds("size(Meta) = :five") == false && holds("size(Blobby) > :two"))
        #expect(try !holds("size(Plays) > :zero") && !holds("size(Plays) = :zero"))  // N has no size
        #expect(try holds("size(Blank) = :zero"))
        // size counts UTF-16 code units, as DynamoDB does.
        let item: AttributeMap = ["s": "é𝄞"]
        var usage = ExpressionUsage()
        let threeUnits = try ExpressionParser.condition(
            "size(s) = :n", attributes: ExpressionAttributes(values: [":n": 3]), usage: &usage)
        #expect(ConditionEvaluator.evaluate(threeUnits, on: item))
    }

    // MARK: Updates

    func update(
        _ text: String, _ item: AttributeMap = ExpressionTests.song, names: [String: String] = [:],
        values: [String: AttributeValue] = ExpressionTests.values
    ) throws -> AttributeMap {
        var usage = ExpressionUsage()
        let expression = try ExpressionParser.update(text, attributes: ExpressionAttributes(names: names, values: values), usage: &usage)
        var result = item
        try UpdateEvaluator.apply(expression, to: &result, schema: TableSchema(name: "Songs", partitionKey: "Artist", sortKey: "Title"))
        return result
    }

    func updateError(_ text: String, _ item: AttributeMap = ExpressionTests.song) -> String {
        do {
            _ = try update(text, item)
            return "applied"
        } catch let error as NoSQLError {
            #expect(error.code == .invalidUpdate)
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test("SET: values, arithmetic, if_not_exists, list_append, nested paths, list indexes")
    func set() throws {
        var item = try update("SET Plays = Plays + :one, Rating = :five - Rating, Newcomer = :pop")
        #expect(item["Plays"] == 11 && item["Rating"] == .number(JSONNumber("0.5")!) && item["Newcomer"] == "pop")
        item = try update("SET Tally = if_not_exists(Tally, :zero) + :one, Plays = if_not_exists(Plays, :zero)")
        #expect(item["Tally"] == 1 && item["Plays"] == 10)
        item = try update("SET Credits = list_append(Credits, :list), Fresh = list_append(if_not_exists(Fresh, :list), :list)")
        #expect(item["Credits"] == ["Mercury", "May", .bool(true), "x"] && item["Fresh"] == ["x", "x"])
        item = try update("SET Meta.len = :one, Meta.words[0] = :B, Meta.words[9] = :pop, Credits[1] = :rock")
        #expect(item["Meta"]?.mapValue?["len"] == 1)
        #expect(item["Meta"]?.mapValue?["words"] == ["B", "b", "pop"])
        #expect(item["Credits"] == ["Mercury", "rock", .bool(true)])
        // Right-hand sides read the item as it was before the update.
        item = try update("SET Plays = :one, Duplicate = Plays")
        #expect(item["Duplicate"] == 10)
    }

    @Test("REMOVE, ADD and DELETE")
    func removeAddDelete() throws {
        var item = try update("REMOVE Plays, Meta.live, Credits[0], Credits[2], Nope")
        #expect(item["Plays"] == nil && item["Meta"]?.mapValue?["live"] == nil && item["Credits"] == ["May"])
        item = try update("ADD Plays :five, Tags :set, Fresh :one, FreshSet :nums")
        #expect(item["Plays"] == 15 && item["Fresh"] == 1)
        #expect(item["Tags"] == AttributeValue.set(strings: ["jazz", "opera", "rock"]))
        #expect(item["FreshSet"] == AttributeValue.set(numbers: [JSONNumber(2), JSONNumber(3)]))
        item = try update("DELETE Tags :set, Scores :nums, Nope :set")
        #expect(item["Tags"] == AttributeValue.set(strings: ["opera"]) && item["Scores"] == AttributeValue.set(numbers: [JSONNumber(1)]))
        let values: [String: AttributeValue] = [":all": AttributeValue.set(strings: ["opera", "rock"])!]
        item = try update("DELETE Tags :all", values: values)
        #expect(item["Tags"] == nil, "a set left empty is removed")
    }

    @Test("update errors: wrong types, missing operands, invalid paths, key attributes, numbers out of range")
    func updateErrors() {
        #expect(updateError("SET Artist = :pop").hasSuffix("Cannot update attribute Artist. This attribute is part of the key"))
        #expect(updateError("SET x = Artist + :one") == "An operand in the update expression has an incorrect data type")
        #expect(updateError("SET x = Nope + :one") == "The provided expression refers to an attribute that does not exist in the item")
        #expect(updateError("SET Nope.x = :one") == "The document path provided in the update expression is invalid for update")
        #expect(updateError("SET Plays.x = :one") == "The document path provided in the update expression is invalid for update")
        #expect(updateError("ADD Artist :one").hasSuffix("Cannot update attribute Artist. This attribute is part of the key"))
        #expect(updateError("ADD Title2 :one", ["Artist": "a", "Title": "t", "Title2": "s"]) == "An operand in the update expression has an incorrect data type")
        #expect(updateError("DELETE Tags :nums") == "An operand in the update expression has an incorrect data type")
        #expect(updateError("SET x = list_append(Plays, :list)") == "An operand in the update expression has an incorrect data type")
        #expect(updateError("REMOVE Plays.x") == "The document path provided in the update expression is invalid for update")
        #expect(updateError("REMOVE Nope.x") == "applied")
        let big: AttributeMap = ["Artist": "a", "Title": "t", "n": .number(JSONNumber("9e125")!), "m": .number(JSONNumber("1e50")!)]
        #expect(updateError("SET n = n + n", big).contains("Number overflow"))
        #expect(updateError("SET m = m + :one", big).contains("Number overflow"))
    }

    @Test("projections keep the named parts, lists closing up")
    func projections() throws {
        var usage = ExpressionUsage()
        let paths = try ExpressionParser.projection(
            "Artist, Meta.len, Credits[2], Credits[0], Meta.nothing, Nope, Meta.words[7]", attributes: ExpressionAttributes(), usage: &usage)
        let projected = Projection.apply(paths, to: Self.song)
        #expect(projected == ["Artist": "Queen", "Meta": ["len": .number(JSONNumber("5.92")!), "nothing": .null], "Credits": ["Mercury", .bool(true)]])
    }
}
