import Foundation
import NoSQL
import RaftLabBackends
import StorageCore
import Synchronization
import Testing

/// Three `raftlab server --node-id N` processes on a disk backend with sync
/// on, under a steady load of `raftlab put-item` writes, while nodes are
/// SIGKILLed and restarted one at a time, the leader every other time.
/// Afterwards every write the cluster acknowledged (exit 0) must be readable
/// on every node by a strong read, and the nodes' state stores, opened
/// directly once the nodes have stopped, must hold exactly the same pairs.
///
/// Snapshots are taken every 50 entries keeping 10 behind, so restarted
/// nodes also recover from snapshots and catch up by InstallSnapshot.
extension EndToEnd {
    @Suite("crash recovery")
    struct CrashRecovery {
        static let backends = ["flatfile", "lmdb", "leveldb"]
        static let kills = 6
        static let writers = 2
        static let engine = ["snapshot_entries": 50, "snapshot_keep_entries": 10]

        @Test("acknowledged writes survive SIGKILL of any node, leader included", .timeLimit(.minutes(3)), arguments: backends)
        func acknowledgedWritesSurviveKills(backend: String) async throws {
            let workspace = try Workspace("crash-\(backend)")
            defer { workspace.remove() }
            let cluster = try Cluster(workspace: workspace, backend: backend, mode: .threeProcesses, engine: Self.engine)
            let config = try String(contentsOfFile: cluster.configPath, encoding: .utf8)
            try #require(config.contains("\nsync = true"), "the crash test needs sync on; config:\n\(config)")
            try cluster.start()
            _ = try await cluster.waitForLeader()
            try requireSuccess(
                await workspace.cli([
                    "create-table", "--target-addr", cluster.address(1), "--table-name", "Crash", "--partition-key-name", "writer",
                    "--sort-key-name", "seq",
                ]))

            // Load and kills.
            let log = WriteLog()
            var killed: [String] = []
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 1...Self.writers {
                    group.addTask { try await Self.write(as: writer, to: cluster, log: log) }
                }
                defer { log.stop() }
                for round in 0..<Self.kills {
                    try await log.waitForAcknowledgments(log.acknowledgedCount + 20, timeout: .seconds(20), cluster: cluster)
                    let leader = try await cluster.waitForLeader(timeout: .seconds(15))
                    let followers = cluster.nodes.map(\.id).filter { $0 != leader.nodeID }
                    let victim = round.isMultiple(of: 2) ? leader.nodeID : followers[(round / 2) % followers.count]
                    try await cluster.kill(victim)
                    killed.append("node \(victim)\(victim == leader.nodeID ? " (leader)" : "")")
                    // The two others are a majority: writes keep being acknowledged while the victim is down.
                    try await log.waitForAcknowledgments(log.acknowledgedCount + 25, timeout: .seconds(20), cluster: cluster)
                    try cluster.startNode(victim)
                    let now = try await cluster.waitForLeader(timeout: .seconds(20))
                    try await Self.waitUntilApplied(victim, through: now.commitIndex, in: cluster, timeout: .seconds(20))
                }
                try await log.waitForAcknowledgments(log.acknowledgedCount + 10, timeout: .seconds(20), cluster: cluster)
                log.stop()
                try await group.waitForAll()
            }
            let acknowledged = log.acknowledged
            let snapshots = workspace.serverLogLines(containing: "installed snapshot")
            let context =
                "\(backend): \(acknowledged.count) writes acknowledged, \(log.unknownCount) unknown; "
                + "killed \(killed.joined(separator: ", ")); \(snapshots) snapshots installed"
            let failures = log.unexpected.prefix(5).joined(separator: "\n")
            #expect(log.unexpected.isEmpty, "writes failed other than by unavailability (\(context)):\n\(failures)")
            #expect(killed.count == Self.kills, "\(context)")

            // Every node applies the leader's commit index, then serves every acknowledged write by a strong read.
            let commit = try await cluster.waitForConvergence(timeout: .seconds(30))
            var contents: [UInt64: [String: Acknowledged]] = [:]
            for node in cluster.nodes {
                contents[node.id] = try await Self.strongScan(node, of: cluster)
                for ack in acknowledged {
                    let read = contents[node.id]?[ack.id]
                    let found = read.map { "\($0)" } ?? "nothing"
                    #expect(read == ack, "node \(node.id) has \(found) for the acknowledged \(ack) (\(context))")
                }
            }
            #expect(contents[1] == contents[2] && contents[2] == contents[3], "the nodes' strong reads differ (\(context))")
            for ack in Self.sample(acknowledged) {
                for node in cluster.nodes {
                    let read = try await workspace.cli([
                        "get-item", "--consistent", "--json", "--target-addr", node.http, "--table-name", "Crash", "--partition-key",
                        ack.writer, "--sort-key", ack.seq,
                    ])
                    let version = read.status == 0 ? try read.json()["version"] : nil
                    #expect(version == .number(JSONNumber(Int(ack.version))), "node \(node.id), acknowledged \(ack): \(read)")
                }
            }

            // Stop cleanly, then open each node's state store directly: the same position, the same pairs.
            await cluster.stop()
            let registry = BackendRegistry.standard
            let settings = backend == "lmdb" ? ["map_size": "1073741824"] : [:]
            var scans: [UInt64: [KeyValue]] = [:]
            for node in cluster.nodes {
                let directory = "\(cluster.dataDirectory)/node-\(node.id)/state"
                let store = try registry.openStateStore(backend: backend, StoreOptions(directory: directory, settings: settings))
                defer { try? store.close() }
                let position = try store.appliedPosition()
                #expect(
                    position.index == commit,
                    "node \(node.id)'s state store is at \(position), the cluster committed \(commit) (\(context))")
                scans[node.id] = try store.scan(.all)
                let machine = NoSQLStateMachine()
                for ack in acknowledged {
                    let stored = try? machine.getItem(table: "Crash", key: ItemKey(ack.writer, ack.seq), in: store)
                    let expected = try JSONValue.parse(ack.item)
                    #expect(
                        stored?.version == ack.version && stored?.item == expected,
                        "node \(node.id)'s store lost the acknowledged \(ack) (\(context))")
                }
            }
            #expect((scans[1]?.count ?? 0) > acknowledged.count, "\(context)")
            for id: UInt64 in [2, 3] {
                let difference = Self.difference(scans[1] ?? [], scans[id] ?? [])
                #expect(scans[id] == scans[1], "node \(id)'s state differs from node 1's: \(difference) (\(context))")
            }
        }

        /// One writer: `put-item` of a new item per iteration to a running node,
        /// until `log.stop()` (or 2000 writes).
        static func write(as writer: Int, to cluster: Cluster, log: WriteLog) async throws {
            var seq = 0
            while !log.isStopped, seq < 2000, !Task.isCancelled {
                guard let target = cluster.upNodes.randomElement() else {
                    try await Task.sleep(for: .milliseconds(20))
                    continue
                }
                seq += 1
                let ack = Acknowledged(writer: "w\(writer)", seq: String(format: "%05d", seq), version: 0, item: "")
                let payload = String(repeating: "x", count: 64 + seq % 64)
                let item = #"{"writer":"\#(ack.writer)","seq":"\#(ack.seq)","target":\#(target),"payload":"\#(payload)"}"#
                let result = try await cluster.workspace.cli(
                    ["put-item", "--target-addr", cluster.address(target), "--table-name", "Crash", "--item-data", item], timeout: 5)
                switch result.status {
                case 0:
                    guard let version = putVersion(result) else {
                        log.record(unexpected: "no version printed: \(result)")
                        continue
                    }
                    log.record(Acknowledged(writer: ack.writer, seq: ack.seq, version: version, item: item))
                case 4:
                    // Unavailable: the node died or no leader in time; it may or may not have taken effect.
                    log.recordUnknown()
                default:
                    log.record(unexpected: "\(result)")
                }
            }
        }

        /// Every item of the Crash table on `node`, read with `query-items --consistent --all`, by id.
        static func strongScan(_ node: NodeAddress, of cluster: Cluster) async throws -> [String: Acknowledged] {
            var items: [String: Acknowledged] = [:]
            for writer in 1...writers {
                let result = try requireSuccess(
                    await cluster.workspace.cli([
                        "query-items", "--consistent", "--all", "--json", "--limit", "1000", "--target-addr", node.http, "--table-name",
                        "Crash", "--partition-key", "w\(writer)",
                    ]))
                for entry in try result.json()["items"]?.arrayValue ?? [] {
                    let item = entry["item"] ?? .null
                    guard let seq = item["seq"]?.stringValue, let version = entry["version"]?.numberValue?.int64Value else {
                        throw TestFailure("node \(node.id) answered an item without seq or version: \(entry)")
                    }
                    let read = Acknowledged(writer: "w\(writer)", seq: seq, version: UInt64(version), item: item.canonicalText)
                    items[read.id] = read
                }
            }
            return items
        }

        /// Waits until `id` answers and has applied at least `index`.
        static func waitUntilApplied(_ id: UInt64, through index: UInt64, in cluster: Cluster, timeout: Duration) async throws {
            let deadline = ContinuousClock.now + timeout
            var last: NodeStatus?
            while ContinuousClock.now < deadline {
                last = try await cluster.status(id)
                if let last, last.appliedIndex >= index { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            let seen = last.map { "\($0)" } ?? "no answer"
            throw TestFailure("restarted node \(id) did not apply through \(index) within \(timeout): \(seen)\n\(cluster.logs())")
        }

        /// About ten acknowledged writes: the first, the last, and evenly spaced ones between.
        static func sample(_ acks: [Acknowledged]) -> [Acknowledged] {
            guard acks.count > 10 else { return acks }
            let step = (acks.count - 1) / 9
            return stride(from: 0, to: acks.count, by: step).map { acks[$0] } + [acks[acks.count - 1]]
        }

        /// The first pair where two scans differ, readably.
        static func difference(_ a: [KeyValue], _ b: [KeyValue]) -> String {
            for (x, y) in zip(a, b) where x != y {
                return "first difference at key \(String(decoding: x.key, as: UTF8.self)) / \(String(decoding: y.key, as: UTF8.self))"
            }
            return "\(a.count) pairs against \(b.count)"
        }
    }
}

/// One write: its key, and the version and content the cluster acknowledged (or a node returned).
struct Acknowledged: Sendable, Hashable, CustomStringConvertible {
    var writer: String
    var seq: String
    var version: UInt64
    /// The item's canonical JSON.
    var item: String

    init(writer: String, seq: String, version: UInt64, item: String) {
        self.writer = writer
        self.seq = seq
        self.version = version
        self.item = (try? JSONValue.parse(item).canonicalText) ?? item
    }

    var id: String { "\(writer)/\(seq)" }
    var description: String { "\(id) at version \(version)" }
}

/// What the writers saw, shared between them and the test.
final class WriteLog: Sendable {
    private struct State {
        var acknowledged: [Acknowledged] = []
        var unknown = 0
        var unexpected: [String] = []
        var stopped = false
    }

    private let state = Mutex(State())

    func record(_ ack: Acknowledged) { state.withLock { $0.acknowledged.append(ack) } }
    /// Tells the writers to finish their current write and return.
    func stop() { state.withLock { $0.stopped = true } }
    var isStopped: Bool { state.withLock { $0.stopped } }

    func recordUnknown() { state.withLock { $0.unknown += 1 } }
    func record(unexpected: String) { state.withLock { $0.unexpected.append(unexpected) } }

    var acknowledged: [Acknowledged] { state.withLock { $0.acknowledged } }
    var acknowledgedCount: Int { state.withLock { $0.acknowledged.count } }
    var unknownCount: Int { state.withLock { $0.unknown } }
    var unexpected: [String] { state.withLock { $0.unexpected } }

    /// Waits until `count` writes have been acknowledged in all.
    func waitForAcknowledgments(_ count: Int, timeout: Duration, cluster: Cluster) async throws {
        let deadline = ContinuousClock.now + timeout
        while acknowledgedCount < count {
            guard ContinuousClock.now < deadline else {
                throw TestFailure(
                    "only \(acknowledgedCount) of \(count) writes acknowledged after \(timeout); up: \(cluster.upNodes); "
                        + "failures: \(unexpected.suffix(3))\n\(cluster.logs())")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
