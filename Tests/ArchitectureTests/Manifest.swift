import Foundation

/// Package.swift read as text, just far enough to check the layer rules of
/// docs/architecture.md: each target's name, kind, path and the targets it
/// names as dependencies.
///
/// The parser is small on purpose and fails loudly on what it does not know
/// rather than skipping it:
/// - `//` and `/* */` comments are dropped (string literals are kept intact;
///   multi-line `"""` literals are refused);
/// - the `targets:` argument of `Package(...)` is split at its top-level
///   commas into `.kind(arguments)` elements;
/// - in `dependencies: [...]`, a string literal (`"X"`), `.target(name: "X")`
///   and `.byName(name: "X")` name targets; `.product(...)` entries name
///   other packages' products and are left out; any other form is an error.
struct Manifest: Sendable {
    struct Target: Sendable, Hashable {
        var name: String
        /// `target`, `testTarget`, `executableTarget`, `systemLibrary`, `plugin`...
        var kind: String
        var path: String?
        var dependencies: [String]

        /// Test targets, and support targets that live under Tests/.
        var isTest: Bool { kind == "testTarget" || (path?.hasPrefix("Tests/") ?? false) }
        var isExecutable: Bool { kind == "executableTarget" }
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    let targets: [String: Target]

    /// The manifest at the root of this package (found from this file's path).
    static func load(filePath: String = #filePath) throws -> Manifest {
        let root = URL(fileURLWithPath: filePath)
            .deletingLastPathComponent()  // ArchitectureTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        return try Manifest(text: text)
    }

    init(text: String) throws {
        guard !text.contains("\"\"\"") else { throw ParseError(description: "multi-line string literals are not supported") }
        let code = Self.withoutComments(text)
        guard let start = code.range(of: "Package("),
            let package = Self.inside(String(code[start.lowerBound...]), open: "(", close: ")")
        else { throw ParseError(description: "no Package(...) call") }
        guard let list = Self.value(of: "targets", in: Self.splitTopLevel(package)),
            let elements = Self.inside(list, open: "[", close: "]")
        else { throw ParseError(description: "Package(...) has no targets: [...]") }
        var targets: [String: Target] = [:]
        for element in Self.splitTopLevel(elements) {
            let target = try Self.target(element)
            guard targets[target.name] == nil else { throw ParseError(description: "target \(target.name) declared twice") }
            targets[target.name] = target
        }
        self.targets = targets
    }

    /// Every target `name` depends on, directly or through others (not itself).
    func closure(of name: String) -> Set<String> {
        var seen: Set<String> = []
        var pending = targets[name]?.dependencies ?? []
        while let next = pending.popLast() {
            guard seen.insert(next).inserted else { continue }
            pending += targets[next]?.dependencies ?? []
        }
        return seen
    }

    // MARK: Parsing

    private static func target(_ element: String) throws -> Target {
        guard element.hasPrefix("."), let paren = element.firstIndex(of: "("),
            let body = inside(element, open: "(", close: ")")
        else { throw ParseError(description: "not a target declaration: \(element.prefix(60))") }
        let kind = String(element[element.index(after: element.startIndex)..<paren])
        let arguments = splitTopLevel(body)
        guard let name = value(of: "name", in: arguments).flatMap(literal) else {
            throw ParseError(description: "a .\(kind)(...) without a name")
        }
        var dependencies: [String] = []
        if let list = value(of: "dependencies", in: arguments) {
            guard let items = inside(list, open: "[", close: "]") else {
                throw ParseError(description: "\(name): dependencies is not a list")
            }
            for item in splitTopLevel(items) {
                if let target = literal(item) {
                    dependencies.append(target)
                } else if item.hasPrefix(".product(") {
                    continue  // another package's product, not a target of this one
                } else if item.hasPrefix(".target(") || item.hasPrefix(".byName("),
                    let inner = inside(item, open: "(", close: ")"),
                    let target = value(of: "name", in: splitTopLevel(inner)).flatMap(literal)
                {
                    dependencies.append(target)
                } else {
                    throw ParseError(description: "\(name): a dependency this parser does not know: \(item)")
                }
            }
        }
        return Target(name: name, kind: kind, path: value(of: "path", in: arguments).flatMap(literal), dependencies: dependencies)
    }

    /// `text` without `//` and `/* */` comments; string literals are kept as they are.
    private static func withoutComments(_ text: String) -> String {
        let characters = Array(text)
        var out = ""
        var i = 0
        var inString = false
        while i < characters.count {
            let character = characters[i]
            if inString {
                out.append(character)
                if character == "\\", i + 1 < characters.count {
                    out.append(characters[i + 1])
                    i += 2
                    continue
                }
                if character == "\"" { inString = false }
                i += 1
            } else if character == "/", i + 1 < characters.count, characters[i + 1] == "/" {
                while i < characters.count, characters[i] != "\n" { i += 1 }
            } else if character == "/", i + 1 < characters.count, characters[i + 1] == "*" {
                i += 2
                while i + 1 < characters.count, !(characters[i] == "*" && characters[i + 1] == "/") { i += 1 }
                i += 2
            } else {
                if character == "\"" { inString = true }
                out.append(character)
                i += 1
            }
        }
        return out
    }

    /// `text` split at the commas outside brackets, parentheses, braces and
    /// string literals; each part trimmed, empty parts (a trailing comma) dropped.
    private static func splitTopLevel(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        var inString = false
        var escaped = false
        for character in text {
            if inString {
                current.append(character)
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    inString = false
                }
                continue
            }
            switch character {
            case "\"": inString = true
            case "(", "[", "{": depth += 1
            case ")", "]", "}": depth -= 1
            case "," where depth == 0:
                parts.append(current)
                current = ""
                continue
            default: break
            }
            current.append(character)
        }
        parts.append(current)
        return parts.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    /// The text between the first `open` of `text` and the `close` that matches it.
    private static func inside(_ text: String, open: Character, close: Character) -> String? {
        guard let start = text.firstIndex(of: open) else { return nil }
        var depth = 0
        var inString = false
        var escaped = false
        var index = start
        while index < text.endIndex {
            let character = text[index]
            if inString {
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    inString = false
                }
            } else if character == "\"" {
                inString = true
            } else if character == open {
                depth += 1
            } else if character == close {
                depth -= 1
                if depth == 0 { return String(text[text.index(after: start)..<index]) }
            }
            index = text.index(after: index)
        }
        return nil
    }

    /// For the argument `label: value` among `arguments`, its value.
    private static func value(of label: String, in arguments: [String]) -> String? {
        for argument in arguments where argument.hasPrefix(label + ":") {
            return argument.dropFirst(label.count + 1).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return nil
    }

    /// The content of a plain string literal (`"X"`), or nil.
    private static func literal(_ text: String) -> String? {
        guard text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") else { return nil }
        return String(text.dropFirst().dropLast())
    }
}
