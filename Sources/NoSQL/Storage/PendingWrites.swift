import StorageCore

/// The writes of the commands applied so far in one batch, laid over the
/// store they will be committed to.
///
/// Raft hands the state machine several committed entries at once, and they
/// are committed in one atomic `WriteBatch`. The second command must see the
/// first one's writes (a put then a delete of the same item, two puts that
/// chain versions), so reads during apply go through this overlay: a pending
/// put or delete wins over the store.
public struct PendingWrites: Sendable {
    public let store: any StateStore
    /// Pending value per key; nil means a pending delete.
    private var pending: [Bytes: Bytes?] = [:]
    /// While a command runs (`begin()`): each key it wrote, with what was
    /// pending for it before (nil: nothing), so the command can be undone.
    private var journal: [(key: Bytes, before: Bytes??)]?

    public init(store: any StateStore) {
        self.store = store
    }

    /// An overlay that already holds the operations of `batch`, so commands
    /// can be added to a batch someone else started.
    public init(store: any StateStore, including batch: WriteBatch) {
        self.store = store
        for operation in batch.operations {
            switch operation {
            case let .put(key, value): put(key, value)
            case let .delete(key): delete(key)
            }
        }
    }

    public var isEmpty: Bool { pending.isEmpty }

    /// The pending writes as one batch: one operation per key, in key order,
    /// so the batch is the same on every node whatever order the writes came in.
    public var writeBatch: WriteBatch {
        WriteBatch(
            pending.keys.sorted { $0.sortsBefore($1) }.map { key in
                if let value = pending[key]! { .put(key: key, value: value) } else { .delete(key: key) }
            })
    }

    public func get(_ key: Bytes) throws -> Bytes? {
        if let value = pending[key] { return value }
        return try store.get(key)
    }

    public mutating func put(_ key: Bytes, _ value: Bytes) {
        journal?.append((key, pending[key]))
        pending[key] = .some(value)
    }

    public mutating func delete(_ key: Bytes) {
        journal?.append((key, pending[key]))
        pending[key] = .some(nil)
    }

    // MARK: One command's writes

    /// Starts recording the writes of one command.
    mutating func begin() {
        journal = []
    }

    /// The writes recorded since `begin()` that do not fit `limits`, as a
    /// sentence; nil when all fit.
    func check(_ limits: StateStoreLimits) -> String? {
        for (key, _) in journal ?? [] {
            let value = pending[key] ?? nil
            if !limits.allows(key: key, value: value) {
                return key.count > limits.maxKeyBytes
                    ? "its store key of \(key.count) bytes is longer than the cluster's limit of \(limits.maxKeyBytes) bytes"
                    : "its record of \(value?.count ?? 0) bytes is larger than the cluster's limit of \(limits.maxValueBytes) bytes"
            }
        }
        return nil
    }

    /// Keeps the command's writes and stops recording.
    mutating func end() {
        journal = nil
    }

    /// Undoes every write recorded since `begin()` and stops recording.
    mutating func undo() {
        for (key, before) in (journal ?? []).reversed() { pending[key] = before }
        journal = nil
    }

    /// Every key in `range` as the batch would leave it, in key order. Reads
    /// the store in pages so that no single scan holds a huge table's values.
    public func keys(in range: KeyRange, pageSize: Int = 1024) throws -> [Bytes] {
        var keys: Set<Bytes> = []
        var lower = range.lower
        while true {
            let page = try store.scan(KeyRange(from: lower, to: range.upper), limit: pageSize)
            for pair in page where pending[pair.key] == nil { keys.insert(pair.key) }
            guard page.count == pageSize, let last = page.last else { break }
            lower = last.key + [0x00]
        }
        for (key, value) in pending where range.contains(key) && value != nil { keys.insert(key) }
        return keys.sorted { $0.sortsBefore($1) }
    }
}
