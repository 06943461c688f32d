import Foundation
import Raft

/// One parsed command line: a name, positional arguments and `key=value`
/// arguments. Values may be lists, `(1,2,3)`, or quoted, `"a b"`.
struct TraceCommand {
    var name: String
    var positional: [String]
    var keyed: [String: String]
    private(set) var keyOrder: [String] = []

    static func parse(_ text: String) throws -> TraceCommand {
        var tokens: [String] = []
        var current = ""
        var depth = 0
        var quoted = false
        for ch in text {
            if ch == "\"" { quoted.toggle() }
            if !quoted {
                if ch == "(" { depth += 1 }
                if ch == ")" { depth -= 1 }
            }
            if ch == " " && depth == 0 && !quoted {
                if !current.isEmpty { tokens.append(current) }
                current = ""
            } else {
                current.append(ch)
            }
        }
        guard depth == 0, !quoted else { throw TraceError("unbalanced parentheses or quotes in `\(text)`") }
        if !current.isEmpty { tokens.append(current) }
        guard let name = tokens.first else { throw TraceError("empty command") }
        var command = TraceCommand(name: name, positional: [], keyed: [:])
        for token in tokens.dropFirst() {
            if let eq = token.firstIndex(of: "="), !token.hasPrefix("\"") {
                let key = String(token[..<eq])
                guard command.keyed[key] == nil else { throw TraceError("argument `\(key)` given twice") }
                command.keyed[key] = unquote(String(token[token.index(after: eq)...]))
                command.keyOrder.append(key)
            } else {
                command.positional.append(unquote(token))
            }
        }
        return command
    }

    private static func unquote(_ s: String) -> String {
        s.count >= 2 && s.hasPrefix("\"") && s.hasSuffix("\"") ? String(s.dropFirst().dropLast()) : s
    }

    /// Fails on any `key=` argument the command does not know (typos would
    /// otherwise be ignored silently).
    func allow(_ keys: Set<String>, positional range: ClosedRange<Int>) throws {
        for key in keyOrder where !keys.contains(key) {
            throw TraceError("`\(name)` takes no argument `\(key)` (known: \(keys.sorted().joined(separator: ", ")))")
        }
        guard range.contains(positional.count) else {
            throw TraceError("`\(name)` takes \(range.lowerBound)...\(range.upperBound) positional arguments, got \(positional.count)")
        }
    }

    func int(_ key: String) throws -> Int? {
        guard let value = keyed[key] else { return nil }
        guard let n = Int(value) else { throw TraceError("`\(key)` must be an integer, got `\(value)`") }
        return n
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = keyed[key] else { return nil }
        switch value {
        case "true": return true
        case "false": return false
        default: throw TraceError("`\(key)` must be true or false, got `\(value)`")
        }
    }

    func ids(_ key: String) throws -> [NodeID]? {
        guard let value = keyed[key] else { return nil }
        return try Self.idList(value)
    }

    func id(_ key: String) throws -> NodeID? {
        guard let value = keyed[key] else { return nil }
        guard let n = NodeID(value) else { throw TraceError("`\(key)` must be a node id, got `\(value)`") }
        return n
    }

    /// Positional argument `position` as a node id.
    func node(at position: Int) throws -> NodeID {
        guard position < positional.count else { throw TraceError("`\(name)` needs a node id") }
        guard let n = NodeID(positional[position]) else {
            throw TraceError("`\(positional[position])` is not a node id")
        }
        return n
    }

    static func idList(_ value: String) throws -> [NodeID] {
        var inner = Substring(value)
        if inner.hasPrefix("(") && inner.hasSuffix(")") { inner = inner.dropFirst().dropLast() }
        if inner.isEmpty { return [] }
        return try inner.split(separator: ",").map {
            guard let n = NodeID($0.trimmingCharacters(in: .whitespaces)) else { throw TraceError("`\(value)` is not a list of node ids") }
            return n
        }
    }
}
