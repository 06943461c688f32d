/// The last indexes of append messages sent but not yet acknowledged: the
/// leader's flow-control window towards one follower.
struct Inflights: Sendable {
    let capacity: Int
    private var indexes: [UInt64] = []
    private var head = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { indexes.count - head }
    var isFull: Bool { count >= capacity }

    mutating func add(_ index: UInt64) {
        indexes.append(index)
    }

    /// Frees every message whose last index is at or below `index`.
    mutating func free(through index: UInt64) {
        while head < indexes.count, indexes[head] <= index { head += 1 }
        compactStorage()
    }

    mutating func freeFirst() {
        if head < indexes.count { head += 1 }
        compactStorage()
    }

    mutating func reset() {
        indexes.removeAll(keepingCapacity: true)
        head = 0
    }

    private mutating func compactStorage() {
        if head == indexes.count {
            reset()
        } else if head > 64, head * 2 > indexes.count {
            indexes.removeFirst(head)
            head = 0
        }
    }
}

/// What the leader knows about one follower's log (etcd's tracker.Progress).
public struct Progress: Sendable {
    public enum State: Sendable, Hashable {
        /// Sending one append at a time until the follower's match is found.
        case probe
        /// Streaming appends optimistically, bounded by the inflight window.
        case replicate
        /// Waiting for a snapshot to be installed.
        case snapshot
    }

    /// Highest index known to be durable on the follower and equal to the leader's.
    public internal(set) var match: UInt64 = 0
    /// Next index to send.
    public internal(set) var next: UInt64
    public internal(set) var state: State = .probe
    public internal(set) var isLearner: Bool
    /// The index of the snapshot being sent (state `.snapshot`).
    var pendingSnapshot: UInt64 = 0
    /// Heard from since the last check-quorum round.
    var recentActive = false
    /// In probe state: an append is outstanding, wait for its answer or a heartbeat.
    var probeSent = false
    var inflights: Inflights
    /// Ticks spent in snapshot state; a lost snapshot is retried after a while.
    var snapshotTicks = 0

    init(next: UInt64, inflightCapacity: Int, isLearner: Bool) {
        self.next = next
        self.inflights = Inflights(capacity: inflightCapacity)
        self.isLearner = isLearner
    }

    var isPaused: Bool {
        switch state {
        case .probe: probeSent
        case .replicate: inflights.isFull
        case .snapshot: true
        }
    }

    private mutating func reset(to state: State) {
        probeSent = false
        pendingSnapshot = 0
        snapshotTicks = 0
        self.state = state
        inflights.reset()
    }

    mutating func becomeProbe() {
        if state == .snapshot {
            let pending = pendingSnapshot
            reset(to: .probe)
            next = max(match + 1, pending + 1)
        } else {
            reset(to: .probe)
            next = match + 1
        }
    }

    mutating func becomeReplicate() {
        reset(to: .replicate)
        next = match + 1
    }

    mutating func becomeSnapshot(index: UInt64) {
        reset(to: .snapshot)
        pendingSnapshot = index
    }

    /// An acknowledgment up to `index`; returns whether it told us something new.
    mutating func maybeUpdate(_ index: UInt64) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// A rejection of the append after `rejected`; `matchHint` is where the
    /// follower's log may match. Returns false for stale rejections.
    mutating func maybeDecrease(rejected: UInt64, matchHint: UInt64) -> Bool {
        if state == .replicate {
            guard rejected > match else { return false }
            next = match + 1
            return true
        }
        guard next - 1 == rejected else { return false }
        next = max(min(rejected, matchHint + 1), match + 1)
        probeSent = false
        return true
    }

    mutating func sentEntries(lastIndex: UInt64) {
        switch state {
        case .replicate:
            next = lastIndex + 1
            inflights.add(lastIndex)
        case .probe:
            probeSent = true
        case .snapshot:
            break
        }
    }
}
