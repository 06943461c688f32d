import Foundation
import Raft
import RaftRuntime
import RaftLabBackends
import StorageCore
import Testing

@Suite("Snapshot streaming")
struct SnapshotStreamTests {
    func openState(_ name: String) throws -> any StateStore {
        try BackendRegistry.standard.openStateStore(
            backend: "memory", StoreOptions(directory: "/snapshot-stream-tests/\(name)-\(UInt64.random(in: 0...UInt64.max))"))
    }

    @Test("A state snapshot cut into bounded chunks reassembles in any order, duplicates included")
    func chunksReassemble() throws {
        let source = try openState("source")
        var batch = WriteBatch()
        for i in 0..<300 { batch.put(Array("key\(i)".utf8), Array(repeating: UInt8(i & 0xFF), count: i % 17)) }
        let configuration = ClusterConfiguration(voters: [1, 2, 3], learners: [4])
        batch.put(ClusterConfiguration.stateKey, configuration.encoded())
        try source.apply(batch, through: AppliedPosition(index: 42, term: 7))

        let chunks = try SnapshotStream.chunks(of: source, fallback: ClusterConfiguration(voters: [9]), maxChunkBytes: 100)
        #expect(chunks.count > 10)
        #expect(chunks.allSatisfy { $0.data.count < 100 + 64 && $0.index == 42 && $0.term == 7 })
        // The engine's records sort last: the last chunk names the snapshot's membership.
        #expect(chunks.last?.configuration == configuration)
        #expect(chunks.filter(\.isLast).count == 1)

        // Reassembled in memory, and through a staging file, from chunks in
        // a shuffled order with duplicates (a few chunks ahead of the prefix at a time).
        let staging = NSTemporaryDirectory() + "raftlab-snapshot-staging-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileSystem.removeTree(staging) }
        for directory in [nil, staging] {
            var rng = SplitMix64(seed: 3)
            var order = chunks + chunks.prefix(5)
            order.shuffle(using: &rng)
            order.sort { $0.offset / 2_000 < $1.offset / 2_000 }  // shuffled within windows
            var receiver = SnapshotReceiver(stagingDirectory: directory)
            var complete: SnapshotReceiver.Complete?
            for chunk in order where complete == nil {
                complete = try receiver.add(chunk, from: 1)
            }
            let snapshot = try #require(complete)
            #expect(snapshot.metadata == SnapshotMetadata(index: 42, term: 7, configuration: configuration))
            if directory != nil, case .file(let path) = snapshot.data { #expect(FileSystem.exists(path)) }

            let target = try openState("target")
            try snapshot.data.restore(into: target, position: AppliedPosition(index: 42, term: 7))
            #expect(try target.scan(.all) == source.scan(.all))
            snapshot.data.discard()
        }
        let target = try openState("target")
        var reader = SnapshotStream.Reader(chunks.flatMap(\.data))
        try target.restore(from: &reader, position: AppliedPosition(index: 42, term: 7))
        #expect(try target.scan(.all) == source.scan(.all))
        #expect(try target.appliedPosition() == AppliedPosition(index: 42, term: 7))
    }

    @Test("A chunk of a newer snapshot discards a partial older one")
    func newerSnapshotRestarts() throws {
        var receiver = SnapshotReceiver()
        let configuration = ClusterConfiguration(voters: [1])
        #expect(try receiver.add(SnapshotChunk(index: 5, term: 1, configuration: configuration, offset: 0, data: [1], isLast: false), from: 1) == nil)
        #expect(receiver.received == 1)
        let done = try receiver.add(SnapshotChunk(index: 9, term: 2, configuration: configuration, offset: 0, data: [2], isLast: true), from: 1)
        #expect(done?.metadata.index == 9)
        guard case .memory(let data)? = done?.data else { Issue.record("expected data in memory"); return }
        #expect(data == [2])
    }

    @Test("Cluster configurations round-trip through their encoding; garbage is refused")
    func configurationCodec() throws {
        let configuration = ClusterConfiguration(voters: [3, 1, 2], learners: [7])
        #expect(try ClusterConfiguration(encoded: configuration.encoded()) == configuration)
        #expect(throws: RaftError.self) { try ClusterConfiguration(encoded: [1, 2, 3]) }
    }

    @Test("Single-server changes: one member at a time, never the last voter")
    func singleServerChanges() throws {
        let configuration = ClusterConfiguration(voters: [1, 2, 3])
        #expect(try configuration.applying(.addLearner(4)) == ClusterConfiguration(voters: [1, 2, 3], learners: [4]))
        #expect(try configuration.applying(.addLearner(4)).applying(.addVoter(4)) == ClusterConfiguration(voters: [1, 2, 3, 4]))
        #expect(try configuration.applying(.removeNode(2)) == ClusterConfiguration(voters: [1, 3]))
        #expect(throws: RaftError.self) { try configuration.applying(.addVoter(1)) }
        #expect(throws: RaftError.self) { try ClusterConfiguration(voters: [1]).applying(.removeNode(1)) }
    }
}
