import ArgumentParser
import NoSQL
import RaftLabAPI
import RaftLabNode

extension RaftLabCommand {
    /// Operating a cluster: membership, leadership, backups, engine swaps.
    static let operationCommands: [any ParsableCommand.Type] = [
        MemberCommand.self, TransferLeaderCommand.self, BackupCommand.self, RestoreCommand.self,
        MigrateStoreCommand.self, MigrateClusterCommand.self,
    ]
}

enum MemberHelp {
    static let routing = """
        Any member answers; a follower forwards a change to the leader. One change runs at a time \
        (a second one is refused with exit 3 until the first is done), and a change that would leave \
        the voters without a reachable quorum is refused with exit 3, saying which nodes are down.
        """
}

struct MemberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member",
        abstract: "List and change the cluster's members.",
        discussion: """
            A new node joins in two steps: start it empty with `raftlab server --node-id N --config FILE \
            --join ADDR` (its [storage] may name other backends), then add it here. `add-learner` adds \
            it as a non-voting learner that catches up (InstallSnapshot, then the log); `promote` makes \
            it a voter once it has; `add` does all three. `remove` takes a member out (the leader \
            hands leadership over first when it is the one removed).
            """,
        subcommands: [
            MemberListCommand.self, MemberAddLearnerCommand.self, MemberAddCommand.self, MemberPromoteCommand.self,
            MemberRemoveCommand.self,
        ])
}

/// `--node-id`, `--raft-addr`, `--http-addr` of a node to add.
struct NewMemberOptions: ParsableArguments {
    @Option(name: .customLong("node-id"), help: "The new member's id (unused in the cluster).") var nodeID: UInt64
    @Option(help: ArgumentHelp("Where the new member listens for Raft messages.", valueName: "host:port")) var raftAddr: String
    @Option(help: ArgumentHelp("Where the new member serves its HTTP API.", valueName: "host:port")) var httpAddr: String

    func validate() throws {
        guard nodeID > 0 else { throw ValidationError("--node-id must be at least 1") }
        for (flag, value) in [("--raft-addr", raftAddr), ("--http-addr", httpAddr)] where (try? HostPort(parsing: value)) == nil {
            throw ValidationError("\(flag) must be host:port, got \"\(value)\"")
        }
    }

    func body(voter: Bool) -> [UInt8] {
        let document: JSONValue = [
            "node_id": .number(JSONNumber(String(nodeID)) ?? .zero), "raft_addr": .string(raftAddr),
            "http_addr": .string(httpAddr), "voter": .bool(voter),
        ]
        return document.canonicalBytes
    }
}

struct MemberListCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Show every member: role, addresses, log and state backends, replication progress.",
        discussion: ClientHelp.discussion(
            """
            Answered by the node at --target-addr from its own view; on the leader, MATCH is the \
            highest log index each member is known to hold and HEARD how long ago it was last heard \
            from. Backends come from each member's record, or from its /status.
            """,
            example: "raftlab member list --target-addr localhost:8100"))

    @OptionGroup var connection: ConnectionOptions

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let answer = try await client.call("GET", "/cluster/members")
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(stdout: MemberOutput.render(answer.json))
    }
}

struct MemberAddLearnerCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-learner",
        abstract: "Add a running, empty node as a learner (it receives the log but does not vote).",
        discussion: ClientHelp.discussion(
            """
            The leader first asks the node's /status at --http-addr: it must answer as --node-id and \
            belong to no other cluster. Its record (addresses and backends) is written through Raft, \
            then it becomes a learner and catches up. \(MemberHelp.routing)
            """,
            example: "raftlab member add-learner --target-addr localhost:8100 --node-id 4 --raft-addr 127.0.0.1:9103 --http-addr 127.0.0.1:8103"))

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var member: NewMemberOptions

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let answer = try await client.call("POST", "/cluster/members", body: member.body(voter: false))
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(stdout: "node \(member.nodeID) is a learner\(MemberOutput.backends(answer.json, member.nodeID))\n" + MemberOutput.render(answer.json))
    }
}

struct MemberAddCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a running, empty node as a voter: learner, catch up, then promote.",
        discussion: ClientHelp.discussion(
            """
            As add-learner, then waits (up to 2 minutes on the leader) until the node has caught up \
            and promotes it; give --timeout enough for a large state. \(MemberHelp.routing)
            """,
            example: "raftlab member add --target-addr localhost:8100 --node-id 4 --raft-addr 127.0.0.1:9103 --http-addr 127.0.0.1:8103 --timeout 120"))

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var member: NewMemberOptions

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let answer = try await client.call("POST", "/cluster/members", body: member.body(voter: true))
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(stdout: "node \(member.nodeID) is a voter\(MemberOutput.backends(answer.json, member.nodeID))\n" + MemberOutput.render(answer.json))
    }
}

struct MemberPromoteCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Make a learner a voter once it has caught up with the leader's log.",
        discussion: ClientHelp.discussion(
            "Refused (exit 3) if it has not caught up in time or the voters would lose a reachable quorum. \(MemberHelp.routing)",
            example: "raftlab member promote --target-addr localhost:8100 --node-id 4"))

    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("node-id"), help: "The learner to promote.") var nodeID: UInt64

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let answer = try await client.call("POST", "/cluster/members/\(nodeID)/promote")
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(stdout: "node \(nodeID) is a voter\n" + MemberOutput.render(answer.json))
    }
}

struct MemberRemoveCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a member (a leader hands leadership over first).",
        discussion: ClientHelp.discussion(
            """
            Refused (exit 3) when the remaining voters could not form a reachable quorum. The removed \
            node's process keeps running until you stop it; it no longer takes part. \(MemberHelp.routing)
            """,
            example: "raftlab member remove --target-addr localhost:8100 --node-id 1"))

    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("node-id"), help: "The member to remove.") var nodeID: UInt64

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let answer = try await client.call("DELETE", "/cluster/members/\(nodeID)")
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(stdout: "node \(nodeID) removed\n" + MemberOutput.render(answer.json))
    }
}

struct TransferLeaderCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer-leader",
        abstract: "Hand leadership to another voter (Raft's TimeoutNow), with writes paused only meanwhile.",
        discussion: ClientHelp.discussion(
            """
            The leader brings --to up to date, tells it to campaign at once, and answers when it \
            leads. Without --to, the most up-to-date reachable voter is chosen. Any member answers; \
            a follower forwards the request to the leader.
            """,
            example: "raftlab transfer-leader --target-addr localhost:8100 --to 4"))

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The voter to lead (default: the most up-to-date reachable one).") var to: UInt64?

    func perform(_ client: APIClient) async throws(ClientFailure) -> CommandOutput {
        let body: JSONValue = to.map { ["to": .number(JSONNumber(String($0)) ?? .zero)] } ?? [:]
        let answer = try await client.call("POST", "/cluster/leader", body: body.canonicalBytes)
        if connection.json { return CommandOutput(stdout: answer.text) }
        return CommandOutput(stdout: "node \(ClientOutput.version(answer.json["leader_id"])) leads")
    }
}

/// The membership document as text.
enum MemberOutput {
    static func render(_ document: JSONValue) -> String {
        var rows = [["ID", "ROLE", "RAFT_ADDR", "HTTP_ADDR", "LOG", "STATE", "MATCH", "HEARD"]]
        for member in document["members"]?.arrayValue ?? [] {
            let leader = member["leader"]?.boolValue == true
            rows.append([
                ClientOutput.version(member["node_id"]),
                (member["role"]?.stringValue ?? "?") + (leader ? " (leader)" : ""),
                member["raft_addr"]?.stringValue ?? "-",
                member["http_addr"]?.stringValue ?? "-",
                member["log_backend"]?.stringValue ?? "?",
                member["state_backend"]?.stringValue ?? "?",
                member["match_index"].map { ClientOutput.version($0) } ?? "-",
                member["last_heard_ms"].map { ClientOutput.version($0) + " ms" } ?? "-",
            ])
        }
        let cluster = document["cluster_id"]?.stringValue ?? ""
        let head = "cluster \(cluster.isEmpty ? "(unknown)" : cluster), term \(ClientOutput.version(document["term"])), as node \(ClientOutput.version(document["node_id"])) sees it"
        return head + "\n" + ClientOutput.table(rows)
    }

    /// " (log=X state=Y)" for member `id`, if the document says.
    static func backends(_ document: JSONValue, _ id: UInt64) -> String {
        guard let member = (document["members"]?.arrayValue ?? []).first(where: { $0["node_id"] == .number(JSONNumber(String(id)) ?? .zero) }),
            let log = member["log_backend"]?.stringValue, let state = member["state_backend"]?.stringValue
        else { return "" }
        return " (log=\(log) state=\(state))"
    }
}
