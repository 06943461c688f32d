import Raft
import RaftRuntime
import StorageCore
import StorageFaults
import Testing

/// A full disk (or any store that refuses writes) stalls a node instead of
/// stopping it: the first release stopped a node for good on the first
/// failed apply or log write ("raft node failed; stopping").
@Suite("Runtime: a store that refuses writes stalls the node, never stops it", .serialized)
struct DiskFullTests {
    private func cluster() -> InProcessCluster {
        let cluster = InProcessCluster(size: 3)
        for id: NodeID in 1...3 { cluster.diskFull[id] = (DiskFullSwitch(), DiskFullSwitch()) }
        return cluster
    }

    private func follower(of leader: RaftNode, in cluster: InProcessCluster) -> NodeID {
        cluster.nodes.keys.sorted().first { $0 != leader.id }!
    }

    private func waitForStall(_ node: RaftNode, stage: NodeStall.Stage) async throws -> NodeStall {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let stall = await node.status.stall, stall.stage == stage { return stall }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw RaftError.timeout
    }

    @Test("a follower whose disk fills keeps its log, the majority keeps serving, and it catches up when space returns", arguments: [NodeStall.Stage.log, .apply])
    func followerDiskFills(stage: NodeStall.Stage) async throws {
        let cluster = cluster()
        try await cluster.startAll()
        let leader = try await cluster.leader()
        for i in 0..<10 { _ = try await leader.propose(Array("a\(i)=\(i)".utf8)) }
        let follower = follower(of: leader, in: cluster)
        let disk = cluster.diskFull[follower]!
        if stage == .log { disk.log.isFull = true } else { disk.state.isFull = true }

        // The other two are a majority: writes go on.
        var last: UInt64 = 0
        for i in 0..<40 { last = try await leader.propose(Array("b\(i % 7)=\(i)".utf8)).index }
        let node = cluster.nodes[follower]!
        let stall = try await waitForStall(node, stage: stage)
        #expect(stall.error.contains("No space left on device"), "the stall names the error: \(stall.error)")
        #expect(await node.status.isRunning, "the follower stopped instead of waiting")
        #expect((stage == .log ? disk.log : disk.state).refusedWrites > 0)

        // Space comes back: the follower resumes by itself and catches up.
        disk.log.isFull = false
        disk.state.isFull = false
        try await cluster.waitApplied(last, on: [1, 2, 3])
        #expect(await node.status.stall == nil)
        for k in 0..<7 {
            let expected = try cluster.value("b\(k)", on: leader.id)
            #expect(try cluster.value("b\(k)", on: follower) == expected)
        }
        await cluster.stopAll()
    }

    @Test("a leader that cannot apply refuses new proposals as unavailable, then takes them again")
    func stalledLeaderRefusesProposals() async throws {
        let cluster = cluster()
        try await cluster.startAll()
        let leader = try await cluster.leader()
        _ = try await leader.propose(Array("x=1".utf8))
        let disk = cluster.diskFull[leader.id]!
        disk.state.isFull = true
        // This one commits (the log is fine) but cannot be applied here yet.
        let pending = Task { try await leader.propose(Array("x=2".utf8)) }
        _ = try await waitForStall(leader, stage: .apply)
        await #expect(throws: RaftError.self) { _ = try await leader.propose(Array("x=3".utf8)) }
        do {
            _ = try await leader.propose(Array("x=3".utf8))
        } catch RaftError.unavailable(let why) {
            #expect(why.contains("applying is stalled"))
        } catch RaftError.notLeader {
            // Leadership moved meanwhile: also an honest answer.
        }
        disk.state.isFull = false
        let applied = try await pending.value
        #expect(applied.index > 0)
        #expect(await leader.status.stall == nil)
        _ = try await cluster.propose("x=4")
        await cluster.stopAll()
    }
}
