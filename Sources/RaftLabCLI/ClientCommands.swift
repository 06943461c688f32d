import ArgumentParser
import NoSQL

extension RaftLabCommand {
    /// The client commands of the original simulator (and a few more), in `--help` order.
    static let clientCommands: [any ParsableCommand.Type] = [
        CreateTableCommand.self, DeleteTableCommand.self, DescribeTableCommand.self, ListTablesCommand.self,
        PutItemCommand.self, GetItemCommand.self, DeleteItemCommand.self, RollbackItemCommand.self,
        QueryItemsCommand.self, StatusCommand.self,
    ]
}

/// A command that makes API calls to a node: `run` builds the client from
/// the shared options, prints what `perform` returns, and turns a failure
/// into its message on stderr and its exit code.
protocol ClientCommand: AsyncParsableCommand {
    var connection: ConnectionOptions { get }
    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput
}

extension ClientCommand {
    mutating func run() async throws {
        let client = try connection.client()
        do {
            let output = try await perform(client)
            if !output.stdout.isEmpty { print(output.stdout) }
            if !output.stderr.isEmpty { printError(output.stderr) }
        } catch {
            printError("raftlab: error: \(error.description)")
            throw ExitCode(error.exitCode)
        }
    }
}

// MARK: Tables

struct CreateTableCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-table",
        abstract: "Create a table with a partition key and an optional sort key.",
        discussion: ClientHelp.discussion(
            "Key attribute values may be strings or numbers. \(ClientHelp.behaviour)",
            example: "raftlab create-table --target-addr localhost:8100 --table-name Music --partition-key-name Artist --sort-key-name SongTitle"))

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "3 to 255 characters of A-Z a-z 0-9 _ . -") var tableName: String
    @Option(help: "The attribute that partitions the table.") var partitionKeyName: String
    @Option(help: "The attribute that orders items within a partition.") var sortKeyName: String?

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        var members: [(String, JSONValue)] = [
            ("table_name", .string(tableName)), ("partition_key_name", .string(partitionKeyName)),
        ]
        if let sortKeyName { members.append(("sort_key_name", .string(sortKeyName))) }
        // The names are distinct, so the object always builds.
        let body = (try? JSONObject(members)).map { JSONValue.object($0) } ?? .null
        let answer = try await client.call("POST", "/tables", body: body.canonicalBytes)
        if connection.json { return CommandOutput(stdout: answer.text) }
        let sort = answer.json["sort_key_name"]?.stringValue.map { ", sort key: \($0)" } ?? ""
        return CommandOutput(
            stdout: "created table \(tableName) (partition key: \(partitionKeyName)\(sort)) at log index \(ClientOutput.version(answer.json["index"]))")
    }
}

struct DeleteTableCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-table",
        abstract: "Delete a table and every item in it.",
        discussion: ClientHelp.discussion(
            ClientHelp.behaviour, example: "raftlab delete-table --target-addr localhost:8100 --table-name Music"))

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The table to delete.") var tableName: String

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let answer = try await client.call("DELETE", tablePath(tableName))
        if connection.json { return CommandOutput(stdout: answer.text) }
        let items = ClientOutput.version(answer.json["items_deleted"])
        return CommandOutput(
            stdout: "deleted table \(tableName) and its \(items) item\(items == "1" ? "" : "s") at log index \(ClientOutput.version(answer.json["index"]))")
    }
}

struct DescribeTableCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe-table",
        abstract: "Show a table's key attributes and the log index that created it.",
        discussion: ClientHelp.discussion(
            "Reads the node's own state; --consistent asks the leader to confirm it first.",
            example: "raftlab describe-table --target-addr localhost:8101 --table-name Music"))

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The table to describe.") var tableName: String
    @Flag(help: "Read through the leader (linearizable) instead of this node's state.") var consistent = false

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let answer = try await client.call("GET", tablePath(tableName), query: consistency(consistent))
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(stdout: ClientOutput.keyValues(answer.json, order: ClientOutput.tableOrder))
    }
}

struct ListTablesCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-tables",
        abstract: "List the tables, one per line.",
        discussion: ClientHelp.discussion(
            "Reads the node's own state; --consistent asks the leader to confirm it first.",
            example: "raftlab list-tables --target-addr localhost:8100"))

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Read through the leader (linearizable) instead of this node's state.") var consistent = false

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let answer = try await client.call("GET", "/tables", query: consistency(consistent))
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(stdout: ClientOutput.tables(answer.json))
    }
}

// MARK: Items

struct PutItemCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "put-item",
        abstract: "Create or replace an item; the item is a JSON object holding the table's key attributes.",
        discussion: ClientHelp.discussion(
            """
            The item's version is the log index of the write. --expected-version N writes only if the \
            item is at version N (0: only if it does not exist), otherwise the put fails with a \
            conflict (exit 3). The replaced content stays as the previous version (see rollback-item). \
            \(ClientHelp.behaviour)
            """,
            example: """
                raftlab put-item --target-addr localhost:8100 --table-name Music --item-data '{"Artist":"The Beatles","SongTitle":"Let It Be","Album":"Let It Be","Year":1970}'
                """))

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The table to write to.") var tableName: String
    @Option(help: ArgumentHelp("The item, a JSON object.", valueName: "json")) var itemData: String
    @Option(help: "Write only if the item is at this version (0: only if it does not exist).") var expectedVersion: UInt64?

    func validate() throws {
        do {
            guard case .object = try JSONValue.parse(itemData, maxDepth: NoSQLLimits.maxSupportedNestingDepth) else {
                throw ValidationError("--item-data must be a JSON object, like '{\"Artist\":\"Queen\",\"SongTitle\":\"...\"}'")
            }
        } catch let error as NoSQLError {
            throw ValidationError("--item-data is not valid JSON: \(error.message)")
        }
    }

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let query = expectedVersion.map { [("expected_version", String($0))] } ?? []
        let answer = try await client.call("PUT", tablePath(tableName, "/items"), query: query, body: Array(itemData.utf8))
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(
            stdout: "put item in \(tableName): version \(ClientOutput.version(answer.json["version"])) (previous version: \(ClientOutput.version(answer.json["previous_version"])))")
    }
}

struct GetItemCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-item",
        abstract: "Print one item as JSON, with its version.",
        discussion: ClientHelp.discussion(
            """
            Any node answers from its own state, so a follower may briefly return an older version \
            (eventual consistency, as in the original simulator); --consistent reads through the \
            leader instead. A missing item or table exits with 2. For numeric key attributes add \
            --partition-key-type number / --sort-key-type number.
            """,
            example: #"raftlab get-item --target-addr localhost:8101 --table-name Music --partition-key "The Beatles" --sort-key "Let It Be""#))

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The table to read.") var tableName: String
    @OptionGroup var key: ItemKeyOptions
    @Flag(help: "Read through the leader (linearizable) instead of this node's state.") var consistent = false

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let answer = try await client.call("GET", tablePath(tableName, "/items"), query: key.queryItems + consistency(consistent))
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(stdout: ClientOutput.item(answer.json))
    }
}

struct DeleteItemCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-item",
        abstract: "Delete one item (and its previous version).",
        discussion: ClientHelp.discussion(
            "--expected-version N deletes only if the item is at version N. \(ClientHelp.behaviour)",
            example: #"raftlab delete-item --target-addr localhost:8100 --table-name Music --partition-key "The Beatles" --sort-key "Let It Be""#))

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The table to delete from.") var tableName: String
    @OptionGroup var key: ItemKeyOptions
    @Option(help: "Delete only if the item is at this version.") var expectedVersion: UInt64?

    func validate() throws {
        if expectedVersion == 0 { throw ValidationError("--expected-version must be at least 1 for delete-item") }
    }

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let query = key.queryItems + (expectedVersion.map { [("expected_version", String($0))] } ?? [])
        let answer = try await client.call("DELETE", tablePath(tableName, "/items"), query: query)
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(
            stdout: "deleted item from \(tableName) (it was at version \(ClientOutput.version(answer.json["deleted_version"]))) at log index \(ClientOutput.version(answer.json["index"]))")
    }
}

struct RollbackItemCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback-item",
        abstract: "Swap an item's current and previous versions.",
        discussion: ClientHelp.discussion(
            """
            Each item keeps the content it had before its last write. A rollback makes that content \
            current again (as a new write, with a new version) and keeps the replaced content as the \
            previous version, so a second rollback undoes the first. An item never updated has \
            nothing to roll back to (exit 3). --expected-version N rolls back only from version N. \
            \(ClientHelp.behaviour)
            """,
            example: #"raftlab rollback-item --target-addr localhost:8100 --table-name Music --partition-key "The Beatles" --sort-key "Let It Be""#))

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The table holding the item.") var tableName: String
    @OptionGroup var key: ItemKeyOptions
    @Option(help: "Roll back only if the item is at this version.") var expectedVersion: UInt64?

    func validate() throws {
        if expectedVersion == 0 { throw ValidationError("--expected-version must be at least 1 for rollback-item") }
    }

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let query = key.queryItems + (expectedVersion.map { [("expected_version", String($0))] } ?? [])
        let answer = try await client.call("POST", tablePath(tableName, "/items/rollback"), query: query)
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(stdout: ClientOutput.item(answer.json))
    }
}

struct QueryItemsCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "query-items",
        abstract: "List a partition's items in sort key order, optionally only sort keys with a prefix.",
        discussion: ClientHelp.discussion(
            """
            Prints one item per line as JSON; the count and, when more items follow, the \
            --continuation-token for the next page go to stderr. --all fetches every page. \
            Reads the node's own state unless --consistent.
            """,
            example: #"raftlab query-items --target-addr localhost:8100 --table-name Music --partition-key "The Beatles" --sort-key-prefix "Yes""#))

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The table to query.") var tableName: String
    @Option(parsing: .unconditional, help: "The partition to list.") var partitionKey: String
    @Option(help: "How to read --partition-key: string, or number for numeric key attributes.")
    var partitionKeyType: KeyType = .string
    @Option(parsing: .unconditional, help: "Only items whose (string) sort key starts with this.")
    var sortKeyPrefix: String?
    @Option(help: "Items per page, 1 to 1000.") var limit: Int = 100
    @Option(help: "Resume after the page that printed this token.") var continuationToken: String?
    @Flag(help: "Fetch every page, not just one.") var all = false
    @Flag(help: "Read through the leader (linearizable) instead of this node's state.") var consistent = false

    func validate() throws {
        try checkNumber(partitionKey, partitionKeyType, "--partition-key")
        guard (1...1000).contains(limit) else { throw ValidationError("--limit must be between 1 and 1000, got \(limit)") }
    }

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        var base = [("partition_key", partitionKey)]
        if partitionKeyType == .number { base.append(("partition_key_type", "number")) }
        if let sortKeyPrefix { base.append(("sort_key_prefix", sortKeyPrefix)) }
        base.append(("limit", String(limit)))
        base += consistency(consistent)

        var token = continuationToken
        var items: [JSONValue] = []
        var pages: [String] = []
        repeat {
            let query = base + (token.map { [("continuation_token", $0)] } ?? [])
            let answer = try await client.call("GET", tablePath(tableName, "/query"), query: query)
            items += answer.json["items"]?.arrayValue ?? []
            pages.append(answer.text)
            token = answer.json["continuation_token"]?.stringValue
        } while all && token != nil

        if connection.json {
            guard all else { return CommandOutput(stdout: pages.last ?? "") }
            let merged: JSONValue = [
                "table": .string(tableName), "items": .array(items), "count": .number(JSONNumber(items.count)),
                "continuation_token": .null,
            ]
            return CommandOutput(stdout: merged.canonicalText)
        }
        let lines = items.map { ($0["item"] ?? .null).canonicalText }
        var note = "\(items.count) item\(items.count == 1 ? "" : "s")"
        if let token { note += "; more with --continuation-token \(token)" }
        return CommandOutput(stdout: lines.joined(separator: "\n"), stderr: note)
    }
}

// MARK: Node

struct StatusCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a node's role, term, leader and log positions.",
        discussion: ClientHelp.discussion(
            """
            Prints key: value lines (node_id, role, term, leader_id, leader_http_addr, commit_index, \
            applied_index, first_index, last_index, storage backends...), then every member with its \
            addresses and log and state backends (see `member list`). With --json, the node's status \
            document. Retries until the node answers or --timeout runs out.
            """,
            example: "raftlab status --target-addr localhost:8101 --json"))

    @OptionGroup var connection: ConnectionOptions

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let answer = try await client.call("GET", "/status")
        if connection.json { return CommandOutput(stdout: answer.text) }
        var text = ClientOutput.keyValues(answer.json, order: ClientOutput.statusOrder)
        // Every member's addresses and backends, when the node serves them.
        if let members = try? await client.call("GET", "/cluster/members") {
            text += "\n\n" + MemberOutput.render(members.json)
        }
        return CommandOutput(stdout: text)
    }
}

/// `consistency=strong` for `--consistent`, nothing otherwise (the server's default is local).
func consistency(_ consistent: Bool) -> [(String, String)] {
    consistent ? [("consistency", "strong")] : []
}
