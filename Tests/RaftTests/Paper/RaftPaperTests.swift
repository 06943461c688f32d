import Raft
import RaftRuntime
import StorageCore
import Testing

/// The rules of the Raft paper (Ongaro & Ousterhout, "In Search of an
/// Understandable Consensus Algorithm") and of the dissertation's extensions,
/// one test each, named by section as etcd's raft_paper_test does.
@Suite("Raft paper rules")
struct RaftPaperTests {
    // MARK: §5.1 Basics

    @Test("§5.1 a node that sees a higher term adopts it and becomes follower", arguments: [RaftRole.follower, .candidate, .leader])
    func higherTermMakesFollower(role: RaftRole) throws {
        let c = try PaperCluster([1, 2, 3])
        switch role {
        case .leader: try c.elect(1)
        case .candidate:
            for _ in 0..<20 where c[1].role == .follower { try c[1].tick() }
            c.outbox = []
        default: break
        }
        #expect(c[1].role == role)
        try c[1].step(Message(kind: .append, from: 2, to: 1, term: 10))
        #expect(c[1].term == 10)
        #expect(c[1].role == .follower)
        #expect(c[1].status.leader == 2)
    }

    @Test("§5.1 a stale-term request is answered with the current term, not obeyed")
    func staleTermRejected() throws {
        let c = try PaperCluster([1, 2, 3], checkQuorum: true)
        try c.elect(1)
        let term = c[2].term
        try c[2].step(Message(kind: .append, from: 3, to: 2, term: term - 1, entries: [LogEntry(index: 2, term: term - 1)]))
        try c.process(2)
        let responses = c.take(.appendResponse).filter { $0.to == 3 }
        #expect(responses.count == 1)
        #expect(responses.first?.term == term)
        #expect(try c[2].lastIndex() == 1)
    }

    // MARK: §5.2 Leader election

    @Test("§5.2 a follower that hears nothing for an election timeout campaigns in a new term")
    func followerStartsElection() throws {
        let c = try PaperCluster([1, 2, 3])
        for _ in 0..<20 where c[1].role == .follower { try c[1].tick() }
        #expect(c[1].role == .candidate)
        #expect(c[1].term == 1)
        try c.process(1)
        let votes = c.take(.vote)
        #expect(Set(votes.map(\.to)) == [2, 3])
        #expect(votes.allSatisfy { $0.term == 1 })
    }

    @Test("§5.2 election timeouts are randomized between electionTick and twice that")
    func randomizedTimeouts() throws {
        var timeouts = Set<Int>()
        for seed in 1...30 {
            let c = try PaperCluster([1, 2, 3])
            let core = try RaftCore(
                config: RaftCoreConfig(id: 1, electionTick: 10, preVote: false),
                storage: c.logs[1]!, applied: 0, configuration: c.configuration, random: SplitMix64(seed: UInt64(seed)))
            var ticks = 0
            while core.role == .follower {
                try core.tick()
                ticks += 1
            }
            #expect((10..<20).contains(ticks))
            timeouts.insert(ticks)
        }
        #expect(timeouts.count > 3)
    }

    @Test("§5.2 a candidate with votes from a majority becomes leader", arguments: [3, 5])
    func candidateWinsWithMajority(size: Int) throws {
        let ids = (1...NodeID(size)).map { $0 }
        let c = try PaperCluster(ids)
        // Only a bare majority can answer.
        for id in ids.dropFirst(size / 2 + 1) { c.isolate(id) }
        try c.elect(1)
        #expect(c[1].role == .leader)
    }

    @Test("§5.2 a candidate without a majority does not become leader")
    func candidateWithoutMajority() throws {
        let c = try PaperCluster([1, 2, 3, 4, 5])
        for id: NodeID in [3, 4, 5] { c.isolate(id) }
        try c.elect(1)
        #expect(c[1].role == .candidate)
    }

    @Test("§5.2 a voter grants at most one vote per term, first come first served")
    func oneVotePerTerm() throws {
        let c = try PaperCluster([1, 2, 3])
        try c[1].step(Message(kind: .vote, from: 2, to: 1, term: 1))
        try c[1].step(Message(kind: .vote, from: 3, to: 1, term: 1))
        try c.process(1)
        let responses = c.take(.voteResponse)
        #expect(responses.first { $0.to == 2 }?.reject == false)
        #expect(responses.first { $0.to == 3 }?.reject == true)
        #expect(c[1].votedFor == 2)
    }

    @Test("§5.2 a vote is sent only after the vote is durable (persist before acknowledging)")
    func voteAfterPersist() throws {
        let c = try PaperCluster([1, 2, 3])
        try c[1].step(Message(kind: .vote, from: 2, to: 1, term: 1))
        let ready = try #require(try c.takeReady(1))
        #expect(ready.messages.allSatisfy { $0.kind != .voteResponse })
        #expect(ready.messagesAfterPersist.contains { $0.kind == .voteResponse && !$0.reject })
        #expect(ready.hardState == HardState(term: 1, votedFor: 2, commit: 0))
        // Crash before persisting: the restarted node has not voted.
        try c.restart(1)
        #expect(c[1].votedFor == nil)
    }

    @Test("§5.2 a candidate counts its own vote only once it is durable")
    func candidateSelfVoteAfterPersist() throws {
        let c = try PaperCluster([1])
        for _ in 0..<20 where c[1].role == .follower { try c[1].tick() }
        #expect(c[1].role == .candidate)
        let ready = try #require(try c.takeReady(1))
        #expect(c[1].role == .candidate)
        try c.logs[1]!.append(ready.entries, hardState: ready.hardState)
        try c[1].advance(ready)
        #expect(c[1].role == .leader)
    }

    // MARK: §5.3 Log replication

    @Test("§5.3 the leader appends a proposal to its log and sends it to every follower")
    func leaderReplicatesProposal() throws {
        let c = try PaperCluster([1, 2, 3])
        try c.elect(1)
        let range = try c[1].propose([[42]])
        try c.process(1)
        let appends = c.take(.append).filter { !$0.entries.isEmpty }
        #expect(Set(appends.map(\.to)) == [2, 3])
        #expect(appends.allSatisfy { $0.entries.last?.index == range.upperBound && $0.entries.last?.data == [42] })
    }

    @Test("§5.3 the leader may send entries before its own write is durable, and counts itself only once durable")
    func leaderSendsBeforePersist() throws {
        let c = try PaperCluster([1, 2, 3])
        try c.elect(1)
        let index = try c[1].propose([[7]]).upperBound
        let ready = try #require(try c.takeReady(1))
        #expect(ready.entries.map(\.index) == [index])
        #expect(ready.messages.contains { $0.kind == .append && $0.entries.contains { $0.index == index } })
        // One follower acknowledges; without the leader's own durable copy there is no majority.
        try c[1].step(Message(kind: .appendResponse, from: 2, to: 1, term: c[1].term, logIndex: index))
        try c[1].step(Message(kind: .appendResponse, from: 3, to: 1, term: c[1].term, logIndex: index - 1))
        #expect(c[1].commitIndex < index)
        try c.logs[1]!.append(ready.entries, hardState: ready.hardState)
        try c[1].advance(ready)
        #expect(c[1].commitIndex == index)
    }

    @Test("§5.3 an entry is committed once a majority stores it; followers learn the commit index")
    func commitOnMajority() throws {
        let c = try PaperCluster([1, 2, 3, 4, 5])
        try c.elect(1)
        c.isolate(4)
        c.isolate(5)
        let index = try c[1].propose([[1]]).upperBound
        try c.stabilize()
        #expect(c[1].commitIndex == index)
        for _ in 0..<2 { try c[1].tick() }
        try c.stabilize()
        #expect(c[2].commitIndex == index)
        #expect(c[3].commitIndex == index)
        #expect(c[4].commitIndex < index)
    }

    @Test("§5.3 follower rejects AppendEntries whose previous entry does not match")
    func followerRejectsMismatch() throws {
        let c = try PaperCluster([1, 2, 3], logs: [2: PaperCluster.entries([1, 1])], terms: [2: 2])
        try c[2].step(Message(
            kind: .append, from: 1, to: 2, term: 2, logIndex: 2, logTerm: 2,
            entries: [LogEntry(index: 3, term: 2)]))
        try c.process(2)
        let response = try #require(c.take(.appendResponse).first)
        #expect(response.reject)
        #expect(response.rejectHint <= 2)
        #expect(try c[2].lastIndex() == 2)
    }

    @Test("§5.3 follower deletes conflicting entries and appends the leader's")
    func followerReplacesConflicts() throws {
        let c = try PaperCluster([1, 2, 3], logs: [2: PaperCluster.entries([1, 1, 1])], terms: [2: 2])
        let leaderEntries = [LogEntry(index: 2, term: 2, data: [9]), LogEntry(index: 3, term: 2, data: [10])]
        try c[2].step(Message(kind: .append, from: 1, to: 2, term: 2, logIndex: 1, logTerm: 1, entries: leaderEntries))
        try c.process(2)
        #expect(try c.logs[2]!.entries(from: 2) == leaderEntries)
        let response = try #require(c.take(.appendResponse).first)
        #expect(!response.reject && response.logIndex == 3)
    }

    @Test("§5.3 an append acknowledgment is sent only after the entries are durable")
    func appendAckAfterPersist() throws {
        let c = try PaperCluster([1, 2, 3])
        try c[2].step(Message(kind: .append, from: 1, to: 2, term: 1, entries: [LogEntry(index: 1, term: 1)]))
        let ready = try #require(try c.takeReady(2))
        #expect(ready.messages.allSatisfy { $0.kind != .appendResponse })
        #expect(ready.messagesAfterPersist.contains { $0.kind == .appendResponse && $0.logIndex == 1 })
        #expect(ready.entries.map(\.index) == [1])
    }

    @Test("§5.3 a lagging follower is brought up to date by backtracking")
    func followerCatchesUp() throws {
        let c = try PaperCluster([1, 2, 3])
        try c.elect(1)
        c.isolate(3)
        for i in 0..<20 { try c[1].propose([[UInt8(i)]]) }
        try c.stabilize()
        c.heal()
        for _ in 0..<3 { try c[1].tick() }
        try c.stabilize()
        #expect(try c[3].lastIndex() == (try c[1].lastIndex()))
        #expect(c[3].commitIndex == c[1].commitIndex)
    }

    // MARK: §5.4 Safety

    @Test("§5.4.1 a voter rejects a candidate whose log is less up-to-date")
    func voterRejectsStaleCandidate() throws {
        let c = try PaperCluster([1, 2, 3], logs: [1: PaperCluster.entries([1, 2])], terms: [1: 2])
        try c[1].step(Message(kind: .vote, from: 2, to: 1, term: 3, logIndex: 5, logTerm: 1))
        try c[1].step(Message(kind: .vote, from: 3, to: 1, term: 3, logIndex: 1, logTerm: 2))
        try c.process(1)
        let responses = c.take(.voteResponse)
        #expect(responses.first { $0.to == 2 }?.reject == true)
        #expect(responses.first { $0.to == 3 }?.reject == true)
    }

    @Test("§5.4.2 leader only commits entries from its current term (Figure 8)")
    func figure8() throws {
        // Node 1 leads term 3 with an entry of term 2 at index 2 that a
        // majority (1, 2) holds; it must not commit it by counting replicas.
        let c = try PaperCluster(
            [1, 2, 3, 4, 5],
            logs: [1: PaperCluster.entries([1, 2]), 2: PaperCluster.entries([1, 2]), 3: PaperCluster.entries([1])],
            terms: [1: 2, 2: 2, 3: 2, 4: 2, 5: 2])
        c.isolate(4)
        c.isolate(5)
        c.dropped.insert([1, 2])  // node 2 will not get the new leader's entries
        c.dropped.insert([1, 3])
        // Node 1 becomes leader of term 3 with votes from 2 and 3.
        for _ in 0..<30 where c[1].role == .follower { try c[1].tick() }
        try c.process(1)
        for vote in c.take(.vote) where vote.to == 2 || vote.to == 3 { try c.cores[vote.to]!.step(vote) }
        try c.process(2)
        try c.process(3)
        for response in c.take(.voteResponse) { try c[1].step(response) }
        try c.process(1)
        #expect(c[1].role == .leader)
        #expect(c[1].term == 3)
        // Node 2 acknowledges index 2 (it has the term-2 entry): a majority
        // stores index 2, but its term is 2, so it is not committed.
        try c[1].step(Message(kind: .appendResponse, from: 2, to: 1, term: 3, logIndex: 2))
        try c[1].step(Message(kind: .appendResponse, from: 3, to: 1, term: 3, logIndex: 2))
        #expect(c[1].commitIndex == 0)
        // Once the leader's own no-op (term 3) is on a majority, everything commits.
        try c[1].step(Message(kind: .appendResponse, from: 2, to: 1, term: 3, logIndex: 3))
        #expect(c[1].commitIndex == 0)
        try c[1].step(Message(kind: .appendResponse, from: 3, to: 1, term: 3, logIndex: 3))
        #expect(c[1].commitIndex == 3)
    }

    @Test("§5.4.3 leader completeness: a leader elected after a commit holds the committed entries")
    func leaderCompleteness() throws {
        let c = try PaperCluster([1, 2, 3])
        try c.elect(1)
        let index = try c[1].propose([[5]]).upperBound
        try c.stabilize()
        #expect(c[1].commitIndex == index)
        c.isolate(1)
        try c.elect(2)
        #expect(c[2].role == .leader)
        #expect(try c[2].term(at: index) == (try c[1].term(at: index)))
    }

    // MARK: §5.6 / persistence

    @Test("§5.6 a node restarted from its LogStore alone keeps its term, vote, log and commit")
    func restartFromLogStore() throws {
        let c = try PaperCluster([1, 2, 3])
        try c.elect(1)
        for i in 0..<5 { try c[1].propose([[UInt8(i)]]) }
        try c.stabilize()
        let before = c[2].status
        try c.restart(2)
        let after = c[2].status
        #expect(after.term == before.term)
        #expect(after.votedFor == before.votedFor)
        #expect(after.lastIndex == before.lastIndex)
        #expect(after.commit >= before.applied)
        #expect(after.applied == before.applied)
    }

    // MARK: Dissertation extensions

    @Test("§9.6 pre-vote: a partitioned node does not bump its term or disrupt the leader")
    func preVote() throws {
        let c = try PaperCluster([1, 2, 3], preVote: true, checkQuorum: true)
        try c.elect(1)
        let term = c[1].term
        c.isolate(3)
        for _ in 0..<100 { try c[3].tick(); try c.stabilize() }
        #expect(c[3].term == term)
        #expect(c[3].role == .preCandidate || c[3].role == .follower)
        c.heal()
        for _ in 0..<30 { try c[3].tick(); try c[1].tick(); try c.stabilize() }
        #expect(c[1].role == .leader)
        #expect(c[1].term == term)
    }

    @Test("§6.2 check-quorum: a leader that cannot reach a majority steps down")
    func checkQuorum() throws {
        let c = try PaperCluster([1, 2, 3], checkQuorum: true)
        try c.elect(1)
        c.isolate(1)
        for _ in 0..<25 { try c[1].tick(); try c.stabilize() }
        #expect(c[1].role == .follower)
    }

    @Test("§6.4 ReadIndex: the read index is served only after a heartbeat quorum confirms leadership")
    func readIndex() throws {
        let c = try PaperCluster([1, 2, 3])
        try c.elect(1)
        let index = try c[1].propose([[1]]).upperBound
        try c.stabilize()
        c.isolate(1)
        try c[1].readIndex(context: [1])
        try c.stabilize()
        #expect(c.readStates[1, default: []].isEmpty)
        c.heal()
        try c[1].readIndex(context: [2])
        try c.stabilize()
        #expect(c.readStates[1]?.contains(ReadState(index: index, context: [2])) == true)
        // A follower's read is forwarded to the leader and answered with its commit index.
        try c[2].readIndex(context: [3])
        try c.stabilize()
        #expect(c.readStates[2]?.first { $0.context == [3] }?.index == index)
    }

    @Test("§3.10 leadership transfer: the target is caught up, told to time out, and wins")
    func leadershipTransfer() throws {
        let c = try PaperCluster([1, 2, 3])
        try c.elect(1)
        try c[1].propose([[1]])
        try c.stabilize()
        try c[1].transferLeadership(to: 3)
        #expect(throws: RaftError.transferInProgress) { try c[1].propose([[2]]) }
        try c.stabilize()
        #expect(c[3].role == .leader)
        #expect(c[1].role == .follower)
    }

    @Test("§4.1 single-server change: a learner receives the log but does not vote or count")
    func learnerDoesNotCount() throws {
        let c = try PaperCluster([1, 2, 3, 4], learners: [4])
        try c.elect(1)
        c.isolate(2)
        c.isolate(3)
        c.dropped.subtract([[1, 4], [4, 1]])
        let index = try c[1].propose([[1]]).upperBound
        try c.stabilize()
        #expect(try c[4].lastIndex() == index)
        #expect(c[1].commitIndex < index)
    }

    @Test("§4.1 membership: add a learner, promote it, remove the leader which steps down")
    func membershipChanges() throws {
        let c = try PaperCluster([1, 2, 3, 4], learners: [4])
        // Node 4 really starts outside the configuration and learns it.
        try c.elect(1)
        try c[1].proposeConfigurationChange(.addVoter(4))
        #expect(throws: RaftError.configurationChangeInProgress) { try c[1].proposeConfigurationChange(.removeNode(2)) }
        try c.stabilize()
        #expect(c[1].configuration.voters == [1, 2, 3, 4])
        #expect(c[4].configuration.voters == [1, 2, 3, 4])
        try c[1].proposeConfigurationChange(.removeNode(1))
        try c.stabilize()
        #expect(c[1].role == .follower)
        #expect(c[2].configuration.voters == [2, 3, 4])
        try c.elect(2)
        #expect(c[2].role == .leader)
    }

    @Test("§7 a follower that needs compacted entries receives a snapshot (InstallSnapshot)")
    func installSnapshot() throws {
        let c = try PaperCluster([1, 2, 3])
        try c.elect(1)
        c.isolate(3)
        for i in 0..<10 { try c[1].propose([[UInt8(i)]]) }
        try c.stabilize()
        let applied = c[1].appliedIndex
        try c.logs[1]!.compact(through: applied, term: try #require(try c[1].term(at: applied)))
        c.heal()
        for _ in 0..<3 { try c[1].tick() }
        try c.stabilize()
        #expect(try c.states[3]!.appliedPosition().index >= applied)
        #expect(try HashChainMachine.hash(in: c.states[3]!) == HashChainMachine.hash(in: c.states[1]!))
        #expect(c[3].commitIndex == c[1].commitIndex)
    }

    @Test("flow control: a leader pipelines appends up to the inflight window, then waits")
    func inflightWindow() throws {
        let c = try PaperCluster([1, 2], maxInflight: 3)
        try c.elect(1)
        // Follower 2 now replicates; send five proposals without acknowledgments.
        c.dropped.insert([2, 1])
        for i in 0..<5 {
            try c[1].propose([[UInt8(i)]])
        }
        try c.process(1)
        let appends = c.take(.append).filter { $0.to == 2 && !$0.entries.isEmpty }
        #expect(appends.count == 3)
    }
}
