import Foundation
import NoSQL
import Raft
import RaftLabAPI
import RaftLabBackends
import RaftLabNode
import StorageCore
import Synchronization
import Testing
import TestUtilities

/// Operating a cluster in one process: membership changes with their
/// refusals, the live engine swap, backups and offline conversion.
@Suite("Operating a cluster", .serialized)
struct MembershipTests {
    /// A started three-node cluster with table Ops; `snapshotEntries` small
    /// makes a new member catch up through InstallSnapshot.
    static func cluster(_ backend: String, _ label: String, snapshotEntries: Int? = nil) async throws -> (LocalCluster, String) {
        let directory = ClusterNodeTests.temporaryDirectory(label)
        var config = ClusterNodeTests.config(backend, directory: directory)
        if let snapshotEntries {
            config.engine.snapshotEntries = snapshotEntries
            config.engine.snapshotKeepEntries = snapshotEntries / 4
        }
        let cluster = try await LocalCluster(config: config, registry: .standard, seed: 5, logger: quietLogger())
        _ = try await onLeader(cluster) { try await $0.write(.createTable(TableSchema(name: "Ops", partitionKey: "k"))) }
        return (cluster, directory)
    }

    static func cleanUp(_ directory: String) {
        try? FileSystem.removeTree(directory)
        MemoryBackendCleanup.forget(directory)
    }

    static func put(_ cluster: LocalCluster, _ key: String) async throws -> UInt64 {
        try await onLeader(cluster) { try await $0.write(.putItem(table: "Ops", item: ["k": .string(key)], expectedVersion: nil)) }.index
    }

    static func newNode(_ id: UInt64) -> ClusterConfig.Node {
        ClusterConfig.Node(
            id: id, raftAddress: HostPort(host: "127.0.0.1", port: 9200 + Int(id)), httpAddress: HostPort(host: "127.0.0.1", port: 8200 + Int(id)))
    }

    @Test("a node on another backend joins as a learner, is promoted, an old member leaves, leadership moves")
    func growPromoteRemoveTransfer() async throws {
        let (cluster, directory) = try await Self.cluster("lmdb", "grow")
        defer { Self.cleanUp(directory) }
        for i in 0..<50 { _ = try await Self.put(cluster, "k\(i)") }

        var storage = cluster.config.storage
        storage.log = "leveldb"
        storage.state = "leveldb"
        let joiner = try await cluster.addNode(Self.newNode(4), storage: storage)
        let record = try #require(joiner.ownRecord())
        let view = try await onLeader(cluster) { try await $0.addMember(record, asVoter: false) }
        #expect(view.learners == [4] && view.voters == [1, 2, 3])
        #expect(view.member(4)?.record?.logBackend == "leveldb")
        // Adding the same learner again is not an error (a retried request).
        _ = try await onLeader(cluster) { try await $0.addMember(record, asVoter: false) }

        let promoted = try await onLeader(cluster) { try await $0.promoteMember(4) }
        #expect(promoted.voters == [1, 2, 3, 4])
        let last = try await Self.put(cluster, "after-promote")
        try await waitUntilApplied(joiner, last)
        let item = try await joiner.read(.local) { machine, store in try machine.getItem(table: "Ops", key: ItemKey("k49"), in: store) }
        #expect(item.item["k"] == "k49")

        // Remove the leader itself: leadership moves first, then the removal finishes on the new leader.
        let oldLeader = try await cluster.leader().id
        let after = try await onLeader(cluster) { try await $0.removeMember(oldLeader) }
        #expect(!after.voters.contains(oldLeader) && after.voters.count == 3)
        #expect(try await cluster.leader().id != oldLeader)
        await cluster.stop(oldLeader)

        let newLeader = try await onLeader(cluster) { try await $0.transferLeadership(to: 4) }
        #expect(newLeader == 4)
        #expect(try await cluster.leader().id == 4)
        _ = try await Self.put(cluster, "after-transfer")
        // Every node knows every member's backends now.
        let node4 = try #require(cluster.node(4))
        let members = await node4.membership()
        #expect(members.member(4)?.record?.stateBackend == "leveldb")
        await cluster.stop()
    }

    @Test("changes are refused when they would lose quorum, and one at a time")
    func refusals() async throws {
        let (cluster, directory) = try await Self.cluster("memory", "refuse")
        defer { Self.cleanUp(directory) }
        let leader = try await cluster.leader()
        let followers = cluster.nodes.map(\.id).filter { $0 != leader.id }
        await cluster.stop(followers[0])
        // Wait until the leader notices the stopped follower is silent.
        try await Task.sleep(for: .seconds(1.5))
        await #expect {
            _ = try await leader.removeMember(followers[1])
        } throws: { error in
            guard case MembershipError.wouldLoseQuorum(let why) = error else { return false }
            return why.contains("quorum needs 2") && why.contains("node \(followers[0])")
        }
        try await cluster.start(followers[0])
        try await Task.sleep(for: .milliseconds(500))

        // A learner that does not exist cannot be promoted; a learner nobody runs is not caught up.
        await #expect(throws: MembershipError.self) { _ = try await leader.promoteMember(9) }
        var storage = cluster.config.storage
        storage.log = "flatfile"
        storage.state = "flatfile"
        let ghost = MemberRecord(
            id: 7, raftAddress: HostPort(host: "127.0.0.1", port: 9307), httpAddress: HostPort(host: "127.0.0.1", port: 8307),
            logBackend: "flatfile", stateBackend: "flatfile")
        _ = try await leader.addMember(ghost, asVoter: false)
        // One change at a time: while node 7 waits to catch up, another change is refused.
        let slow = Task { try await leader.promoteMember(7, catchUpTimeout: .seconds(2)) }
        try await Task.sleep(for: .milliseconds(200))
        await #expect {
            _ = try await leader.removeMember(7)
        } throws: { error in
            guard case MembershipError.conflict(let why) = error else { return false }
            return why.contains("one membership change at a time")
        }
        await #expect {
            _ = try await slow.value
        } throws: { error in
            guard case MembershipError.notCaughtUp = error else { return false }
            return true
        }
        _ = try await leader.removeMember(7)
        #expect(await leader.membership().learners.isEmpty)
        await cluster.stop()
    }

    @Test("a live engine swap replaces every member under writes and loses none")
    func liveSwap() async throws {
        let (cluster, directory) = try await Self.cluster("memory", "swap", snapshotEntries: 40)
        defer { Self.cleanUp(directory) }
        let acknowledged = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)
        let writer = Task {
            var i = 0
            while !stop.load(ordering: .relaxed) {
                i += 1
                if (try? await Self.put(cluster, "w\(i)")) != nil { acknowledged.withLock { $0.append("w\(i)") } }
            }
        }
        // Until the leader compacted its log (40 entries): new members must
        // then catch up through InstallSnapshot, whatever the machine's speed.
        let compacted = ContinuousClock.now + .seconds(60)
        while try await cluster.leader().raft.status.firstIndex <= 1, ContinuousClock.now < compacted {
            try await Task.sleep(for: .milliseconds(20))
        }
        let steps = Mutex<[String]>([])
        let summary = try await cluster.migrate(toLog: "flatfile", state: "leveldb", report: { line in steps.withLock { $0.append(line) } })
        try await Task.sleep(for: .milliseconds(200))
        stop.store(true, ordering: .relaxed)
        await writer.value

        #expect(
            summary.finished && summary.replaced.count == 3 && summary.leadershipTransfers == 1,
            "finished \(summary.finished), replaced \(summary.replaced.map { "\($0.old)->\($0.new)" }), transfers \(summary.leadershipTransfers), steps \(steps.withLock { $0 })")
        let leader = try await cluster.leader()
        let view = await leader.membership()
        #expect(view.voters.count == 3 && view.voters.allSatisfy { $0 > 3 })
        #expect(view.members.allSatisfy { $0.record?.logBackend == "flatfile" && $0.record?.stateBackend == "leveldb" })
        let keys = acknowledged.withLock { $0 }
        #expect(keys.count > 20)
        for key in keys {
            let item = try await leader.read(.strong) { machine, store in try machine.getItem(table: "Ops", key: ItemKey(key), in: store) }
            #expect(item.item["k"] == .string(key))
        }
        // Running it again finds nothing to do.
        let again = try await cluster.migrate(toLog: "flatfile", state: "leveldb")
        #expect(again.finished && again.replaced.isEmpty)
        #expect(cluster.trafficSent.snapshotBytes > 0)
        await cluster.stop()
    }

    @Test("an interrupted swap resumes where it stopped")
    func resumedSwap() async throws {
        let (cluster, directory) = try await Self.cluster("memory", "resume")
        defer { Self.cleanUp(directory) }
        for i in 0..<20 { _ = try await Self.put(cluster, "k\(i)") }
        let first = try await cluster.migrate(toLog: "leveldb", state: "leveldb", report: nil, maxSteps: 3)
        #expect(!first.finished)
        let midway = try await cluster.leader().membership()
        #expect(midway.members.contains { $0.record?.replaces != 0 && $0.record?.replaces != nil })
        let rest = try await cluster.migrate(toLog: "leveldb", state: "leveldb")
        #expect(rest.finished)
        let view = try await cluster.leader().membership()
        #expect(view.voters.count == 3 && view.members.allSatisfy { $0.record?.logBackend == "leveldb" })
        await cluster.stop()
    }

    func waitUntilApplied(_ node: ClusterNode, _ index: UInt64) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while try await node.status().appliedIndex < index {
            guard ContinuousClock.now < deadline else { throw NodeError.timeout }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// Backups: the file format refuses what is not whole; restore and offline
/// conversion give byte-identical state on other backends.
@Suite("Backup, restore and offline conversion", .serialized)
struct BackupTests {
    /// Writes a backup of `node` to `path` the way the HTTP route streams it.
    static func backup(_ node: ClusterNode, to path: String) async throws {
        let (header, snapshot) = try await node.backupSnapshot()
        defer { snapshot.close() }
        var encoder = BackupEncoder()
        var bytes = try encoder.start(header)
        var source = Source(snapshot: snapshot)
        while true {
            let chunk = try encoder.encode(from: &source, maxBytes: 1000)
            if chunk.isEmpty { break }
            bytes += chunk
        }
        bytes += try encoder.finish()
        try FileSystem.writeFile(path, bytes, sync: false)
    }

    struct Source: KeyValueSource {
        let snapshot: any StateSnapshot
        mutating func next() throws -> KeyValue? { try snapshot.next() }
    }

    /// Tables and items: what users stored (not the last-applied index,
    /// which every later write moves, nor node and engine metadata).
    static func dataPairs(_ store: any StateStore) throws -> [KeyValue] {
        try store.scan(KeyRange(from: [0x01], to: [0xFE]))
    }

    @Test("backup of a live cluster restores on other backends with identical data; damaged files are refused")
    func backupRestore() async throws {
        let (cluster, directory) = try await MembershipTests.cluster("lmdb", "backup")
        defer { MembershipTests.cleanUp(directory) }
        for i in 0..<300 { _ = try await MembershipTests.put(cluster, "key-\(i)") }
        let node = try #require(cluster.nodes.first)
        let path = directory + "/backup.rlb"
        try await Self.backup(node, to: path)
        let summary = try BackupReader.verify(path: path)
        #expect(summary.dataPairs >= 301)
        #expect(summary.configuration?.voters == [1, 2, 3])
        let original = try Self.dataPairs(node.stateStore)

        // A truncated or corrupted file is refused before anything is written.
        let bytes = try #require(try FileSystem.readFile(path))
        try FileSystem.writeFile(directory + "/truncated.rlb", Array(bytes.prefix(bytes.count - 7)), sync: false)
        #expect {
            _ = try BackupReader.verify(path: directory + "/truncated.rlb")
        } throws: { error in
            guard case BackupError.truncated = error else { return false }
            return true
        }
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        try FileSystem.writeFile(directory + "/flipped.rlb", flipped, sync: false)
        #expect(throws: BackupError.self) { _ = try BackupReader.verify(path: directory + "/flipped.rlb") }
        try FileSystem.writeFile(directory + "/junk.rlb", Array("hello".utf8), sync: false)
        #expect(throws: BackupError.self) { _ = try BackupReader.verify(path: directory + "/junk.rlb") }
        await cluster.stop()

        var config = ClusterNodeTests.config("leveldb", directory: directory + "/restored")
        config.storage.state = "flatfile"
        let restored = try BackupRestore.restore(backup: path, config: config, registry: .standard)
        #expect(restored.voters == [1, 2, 3])
        #expect(restored.clusterID != summary.header.clusterID)
        // Restoring over existing data is refused.
        #expect(throws: ConfigError.self) { _ = try BackupRestore.restore(backup: path, config: config, registry: .standard) }

        let cluster2 = try await LocalCluster(config: config, registry: .standard, seed: 9, logger: quietLogger())
        defer { Task { await cluster2.stop() } }
        let leader = try await cluster2.leader(within: .seconds(20))
        #expect(await leader.membership().clusterID == restored.clusterID)
        let item = try await leader.read(.strong) { machine, store in try machine.getItem(table: "Ops", key: ItemKey("key-299"), in: store) }
        #expect(item.item["k"] == "key-299")
        // Compared before any new write (a write changes its table's record too).
        let copy = try Self.dataPairs(leader.stateStore)
        #expect(copy.count == original.count)
        #expect(copy == original, "\(zip(copy, original).filter { $0 != $1 }.prefix(3))")
        _ = try await leader.write(.putItem(table: "Ops", item: ["k": "after-restore"], expectedVersion: nil))
        await cluster2.stop()
    }

    @Test("migrate-store converts a stopped node's stores and verifies them byte for byte")
    func offlineConversion() async throws {
        let (cluster, directory) = try await MembershipTests.cluster("lmdb", "convert")
        defer { MembershipTests.cleanUp(directory) }
        for i in 0..<200 { _ = try await MembershipTests.put(cluster, "key-\(i)") }
        await cluster.stop()
        let summary = try StoreConversion.convert(from: directory + "/node-2", to: directory + "/converted", toLog: "leveldb", toState: "flatfile", registry: .standard)
        #expect(summary.fromLog == "lmdb" && summary.toState == "flatfile")
        #expect(summary.statePairs > 200 && summary.logEntries > 200)
        #expect(throws: StoreConversion.ConversionError.self) {
            _ = try StoreConversion.convert(from: directory + "/node-2", to: directory + "/converted", toLog: "leveldb", toState: "leveldb", registry: .standard)
        }
    }
}
