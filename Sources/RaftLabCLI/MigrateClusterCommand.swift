import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NoSQL
import RaftLabAPI
import RaftLabBackends
import RaftLabHTTPClient
import RaftLabNode
import RaftLabServer
import Synchronization

struct MigrateClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-cluster",
        abstract: "Move a running cluster to other storage engines, node by node, while it keeps serving.",
        discussion: """
            Replaces every member, one at a time, by a node on --to-log/--to-state: start the new \
            node empty (joining), add it as a learner, let it catch up (InstallSnapshot, then the \
            log), promote it, move leadership off the old member if it leads (followers are replaced \
            first, so leadership moves once), remove the old member. The cluster never has fewer \
            voters than it started with and stays writable throughout; writes pause only while \
            leadership moves.

            --config NEW.toml lists the nodes that may serve as replacements (ids not in use, their \
            addresses, [storage] data_dir and settings); its [storage] log/state must name \
            --to-log/--to-state. With --start-nodes each replacement is started here, detached, as \
            `raftlab server --node-id N --config NEW.toml --join LEADER` logging to \
            data_dir/node-N.log; without it, start them yourself and the command uses them as they \
            answer. Old members are removed but their processes keep running (idle): stop them when \
            the command is done.

            Interrupted (Ctrl-C, a crash, --steps), it resumes when run again: each replacement's \
            record names the member it replaces, so the command finishes the replacement under way \
            and goes on with the next.

            In one process (a cluster of `raftlab server --config FILE`), the nodes share an \
            in-process transport that new processes cannot join: there, the engine swap is \
            `LocalCluster.migrate` (what `raftlab bench --migrate-to` measures).

            Example:
              raftlab migrate-cluster --target-addr localhost:8100 --to-log leveldb --to-state leveldb --config new.toml --start-nodes
            """)

    @Option(help: ArgumentHelp("A member of the cluster, as host:port.", valueName: "host:port")) var targetAddr = "localhost:8100"
    @Option(help: "The log backend to move to.") var toLog: String
    @Option(help: "The state backend to move to.") var toState: String
    @Option(help: ArgumentHelp("A TOML config listing the replacement nodes.", valueName: "file")) var config: String
    @Flag(help: "Start each replacement node here, detached, instead of waiting for it to answer.") var startNodes = false
    @Option(help: "Do at most this many steps, then stop (run again to go on).") var steps: Int = 1_000
    @Option(help: ArgumentHelp("Give up on one step after this many seconds.", valueName: "seconds")) var timeout: Double = 300

    func run() async throws {
        let target: HostPort
        do { target = try HostPort(parsing: targetAddr) } catch { throw ValidationError("--target-addr must be host:port") }
        let newCluster: ClusterConfig
        do {
            newCluster = try ClusterConfig.load(path: config)
            try newCluster.validate(registry: .standard)
        } catch let error as ConfigError {
            throw exitWithMessage(error.description, code: 64)
        }
        guard newCluster.storage.log == toLog, newCluster.storage.state == toState else {
            throw exitWithMessage(
                "\(config) says [storage] log = \"\(newCluster.storage.log)\", state = \"\(newCluster.storage.state)\"; --to-log/--to-state say \(toLog)/\(toState): make them agree (new nodes run what their config says)",
                code: 64)
        }
        let driver = HTTPMigrationDriver(
            target: target, newCluster: newCluster, configPath: config, startNodes: startNodes,
            timeout: .milliseconds(Int64(timeout * 1000)))
        let migration = ClusterMigration(log: toLog, state: toState, report: { say($0) })
        let started = ContinuousClock.now
        do {
            let summary = try await migration.run(driver, maxSteps: steps)
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            if summary.finished {
                say("done in \(String(format: "%.1f", seconds)) s: \(summary.replaced.map { "\($0.old)→\($0.new)" }.joined(separator: ", ")); \(summary.leadershipTransfers) leadership transfer\(summary.leadershipTransfers == 1 ? "" : "s")")
            } else {
                say("stopped after \(summary.steps) step\(summary.steps == 1 ? "" : "s") (--steps); run the same command again to go on")
            }
        } catch let failure as ClientFailure {
            throw exitWithMessage("migrate-cluster stopped: \(failure.description); run the same command again to resume", code: failure.exitCode)
        } catch {
            throw exitWithMessage("migrate-cluster stopped: \(error); run the same command again to resume", code: 1)
        }
    }
}

/// Drives `ClusterMigration` over the cluster's HTTP API.
struct HTTPMigrationDriver: MigrationDriver {
    let target: HostPort
    let newCluster: ClusterConfig
    let configPath: String
    let startNodes: Bool
    let timeout: Duration

    /// Where the cluster's members and leader answer, as last seen: the
    /// members change under this command (a removed node keeps running with
    /// a view that no longer moves), so it follows them rather than the
    /// address it was given.
    let book = AddressBook()

    final class AddressBook: Sendable {
        private let state = Mutex((leader: HostPort?.none, members: [HostPort]()))
        var leader: HostPort? { state.withLock { $0.leader } }
        var members: [HostPort] { state.withLock { $0.members } }
        func update(leader: HostPort?, members: [HostPort]) { state.withLock { $0 = (leader, members) } }
    }

    /// The leader when known, else the address given.
    private func client() -> APIClient {
        APIClient(target: book.leader ?? target, timeout: timeout)
    }

    /// The membership as the leader sees it (with replication progress):
    /// asks the last known leader, the members, then the address given, and
    /// accepts only an answer from a node that says it leads. Retried while
    /// leadership moves, until --timeout.
    func membership() async throws -> MembershipView {
        let deadline = ContinuousClock.now + timeout
        var lastProblem = "no member answered"
        while true {
            var candidates: [HostPort] = []
            for address in [book.leader].compactMap({ $0 }) + book.members + [target] where !candidates.contains(address) {
                candidates.append(address)
            }
            for address in candidates {
                guard let document = try? await APIClient(target: address, timeout: .seconds(3)).call("GET", "/cluster/members").json
                else { continue }
                let view = Self.view(document)
                if view.leaderID != 0, view.nodeID == view.leaderID, view.member(view.nodeID) != nil {
                    book.update(leader: address, members: view.members.compactMap(\.httpAddress))
                    return view
                }
                // Not the leader: ask the leader it names, if it names one.
                if let leader = view.member(view.leaderID)?.httpAddress, !candidates.contains(leader),
                    let answer = try? await APIClient(target: leader, timeout: .seconds(3)).call("GET", "/cluster/members").json
                {
                    let leaderView = Self.view(answer)
                    if leaderView.nodeID == leaderView.leaderID, leaderView.member(leaderView.nodeID) != nil {
                        book.update(leader: leader, members: leaderView.members.compactMap(\.httpAddress))
                        return leaderView
                    }
                }
                lastProblem = "node \(view.nodeID) at \(address) knows no reachable leader"
            }
            guard ContinuousClock.now < deadline else {
                throw ClientFailure.unavailable("cannot find the cluster's leader: \(lastProblem)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    static func view(_ document: JSONValue) -> MembershipView {
        func number(_ value: JSONValue?) -> UInt64 { UInt64(value?.numberValue?.int64Value ?? 0) }
        let members = (document["members"]?.arrayValue ?? []).map { member -> MemberView in
            let id = number(member["node_id"])
            let raft = member["raft_addr"]?.stringValue.flatMap { try? HostPort(parsing: $0) }
            let http = member["http_addr"]?.stringValue.flatMap { try? HostPort(parsing: $0) }
            var record: MemberRecord?
            if member["registered"]?.boolValue == true, let raft, let http {
                record = MemberRecord(
                    id: id, raftAddress: raft, httpAddress: http, logBackend: member["log_backend"]?.stringValue ?? "",
                    stateBackend: member["state_backend"]?.stringValue ?? "", replaces: number(member["replaces"]))
            }
            return MemberView(
                id: id, isVoter: member["role"]?.stringValue == "voter", isLeader: member["leader"]?.boolValue == true,
                record: record,
                configuredNode: raft.flatMap { raft in http.map { ClusterConfig.Node(id: id, raftAddress: raft, httpAddress: $0) } },
                match: member["match_index"].map { number($0) })
        }
        return MembershipView(
            nodeID: number(document["node_id"]), clusterID: UInt64(document["cluster_id"]?.stringValue ?? "", radix: 16) ?? 0,
            leaderID: number(document["leader_id"]), term: number(document["term"]),
            commitIndex: number(document["commit_index"]), lastIndex: number(document["last_index"]), members: members)
    }

    private func number(_ id: UInt64) -> JSONValue { .number(JSONNumber(String(id)) ?? .zero) }

    /// A change refused because another one is still being applied (a new
    /// leader applying its log) is retried for a while: it clears by itself.
    private func change(_ method: String, _ path: String, body: [UInt8] = []) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                _ = try await client().call(method, path, body: body)
                return
            } catch ClientFailure.rejected(409, "membership_conflict", _) where ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    func addLearner(_ record: MemberRecord) async throws {
        let body: JSONValue = [
            "node_id": number(record.id), "raft_addr": .string(record.raftAddress.description),
            "http_addr": .string(record.httpAddress.description), "voter": .bool(false), "replaces": number(record.replaces),
        ]
        try await change("POST", "/cluster/members", body: body.canonicalBytes)
    }

    func promote(_ id: UInt64) async throws {
        try await change("POST", "/cluster/members/\(id)/promote")
    }

    func transferLeadership(to id: UInt64) async throws {
        let body: JSONValue = ["to": number(id)]
        try await change("POST", "/cluster/leader", body: body.canonicalBytes)
    }

    func remove(_ id: UInt64) async throws {
        do {
            try await change("DELETE", "/cluster/members/\(id)")
        } catch ClientFailure.rejected(400, "invalid_membership_change", let message) {
            // Already gone (an earlier attempt whose answer was lost): done.
            guard try await membership().member(id) != nil else { return }
            throw ClientFailure.rejected(status: 400, code: "invalid_membership_change", message: message)
        }
    }

    func startReplacement(for old: MemberView, in view: MembershipView, log: String, state: String) async throws -> MemberRecord {
        let used = Set(view.members.map(\.id))
        guard let node = newCluster.nodes.sorted(by: { $0.id < $1.id }).first(where: { !used.contains($0.id) }) else {
            throw MembershipError.invalid(
                "\(configPath) has no node left to replace node \(old.id) with: it lists \(newCluster.nodes.map(\.id)), all of them members already")
        }
        var status = await Self.status(at: node.httpAddress)
        if status == nil {
            guard startNodes else {
                throw MembershipError.unreachable(
                    "node \(node.id) does not answer at \(node.httpAddress): start it with `raftlab server --node-id \(node.id) --config \(configPath) --join \(target)`, or pass --start-nodes")
            }
            let leader = view.member(view.leaderID)?.httpAddress ?? target
            try spawn(node, join: leader)
            let deadline = ContinuousClock.now + .seconds(60)
            while status == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                status = await Self.status(at: node.httpAddress)
            }
        }
        guard let status else { throw MembershipError.unreachable("node \(node.id) did not answer at \(node.httpAddress) within 60 s") }
        guard status.nodeID == node.id else {
            throw MembershipError.invalid("\(node.httpAddress) answers as node \(status.nodeID), not node \(node.id)")
        }
        guard status.logBackend == log, status.stateBackend == state else {
            throw MembershipError.invalid(
                "node \(node.id) runs log=\(status.logBackend) state=\(status.stateBackend), not \(log)/\(state): it was started with another config")
        }
        return MemberRecord(
            id: node.id, raftAddress: node.raftAddress, httpAddress: node.httpAddress, logBackend: log, stateBackend: state,
            replaces: old.id)
    }

    func retire(_ member: MemberView) async {
        say("node \(member.id) is no longer a member; its process (\(member.httpAddress.map(\.description) ?? "?")) can be stopped")
    }

    static func status(at address: HostPort) async -> NodeStatus? {
        let client = SimpleHTTPClient(userAgent: "raftlab-migrate")
        guard let answer = try? await client.execute(SimpleHTTPRequest(method: "GET", path: "/status"), to: address, timeout: .seconds(2)),
            answer.status == 200
        else { return nil }
        return try? JSONDecoder().decode(NodeStatus.self, from: Data(answer.body))
    }

    /// Starts `raftlab server` for `node`, in a process group of its own so it outlives this command.
    private func spawn(_ node: ClusterConfig.Node, join: HostPort) throws {
        let directory = newCluster.storage.dataDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let logPath = directory + "/node-\(node.id).log"
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let pid = try spawnDetached(
            executable, ["server", "--node-id", String(node.id), "--config", configPath, "--join", join.description], log: logPath)
        say("started node \(node.id) (pid \(pid), log \(logPath))")
    }
}

/// Writes one line to stdout at once, unbuffered: a long-running command's
/// steps must show as they happen, also in a file or a pipe.
private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Starts `executable` in a process group of its own (so Ctrl-C here does
/// not reach it and it outlives this command), stdin from /dev/null, stdout
/// and stderr appended to `log`; returns its pid. No shell, and nothing waits
/// for it: it runs until stopped. No other descriptor is inherited: whoever
/// started this command may wait for a descriptor it handed down to close
/// (Foundation's `Process` does, and so does a shell's `$(...)`), and a
/// server holding a copy would keep it open for as long as it runs.
private func spawnDetached(_ executable: String, _ arguments: [String], log: String) throws -> pid_t {
    // glibc's posix_spawn_file_actions_addclosefrom_np is not visible to
    // Swift: mark every open descriptor above stderr close-on-exec instead.
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
        guard let fd = Int32(entry), fd > 2 else { continue }
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
    posix_spawnattr_setpgroup(&attributes, 0)
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    guard result == 0 else {
        throw MembershipError.unreachable("cannot start \(executable): \(String(cString: strerror(result)))")
    }
    return pid
}
