import Foundation
import MemoryBackend
import Raft
import RaftLabBackends
import RaftRuntime
import StorageCore
import Synchronization

/// The cluster a trace scenario drives: `RaftCore`s over memory stores, a
/// network queue delivered only when a command says so, cut links, crashes
/// that keep only what a processed `Ready` persisted. Everything it prints
/// is deterministic: nodes and messages in a fixed order, no times or addresses.
final class TraceCluster {
    private static let counter = Atomic<Int>(0)

    private struct Node {
        var config: RaftCoreConfig
        /// The membership the node starts with when its state store has none.
        var bootstrap: ClusterConfiguration
        var seed: UInt64
        var restarts: UInt64 = 0
        var core: RaftCore?
        var log: any LogStore
        var state: any StateStore
    }

    private let root: String
    private var nodes: [NodeID: Node] = [:]
    /// Messages sent and not yet delivered, in sending order.
    private var queue: [Message] = []
    /// Directed links that lose every message.
    private var cutLinks: Set<[NodeID]> = []
    /// Snapshot data received by a node, by snapshot index, until installed.
    private var receivedSnapshots: [NodeID: [UInt64: [UInt8]]] = [:]
    /// The last role/term/leader printed per node.
    private var shownState: [NodeID: String] = [:]

    init() {
        root = "/trace/\(Self.counter.add(1, ordering: .relaxed).newValue)"
    }

    deinit {
        MemoryBackend.removeAll(under: root + "/")
    }

    // MARK: Commands

    func execute(_ c: TraceCommand) throws -> [String] {
        var out: [String] = []
        switch c.name {
        case "add-nodes": try addNodes(c, &out)
        case "campaign": try campaign(c, &out)
        case "tick": try tick(c, &out)
        case "propose": try propose(c, &out)
        case "propose-conf-change": try proposeConfChange(c, &out)
        case "transfer-leadership": try transferLeadership(c, &out)
        case "read-index": try readIndex(c, &out)
        case "process-ready": try processReady(c, &out)
        case "deliver-msgs": try deliverMessages(c, &out)
        case "drop": try dropMessages(c, &out)
        case "duplicate": try duplicateMessages(c, &out)
        case "stabilize": try stabilize(c, &out)
        case "cut": try cut(c, &out)
        case "isolate": try isolate(c, &out)
        case "heal": try heal(c, &out)
        case "crash": try crash(c, &out)
        case "restart": try restart(c, &out)
        case "compact": try compact(c, &out)
        case "status": try status(c, &out)
        case "raft-state": try raftState(c, &out)
        case "raft-log": try raftLog(c, &out)
        default: throw TraceError("unknown command `\(c.name)`")
        }
        let lines = out.map { line in
            var line = line
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
        return lines.isEmpty ? ["ok"] : lines
    }

    /// `add-nodes N [voters=(..)] [learners=(..)] [join=true] [election=10]
    /// [heartbeat=1] [prevote=true] [checkquorum=true] [seed=1] [inflight=256] [maxbytes=N]`
    private func addNodes(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow(["voters", "learners", "join", "election", "heartbeat", "prevote", "checkquorum", "seed", "inflight", "maxbytes"], positional: 1...1)
        guard let count = Int(c.positional[0]), count > 0 else { throw TraceError("add-nodes needs a positive count") }
        let first = (nodes.keys.max() ?? 0) + 1
        let ids = (0..<UInt64(count)).map { first + $0 }
        let learners = Set(try c.ids("learners") ?? [])
        let voters = Set(try c.ids("voters") ?? ids.filter { !learners.contains($0) })
        let bootstrap = try c.bool("join") == true ? ClusterConfiguration(voters: []) : ClusterConfiguration(voters: voters, learners: learners)
        for id in ids {
            let config = RaftCoreConfig(
                id: id, electionTick: try c.int("election") ?? 10, heartbeatTick: try c.int("heartbeat") ?? 1,
                maxMessageBytes: try c.int("maxbytes") ?? (1 << 20), maxInflightMessages: try c.int("inflight") ?? 256,
                preVote: try c.bool("prevote") ?? true, checkQuorum: try c.bool("checkquorum") ?? true)
            let (log, state) = try openStores(id)
            nodes[id] = Node(config: config, bootstrap: bootstrap, seed: UInt64(try c.int("seed") ?? 1), log: log, state: state)
            try start(id)
            out.append(stateLine(id))
            shownState[id] = softState(id)
        }
    }

    /// `campaign ID`: ticks the node alone until its election timer fires
    /// (the core has no "campaign now" input; ticks are how time passes).
    private func campaign(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 1...1)
        let id = try c.node(at: 0)
        let core = try live(id)
        guard core.role != .leader else { throw TraceError("node \(id) is already the leader") }
        // A pre-candidate that times out again changes neither role nor term:
        // there is nothing to stop at, so let `tick` show it.
        guard core.role != .preCandidate else { throw TraceError("node \(id) is already pre-campaigning; use tick") }
        let before = softState(id)
        let limit = 2 * core.config.electionTick + 1
        for n in 1...limit {
            try core.tick()
            if softState(id) != before {
                out.append("\(id) election timeout after \(n) ticks")
                note(id, &out, indent: "")
                return
            }
        }
        out.append("\(id) did not campaign within \(limit) ticks")
    }

    /// `tick N [nodes=(..)]`: every listed live node (default all) ticks N times.
    private func tick(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow(["nodes"], positional: 1...1)
        guard let count = Int(c.positional[0]), count > 0 else { throw TraceError("tick needs a positive count") }
        let ids = try c.ids("nodes") ?? liveIDs
        for n in 1...count {
            for id in ids {
                try live(id).tick()
                if softState(id) != shownState[id] {
                    out.append("tick \(n):")
                    note(id, &out, indent: "  ")
                }
            }
        }
    }

    /// `propose ID DATA...`: one entry per data argument, in one proposal.
    private func propose(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 2...64)
        let id = try c.node(at: 0)
        let core = try live(id)
        do {
            let range = try core.propose(c.positional.dropFirst().map { Array($0.utf8) })
            out.append(range.count == 1 ? "index \(range.lowerBound)" : "indexes \(range.lowerBound)...\(range.upperBound)")
        } catch let error as RaftError {
            out.append("error: \(error)")
        }
        note(id, &out, indent: "")
    }

    /// `propose-conf-change ID add-voter=N | add-learner=N | remove=N`
    private func proposeConfChange(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow(["add-voter", "add-learner", "remove"], positional: 1...1)
        let id = try c.node(at: 0)
        let core = try live(id)
        let change: ConfigurationChange
        if let n = try c.id("add-voter") {
            change = .addVoter(n)
        } else if let n = try c.id("add-learner") {
            change = .addLearner(n)
        } else if let n = try c.id("remove") {
            change = .removeNode(n)
        } else {
            throw TraceError("propose-conf-change needs add-voter=, add-learner= or remove=")
        }
        guard c.keyed.count == 1 else { throw TraceError("one change at a time") }
        do {
            out.append("index \(try core.proposeConfigurationChange(change))")
        } catch let error as RaftError {
            out.append("error: \(error)")
        }
        note(id, &out, indent: "")
    }

    /// `transfer-leadership from=ID to=ID`
    private func transferLeadership(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow(["from", "to"], positional: 0...0)
        guard let from = try c.id("from"), let to = try c.id("to") else { throw TraceError("needs from= and to=") }
        do {
            try live(from).transferLeadership(to: to)
        } catch let error as RaftError {
            out.append("error: \(error)")
        }
        note(from, &out, indent: "")
    }

    /// `read-index ID CONTEXT`
    private func readIndex(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 2...2)
        let id = try c.node(at: 0)
        do {
            try live(id).readIndex(context: Array(c.positional[1].utf8))
        } catch let error as RaftError {
            out.append("error: \(error)")
        }
    }

    /// `process-ready [ID...]`: each listed live node (default all) works off one Ready.
    private func processReady(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 0...64)
        let ids = c.positional.isEmpty ? liveIDs : try (0..<c.positional.count).map { try c.node(at: $0) }
        for id in ids {
            _ = try live(id)
            if try !handleReady(id, &out) { out.append("> \(id) has no Ready") }
        }
    }

    /// `deliver-msgs [from=ID] [to=ID] [type=MsgApp] [reverse=true]`: delivers
    /// the queued messages that match, per recipient in sending order (or
    /// reversed); the others stay queued.
    private func deliverMessages(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow(["from", "to", "type", "reverse"], positional: 0...0)
        let matching = try takeMatching(c)
        if matching.isEmpty { out.append("no messages") }
        try deliver(try c.bool("reverse") == true ? matching.reversed() : matching, &out)
    }

    /// `drop [from=ID] [to=ID] [type=MsgApp]`: loses the queued messages that match.
    private func dropMessages(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow(["from", "to", "type"], positional: 0...0)
        let matching = try takeMatching(c)
        if matching.isEmpty { out.append("no messages") }
        for m in matching { out.append("dropped: " + TraceFormat.message(m)) }
    }

    /// `duplicate [from=ID] [to=ID] [type=MsgApp]`: the network delivers the
    /// queued messages that match twice (both copies move to the end of the queue).
    private func duplicateMessages(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow(["from", "to", "type"], positional: 0...0)
        let matching = try takeMatching(c)
        if matching.isEmpty { out.append("no messages") }
        queue += matching + matching
        for m in matching { out.append("duplicated: " + TraceFormat.message(m)) }
    }

    /// `stabilize`: processes every Ready and delivers every message until nothing moves.
    private func stabilize(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 0...0)
        for _ in 0..<1000 {
            var moved = false
            for id in liveIDs {
                while try handleReady(id, &out) { moved = true }
            }
            let messages = queue
            queue = []
            try deliver(messages, &out)
            if !moved && messages.isEmpty { return }
        }
        throw TraceError("the cluster did not stabilize within 1000 rounds")
    }

    /// `cut A B [oneway=true]`: the link loses every message (both ways unless oneway).
    private func cut(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow(["oneway"], positional: 2...2)
        let a = try c.node(at: 0), b = try c.node(at: 1)
        cutLinks.insert([a, b])
        if try c.bool("oneway") != true { cutLinks.insert([b, a]) }
    }

    /// `isolate ID`: cuts every link of the node.
    private func isolate(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 1...1)
        let id = try c.node(at: 0)
        for other in nodes.keys where other != id {
            cutLinks.insert([id, other])
            cutLinks.insert([other, id])
        }
    }

    /// `heal [ID]`: restores every link (or every link of the node).
    private func heal(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 0...1)
        if c.positional.isEmpty {
            cutLinks = []
        } else {
            let id = try c.node(at: 0)
            cutLinks = cutLinks.filter { !$0.contains(id) }
        }
    }

    /// `crash ID`: the core and what it had not persisted are gone; messages
    /// already sent stay in the network.
    private func crash(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 1...1)
        let id = try c.node(at: 0)
        _ = try live(id)
        nodes[id]!.core = nil
        receivedSnapshots[id] = nil
        shownState[id] = "crashed"
    }

    /// `restart ID`: a new core from the node's stores alone.
    private func restart(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 1...1)
        let id = try c.node(at: 0)
        guard let node = nodes[id] else { throw TraceError("no node \(id)") }
        guard node.core == nil else { throw TraceError("node \(id) is running; crash it first") }
        nodes[id]!.restarts += 1
        let (log, state) = try openStores(id)
        nodes[id]!.log = log
        nodes[id]!.state = state
        try start(id)
        out.append(stateLine(id))
        shownState[id] = softState(id)
    }

    /// `compact ID [index=N]`: drops the log through N (default: all the node
    /// has applied and persisted), as the runtime does after a checkpoint.
    private func compact(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow(["index"], positional: 1...1)
        let id = try c.node(at: 0)
        let core = try live(id)
        let node = nodes[id]!
        let applied = try node.state.appliedPosition().index
        let limit = min(applied, core.persistedIndex)
        let index = try c.int("index").map { UInt64($0) } ?? limit
        guard index <= limit else { throw TraceError("node \(id) can compact through \(limit) at most") }
        guard index > (try node.log.snapshotIndex()) else { throw TraceError("the log is already compacted through \(index)") }
        try node.log.compact(through: index, term: try node.log.term(at: index))
        out.append("\(id) log compacted through \(index)/\(try node.log.term(at: index)); first index \(try node.log.firstIndex())")
    }

    /// `status ID`: the node's state, and a leader's view of each follower.
    private func status(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 1...1)
        let id = try c.node(at: 0)
        let core = try live(id)
        let s = core.status
        out.append(stateLine(id))
        out.append("  log \(s.firstIndex)...\(s.lastIndex) voters=\(TraceFormat.ids(s.configuration.voters)) learners=\(TraceFormat.ids(s.configuration.learners))")
        guard core.role == .leader else { return }
        for member in s.configuration.members.sorted() where member != id {
            guard let pr = core.progress(of: member) else { continue }
            out.append("  \(member): match=\(pr.match) next=\(pr.next) \(pr.state)\(pr.isLearner ? " learner" : "")")
        }
    }

    /// `raft-state`: one line per node.
    private func raftState(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 0...0)
        for id in nodes.keys.sorted() { out.append(stateLine(id)) }
    }

    /// `raft-log ID`: what the node's log store holds durably.
    private func raftLog(_ c: TraceCommand, _ out: inout [String]) throws {
        try c.allow([], positional: 1...1)
        let id = try c.node(at: 0)
        guard let node = nodes[id] else { throw TraceError("no node \(id)") }
        let log = node.log
        let hs = try log.hardState()
        let snapshot = try log.snapshotIndex()
        out.append("hardstate term=\(hs.term) vote=\(hs.votedFor.map(String.init) ?? "none") commit=\(hs.commit)")
        if snapshot > 0 { out.append("compacted through \(snapshot)/\(try log.term(at: snapshot))") }
        let first = try log.firstIndex(), last = try log.lastIndex()
        if first > last {
            out.append("no entries")
            return
        }
        for entry in try log.entries(first...last, maxBytes: .max) { out.append(TraceFormat.entry(entry)) }
    }

    // MARK: Nodes

    private var liveIDs: [NodeID] { nodes.keys.sorted().filter { nodes[$0]?.core != nil } }

    private func live(_ id: NodeID) throws -> RaftCore {
        guard let node = nodes[id] else { throw TraceError("no node \(id)") }
        guard let core = node.core else { throw TraceError("node \(id) is crashed") }
        return core
    }

    private func openStores(_ id: NodeID) throws -> (any LogStore, any StateStore) {
        let log = try BackendRegistry.standard.openLogStore(backend: "memory", StoreOptions(directory: "\(root)/\(id)/log"))
        let state = try BackendRegistry.standard.openStateStore(backend: "memory", StoreOptions(directory: "\(root)/\(id)/state"))
        return (log, state)
    }

    /// Creates the node's core from its stores, as the runtime does at start.
    private func start(_ id: NodeID) throws {
        let node = nodes[id]!
        let complete = try ReadyPersistence.reconcile(log: node.log, state: node.state)
        let applied = try node.state.appliedPosition().index
        let configuration = try CommittedEntryApplier.configuration(in: node.state) ?? node.bootstrap
        let seed = node.seed &* 1_000_003 &+ id &* 7919 &+ node.restarts &* 104_729
        nodes[id]!.core = try RaftCore(
            config: node.config, storage: node.log, applied: applied, configuration: configuration,
            random: SplitMix64(seed: seed), awaitingSnapshot: !complete)
    }

    private func softState(_ id: NodeID) -> String {
        guard let core = nodes[id]?.core else { return "crashed" }
        return "\(core.role) term=\(core.term) lead=\(core.leader == 0 ? "none" : String(core.leader))"
    }

    /// Prints the node's role, term and leader if they changed since last printed.
    private func note(_ id: NodeID, _ out: inout [String], indent: String) {
        let current = softState(id)
        guard current != shownState[id] else { return }
        shownState[id] = current
        out.append("\(indent)\(id) is \(current)")
    }

    private func stateLine(_ id: NodeID) -> String {
        guard let core = nodes[id]?.core else { return "\(id): crashed" }
        let s = core.status
        let membership = s.configuration.voters.contains(id) ? "voter" : s.configuration.learners.contains(id) ? "learner" : "non-member"
        return "\(id): \(s.role) (\(membership)) term=\(s.term) vote=\(s.votedFor.map(String.init) ?? "none") "
            + "lead=\(s.leader.map(String.init) ?? "none") commit=\(s.commit) applied=\(s.applied) last=\(s.lastIndex)"
            + (core.awaitingSnapshot ? " awaiting-snapshot" : "")
    }

    // MARK: Ready and delivery

    /// Works off one Ready of `id` in the order `Ready` documents; false if there was none.
    private func handleReady(_ id: NodeID, _ out: inout [String]) throws -> Bool {
        let core = try live(id)
        let node = nodes[id]!
        guard let ready = try core.ready() else { return false }
        out.append("> \(id) handling Ready")
        note(id, &out, indent: "  ")
        if let hs = ready.hardState {
            out.append("  HardState term=\(hs.term) vote=\(hs.votedFor.map(String.init) ?? "none") commit=\(hs.commit)")
        }
        if let snapshot = ready.snapshot {
            out.append("  Snapshot \(snapshot.index)/\(snapshot.term) voters=\(TraceFormat.ids(snapshot.configuration.voters)) learners=\(TraceFormat.ids(snapshot.configuration.learners))")
        }
        if !ready.entries.isEmpty {
            out.append("  Entries:")
            for e in ready.entries { out.append("    " + TraceFormat.entry(e)) }
        }
        if !ready.committedEntries.isEmpty {
            out.append("  CommittedEntries:")
            for e in ready.committedEntries { out.append("    " + TraceFormat.entry(e)) }
        }
        let messages = try expandSnapshots(ready.messages, from: id)
        if !messages.isEmpty {
            out.append("  Messages:")
            for m in messages { out.append("    " + TraceFormat.message(m)) }
        }
        if !ready.messagesAfterPersist.isEmpty {
            out.append("  MessagesAfterPersist:")
            for m in ready.messagesAfterPersist { out.append("    " + TraceFormat.message(m)) }
        }
        if !ready.readStates.isEmpty {
            out.append("  ReadStates:")
            for r in ready.readStates { out.append("    index=\(r.index) ctx=\(TraceFormat.data(r.context))") }
        }
        // 1. send; 2. apply; 3-4. install the snapshot, persist; 5. send after persist; 6. advance.
        queue += messages
        if !ready.committedEntries.isEmpty {
            _ = try CommittedEntryApplier.apply(ready.committedEntries, machine: HashChainMachine(), store: node.state)
        }
        var data: [UInt8]?
        if let snapshot = ready.snapshot { data = receivedSnapshots[id]?[snapshot.index] }
        try ReadyPersistence.persist(ready, log: node.log, state: node.state, snapshotData: data.map { .memory($0) })
        queue += ready.messagesAfterPersist
        try core.advance(ready)
        note(id, &out, indent: "  ")
        return true
    }

    /// A leader's snapshot message carries its state store's data, as the runtime streams it.
    private func expandSnapshots(_ messages: [Message], from id: NodeID) throws -> [Message] {
        let node = nodes[id]!
        return try messages.flatMap { message -> [Message] in
            guard message.kind == .snapshot else { return [message] }
            return try SnapshotStream.chunks(of: node.state, fallback: node.core!.configuration, maxChunkBytes: 1 << 20).map {
                var piece = message
                piece.snapshot = $0
                return piece
            }
        }
    }

    private func takeMatching(_ c: TraceCommand) throws -> [Message] {
        let from = try c.id("from"), to = try c.id("to")
        let kind = try c.keyed["type"].map { name -> Message.Kind in
            guard let kind = TraceFormat.kind(named: name) else { throw TraceError("unknown message type `\(name)`") }
            return kind
        }
        var matching: [Message] = []
        var rest: [Message] = []
        for m in queue {
            if (from == nil || m.from == from) && (to == nil || m.to == to) && (kind == nil || m.kind == kind) {
                matching.append(m)
            } else {
                rest.append(m)
            }
        }
        queue = rest
        return matching
    }

    /// Delivers `messages` grouped by recipient (ascending), in the given order within each.
    private func deliver(_ messages: [Message], _ out: inout [String]) throws {
        var recipients: [NodeID] = []
        for m in messages where !recipients.contains(m.to) { recipients.append(m.to) }
        for to in recipients.sorted() {
            out.append("> \(to) receiving messages")
            for m in messages where m.to == to {
                let line = "  " + TraceFormat.message(m)
                if cutLinks.contains([m.from, m.to]) {
                    out.append(line + " DROPPED (link cut)")
                    continue
                }
                guard let core = nodes[to]?.core else {
                    out.append(line + " DROPPED (\(nodes[to] == nil ? "no such node" : "node crashed"))")
                    continue
                }
                out.append(line)
                var message = m
                if m.kind == .snapshot, let chunk = m.snapshot {
                    receivedSnapshots[to, default: [:]][chunk.index] = chunk.data
                    message.snapshot = SnapshotChunk(index: chunk.index, term: chunk.term, configuration: chunk.configuration)
                }
                do {
                    try core.step(message)
                } catch let error as RaftError {
                    out.append("  error: \(error)")
                }
                note(to, &out, indent: "  ")
            }
        }
    }
}
