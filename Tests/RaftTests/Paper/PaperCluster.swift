import Foundation
import Raft
import RaftRuntime
import RaftLabBackends
import StorageCore
import Synchronization

/// A small synchronous harness for rule-by-rule tests (as etcd's
/// raft_paper_test): cores over memory stores, messages delivered by hand or
/// until the network is quiet, with optional dropped links.
final class PaperCluster {
    static let counter = Atomic<Int>(0)

    let directory: String
    var cores: [NodeID: RaftCore] = [:]
    var logs: [NodeID: any LogStore] = [:]
    var states: [NodeID: any StateStore] = [:]
    var configs: [NodeID: RaftCoreConfig] = [:]
    /// Directed links that drop messages.
    var dropped: Set<[NodeID]> = []
    /// Messages produced but not yet delivered.
    var outbox: [Message] = []
    var appliedCommands: [NodeID: [LogEntry]] = [:]
    var readStates: [NodeID: [ReadState]] = [:]
    var snapshots: [NodeID: [UInt64: [UInt8]]] = [:]
    let configuration: ClusterConfiguration

    init(
        _ ids: [NodeID], preVote: Bool = false, checkQuorum: Bool = false, electionTick: Int = 10,
        maxInflight: Int = 256, logs initial: [NodeID: [LogEntry]] = [:], terms: [NodeID: UInt64] = [:],
        learners: Set<NodeID> = []
    ) throws {
        directory = "/paper/\(Self.counter.add(1, ordering: .relaxed).newValue)"
        configuration = ClusterConfiguration(voters: Set(ids).subtracting(learners), learners: learners)
        for id in ids {
            let log = try BackendRegistry.standard.openLogStore(backend: "memory", StoreOptions(directory: "\(directory)/\(id)/log"))
            let state = try BackendRegistry.standard.openStateStore(backend: "memory", StoreOptions(directory: "\(directory)/\(id)/state"))
            if let entries = initial[id], !entries.isEmpty { try log.append(entries) }
            if let term = terms[id] { try log.saveHardState(HardState(term: term)) }
            logs[id] = log
            states[id] = state
            configs[id] = RaftCoreConfig(
                id: id, electionTick: electionTick, heartbeatTick: 1, maxInflightMessages: maxInflight,
                preVote: preVote, checkQuorum: checkQuorum)
            try restart(id)
        }
    }

    /// (Re)creates a node's core from its stores alone.
    func restart(_ id: NodeID) throws {
        try ReadyPersistence.reconcile(log: logs[id]!, state: states[id]!)
        let applied = try states[id]!.appliedPosition().index
        let configuration = try CommittedEntryApplier.configuration(in: states[id]!) ?? configuration
        cores[id] = try RaftCore(
            config: configs[id]!, storage: logs[id]!, applied: applied, configuration: configuration,
            random: SplitMix64(seed: id))
    }

    subscript(id: NodeID) -> RaftCore { cores[id]! }

    /// Works off one node's Ready in the documented order; returns it.
    @discardableResult
    func process(_ id: NodeID) throws -> Ready? {
        guard let core = cores[id], let ready = try core.ready() else { return nil }
        outbox += try expandSnapshots(ready.messages, from: id)
        var data: [UInt8]?
        if let snapshot = ready.snapshot { data = snapshots[id]?[snapshot.index] }
        try ReadyPersistence.persist(ready, log: logs[id]!, state: states[id]!, snapshotData: data.map { .memory($0) })
        outbox += ready.messagesAfterPersist
        if !ready.committedEntries.isEmpty {
            _ = try CommittedEntryApplier.apply(ready.committedEntries, machine: HashChainMachine(), store: states[id]!)
            appliedCommands[id, default: []] += ready.committedEntries.filter { $0.kind == .command }
        }
        readStates[id, default: []] += ready.readStates
        try core.advance(ready)
        return ready
    }

    /// Takes a node's Ready without persisting or acknowledging it.
    func takeReady(_ id: NodeID) throws -> Ready? {
        try cores[id]?.ready()
    }

    func expandSnapshots(_ messages: [Message], from id: NodeID) throws -> [Message] {
        try messages.flatMap { message -> [Message] in
            guard message.kind == .snapshot else { return [message] }
            return try SnapshotStream.chunks(of: states[id]!, fallback: cores[id]!.configuration, maxChunkBytes: 1 << 20).map {
                var piece = message
                piece.snapshot = $0
                return piece
            }
        }
    }

    func deliver(_ message: Message) throws {
        guard !dropped.contains([message.from, message.to]), let core = cores[message.to] else { return }
        if message.kind == .snapshot, let chunk = message.snapshot, !chunk.data.isEmpty || chunk.isLast {
            snapshots[message.to, default: [:]][chunk.index] = chunk.data
            var whole = message
            whole.snapshot = SnapshotChunk(index: chunk.index, term: chunk.term, configuration: chunk.configuration)
            try core.step(whole)
        } else {
            try core.step(message)
        }
    }

    /// Processes every node and delivers every message until nothing moves.
    func stabilize(maxRounds: Int = 1000) throws {
        for _ in 0..<maxRounds {
            var moved = false
            for id in cores.keys.sorted() {
                while try process(id) != nil { moved = true }
            }
            let messages = outbox
            outbox = []
            for message in messages { try deliver(message) }
            if !moved && messages.isEmpty { return }
        }
    }

    /// Ticks `id` until it starts an election, then lets the cluster settle.
    func elect(_ id: NodeID) throws {
        let core = cores[id]!
        for _ in 0..<(4 * configs[id]!.electionTick) where core.role == .follower {
            try core.tick()
        }
        try stabilize()
    }

    func isolate(_ id: NodeID) {
        for other in cores.keys where other != id {
            dropped.insert([id, other])
            dropped.insert([other, id])
        }
    }

    func heal() { dropped = [] }

    /// The messages of a Ready, both kinds, of the given kind.
    func take(_ kind: Message.Kind) -> [Message] {
        let matching = outbox.filter { $0.kind == kind }
        outbox.removeAll { $0.kind == kind }
        return matching
    }

    static func entries(_ terms: [UInt64]) -> [LogEntry] {
        terms.enumerated().map { LogEntry(index: UInt64($0.offset + 1), term: $0.element, data: [UInt8($0.offset & 0xFF)]) }
    }
}
