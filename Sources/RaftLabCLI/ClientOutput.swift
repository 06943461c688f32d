import NoSQL

/// What a client command prints: data on stdout, notes on stderr (so
/// `raftlab query-items ... | jq` sees only items).
struct CommandOutput: Sendable, Equatable {
    var stdout: String
    var stderr: String = ""
}

/// Readable renderings of the API's JSON answers.
enum ClientOutput {
    /// JSON indented by two spaces, members in the canonical (byte) order,
    /// scalars exactly as the canonical serializer writes them.
    static func pretty(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .array(let elements):
            guard !elements.isEmpty else { return "[]" }
            let lines = elements.map { inner + pretty($0, indent: inner) }
            return "[\n" + lines.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let object):
            guard !object.isEmpty else { return "{}" }
            let lines = object.members.map { member in
                inner + JSONValue.string(member.key).canonicalText + ": " + pretty(member.value, indent: inner)
            }
            return "{\n" + lines.joined(separator: ",\n") + "\n" + indent + "}"
        default:
            return value.canonicalText
        }
    }

    /// A number or "none" for null.
    static func version(_ value: JSONValue?) -> String {
        guard let value, !value.isNull else { return "none" }
        return value.canonicalText
    }

    /// The item, then its version line.
    static func item(_ answer: JSONValue) -> String {
        pretty(answer["item"] ?? .null) + "\nversion: \(version(answer["version"]))  previous_version: \(version(answer["previous_version"]))"
    }

    /// `key: value` lines, the keys in `order` first, then any others, values aligned.
    static func keyValues(_ object: JSONValue, order: [String]) -> String {
        guard case .object(let members) = object else { return object.canonicalText }
        let keys = order.filter { members[$0] != nil } + members.keys.filter { !order.contains($0) }
        let width = (keys.map(\.count).max() ?? 0) + 1
        return keys.map { key in
            let value = members[key] ?? .null
            let text: String =
                switch value {
                case .string(let string): string
                case .null: "-"
                case .array(let elements) where elements.isEmpty: "-"
                case .array(let elements): elements.map { $0.stringValue ?? $0.canonicalText }.joined(separator: ", ")
                default: value.canonicalText
                }
            return (key + ":").padding(to: width) + " " + text
        }.joined(separator: "\n")
    }

    static let statusOrder = [
        "node_id", "role", "term", "leader_id", "leader_http_addr", "commit_index", "applied_index", "first_index",
        "last_index", "log_backend", "state_backend", "sync", "voters", "learners", "cluster_id", "apply_stalled",
    ]

    static let tableOrder = ["table_name", "partition_key_name", "sort_key_name", "created_at"]

    /// Columns separated by two spaces, padded to the widest cell.
    static func table(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.indices.map { $0 == row.count - 1 ? row[$0] : row[$0].padding(to: widths[$0]) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func tables(_ answer: JSONValue) -> String {
        let tables = answer["tables"]?.arrayValue ?? []
        guard !tables.isEmpty else { return "(no tables)" }
        let rows = tables.map { table in
            [
                table["table_name"]?.stringValue ?? "?", table["partition_key_name"]?.stringValue ?? "?",
                table["sort_key_name"]?.stringValue ?? "-", version(table["created_at"]),
            ]
        }
        return self.table([["TABLE", "PARTITION KEY", "SORT KEY", "CREATED AT"]] + rows)
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
