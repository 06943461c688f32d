import StorageCore
import Synchronization

/// What a store reaches stable storage with, and what a deliberately broken
/// store forgets to sync: the variants that prove a durability test can fail.
public struct SyncFault: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Log appends are written but never synced (a removed fsync).
    public static let logAppend = SyncFault(rawValue: 1 << 0)
    /// State store checkpoints return without syncing anything.
    public static let checkpoint = SyncFault(rawValue: 1 << 1)
}

/// A `LogStore` on top of any other that models a disk losing power.
///
/// SIGKILL keeps the page cache, so a crash test built on it passes even with
/// every fsync deleted. This wrapper keeps, beside the store everyone reads
/// and writes, an image of what the contract says has reached stable storage:
/// every mutating call with `sync` on (unless a `SyncFault` removes the sync).
/// `powerCut()` throws everything else away, as a power failure would, by
/// rebuilding the store underneath from that image.
public final class PowerCutLogStore: LogStore {
    private let reopenEmpty: @Sendable () throws -> any LogStore
    private let faults: SyncFault
    private let state: Mutex<State>

    private struct State {
        var live: any LogStore
        var durable = LogImage()
    }

    /// - Parameter reopenEmpty: opens the store underneath, empty (it is
    ///   called once now and again at each power cut).
    public init(faults: SyncFault = [], reopenEmpty: @escaping @Sendable () throws -> any LogStore) throws {
        self.reopenEmpty = reopenEmpty
        self.faults = faults
        state = Mutex(State(live: try reopenEmpty()))
    }

    private var live: any LogStore { state.withLock { $0.live } }

    /// Throws away every write that did not reach stable storage.
    public func powerCut() throws {
        try state.withLock { state in
            try? state.live.close()
            state.live = try reopenEmpty()
            try state.durable.write(into: state.live)
        }
    }

    /// A clean shutdown: whatever was written is on disk now (closing a
    /// store flushes it), and the store stays usable for the next start.
    public func flushAll() throws {
        try state.withLock { state in
            state.durable = try LogImage(of: state.live)
        }
    }

    /// What a power cut now would leave of the log.
    public func durableImage() -> DurableLogImage {
        state.withLock { state in
            DurableLogImage(
                snapshotIndex: state.durable.snapshotIndex, snapshotTerm: state.durable.snapshotTerm,
                entries: state.durable.entries, hardState: state.durable.hardState)
        }
    }

    public func snapshotIndex() throws -> UInt64 { try live.snapshotIndex() }
    public func firstIndex() throws -> UInt64 { try live.firstIndex() }
    public func lastIndex() throws -> UInt64 { try live.lastIndex() }
    public func term(at index: UInt64) throws -> UInt64 { try live.term(at: index) }
    public func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        try live.entries(range, maxBytes: maxBytes)
    }
    public func hardState() throws -> HardState { try live.hardState() }
    public var syncCount: UInt64 { live.syncCount }

    public func append(_ entries: [LogEntry], hardState: HardState?) throws {
        try state.withLock { state in
            try state.live.append(entries, hardState: hardState)
            if !faults.contains(.logAppend) {
                try state.durable.append(entries, hardState: hardState)
            }
        }
    }

    public func truncateSuffix(after index: UInt64) throws {
        try mutate { try $0.truncateSuffix(after: index) } image: { $0.truncateSuffix(after: index) }
    }

    public func compact(through index: UInt64, term: UInt64) throws {
        try mutate { try $0.compact(through: index, term: term) } image: { $0.compact(through: index, term: term) }
    }

    /// A durable call other than an append. With `.logAppend`, the appends
    /// before it stay lost even so: the image never learns them.
    private func mutate(_ call: (any LogStore) throws -> Void, image: (inout LogImage) -> Void) throws {
        try state.withLock { state in
            try call(state.live)
            image(&state.durable)
        }
    }

    public func close() throws { try live.close() }
}

/// What a log holds, in memory: the durable image of a `PowerCutLogStore`.
/// Follows the `LogStore` contract's semantics for each call.
struct LogImage: Sendable {
    var snapshotIndex: UInt64 = 0
    var snapshotTerm: UInt64 = 0
    var entries: [LogEntry] = []
    var hardState = HardState.initial

    var lastIndex: UInt64 { entries.last?.index ?? snapshotIndex }

    init() {}

    /// Everything `store` holds now.
    init(of store: any LogStore) throws {
        snapshotIndex = try store.snapshotIndex()
        snapshotTerm = try store.term(at: snapshotIndex)
        entries = try store.entries(from: try store.firstIndex())
        hardState = try store.hardState()
    }

    mutating func append(_ new: [LogEntry], hardState: HardState?) throws {
        if let first = new.first {
            guard first.index <= lastIndex + 1, first.index > snapshotIndex else {
                throw StorageError.nonContiguous(expected: lastIndex + 1, got: first.index)
            }
            truncateSuffix(after: first.index - 1)
            entries.append(contentsOf: new)
        }
        if let hardState { self.hardState = hardState }
    }

    mutating func truncateSuffix(after index: UInt64) {
        entries.removeAll { $0.index > index }
    }

    mutating func compact(through index: UInt64, term: UInt64) {
        guard index > snapshotIndex else { return }
        if index >= lastIndex {
            entries = []
        } else {
            entries.removeAll { $0.index <= index }
        }
        snapshotIndex = index
        snapshotTerm = term
    }

    /// Rebuilds an empty store to hold exactly this image.
    func write(into store: any LogStore) throws {
        if snapshotIndex > 0 { try store.compact(through: snapshotIndex, term: snapshotTerm) }
        try store.append(entries, hardState: hardState)
    }
}
