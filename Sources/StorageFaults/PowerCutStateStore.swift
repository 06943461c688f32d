import StorageCore
import Synchronization

/// A `StateStore` on top of any other that models a disk losing power (see
/// `PowerCutLogStore`). Its durable image follows the state store contract:
/// in `StateSyncMode.checkpoint` an apply is not durable until a checkpoint,
/// in `.always` it is durable when it returns; a restore is always durable.
/// `powerCut()` rebuilds the store underneath from the image, so the store
/// falls back to its last checkpoint, exactly as the contract allows.
public final class PowerCutStateStore: StateStore {
    private let reopenEmpty: @Sendable () throws -> any StateStore
    private let mode: StateSyncMode
    private let faults: SyncFault
    private let state: Mutex<State>

    private struct State {
        var live: any StateStore
        var durable = SortedChunkMap()
        var durablePosition = AppliedPosition.zero
        /// Applied since the last checkpoint, in order.
        var pending: [(batch: WriteBatch, position: AppliedPosition)] = []
    }

    public init(
        mode: StateSyncMode, faults: SyncFault = [], reopenEmpty: @escaping @Sendable () throws -> any StateStore
    ) throws {
        self.reopenEmpty = reopenEmpty
        self.mode = mode
        self.faults = faults
        state = Mutex(State(live: try reopenEmpty()))
    }

    private var live: any StateStore { state.withLock { $0.live } }

    /// The position a power cut now would leave.
    public var durablePosition: AppliedPosition { state.withLock { $0.durablePosition } }

    /// What a power cut now would leave of the state store.
    public func durableImage() -> DurableStateImage {
        state.withLock { state in
            var pairs: [KeyValue] = []
            state.durable.forEach(in: .all) { pairs.append($0); return true }
            return DurableStateImage(position: state.durablePosition, pairs: pairs)
        }
    }

    /// Throws away every write that did not reach stable storage.
    public func powerCut() throws {
        try state.withLock { state in
            try? state.live.close()
            state.live = try reopenEmpty()
            var pairs: [KeyValue] = []
            state.durable.forEach(in: .all) { pairs.append($0); return true }
            var source = ArrayKeyValueSource(pairs)
            try state.live.restore(from: &source, position: state.durablePosition)
            state.pending = []
        }
    }

    /// Loses everything, durable or not: a volatile store after a restart,
    /// or a disk replaced. The node then needs a snapshot from the leader.
    public func loseEverything() throws {
        try state.withLock { state in
            try? state.live.close()
            state.live = try reopenEmpty()
            state.durable = SortedChunkMap()
            state.durablePosition = .zero
            state.pending = []
        }
    }

    /// A clean shutdown: every apply is on disk now (closing a store
    /// flushes it), and the store stays usable for the next start.
    public func flushAll() {
        state.withLock { Self.makeDurable(&$0) }
    }

    public func get(_ key: Bytes) throws -> Bytes? { try live.get(key) }
    public func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] { try live.scan(range, limit: limit) }
    public func appliedPosition() throws -> AppliedPosition { try live.appliedPosition() }
    public func snapshot() throws -> any StateSnapshot { try live.snapshot() }
    public var syncCount: UInt64 { live.syncCount }
    public var limits: StateStoreLimits { live.limits }

    public func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try state.withLock { state in
            try state.live.apply(batch, through: position)
            state.pending.append((batch, position))
            if mode == .always { Self.makeDurable(&state) }
        }
    }

    @discardableResult
    public func checkpoint() throws -> AppliedPosition {
        try state.withLock { state in
            let position = try state.live.checkpoint()
            if !faults.contains(.checkpoint) { Self.makeDurable(&state) }
            return position
        }
    }

    private static func makeDurable(_ state: inout State) {
        for (batch, position) in state.pending {
            for operation in batch.operations {
                switch operation {
                case .put(let key, let value): state.durable.put(key, value)
                case .delete(let key): state.durable.delete(key)
                }
            }
            state.durablePosition = position
        }
        state.pending = []
    }

    public func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try state.withLock { state in
            var recording = RecordingSource(inner: source)
            try state.live.restore(from: &recording, position: position)
            var map = SortedChunkMap()
            for pair in recording.pairs { map.put(pair.key, pair.value) }
            state.durable = map
            state.durablePosition = position
            state.pending = []
        }
    }

    public func close() throws { try live.close() }
}

/// Passes pairs through and keeps them: the durable image of a restore.
private struct RecordingSource<Inner: KeyValueSource>: KeyValueSource {
    var inner: Inner
    var pairs: [KeyValue] = []

    mutating func next() throws -> KeyValue? {
        let pair = try inner.next()
        if let pair { pairs.append(pair) }
        return pair
    }
}
