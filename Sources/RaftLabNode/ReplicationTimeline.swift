#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// When this node announced commits (as leader) and when its state store
/// finished applying entries, on CLOCK_MONOTONIC: the raw material of the
/// benchmark's replication lag. Every process on one machine reads the same
/// CLOCK_MONOTONIC, so times from node processes can be joined as they are.
///
/// - A **commit** event (index, t): at t the node sent the first Raft message
///   carrying a commit index of at least `index`. The core broadcasts an
///   append the moment its commit index advances, so this is when the commit
///   left the leader; no follower can learn of it earlier.
/// - An **apply** event (index, t): at t the node's state store had applied
///   every entry through `index` (the batch write returned; durable as the
///   store's sync mode makes it, the log having made the entry durable
///   before). A snapshot install counts as applying through its index.
///
/// Events go into a bounded ring: readers page through it with a sequence
/// number and learn how many events they missed when they read too rarely.
public final class ReplicationTimeline: Sendable {
    public enum Kind: UInt8, Sendable, Hashable, Codable {
        case commit = 0
        case apply = 1
    }

    public struct Event: Sendable, Hashable {
        public var kind: Kind
        public var index: UInt64
        /// CLOCK_MONOTONIC, nanoseconds.
        public var nanoseconds: UInt64

        public init(kind: Kind, index: UInt64, nanoseconds: UInt64) {
            self.kind = kind
            self.index = index
            self.nanoseconds = nanoseconds
        }
    }

    /// Events after a sequence number.
    public struct Page: Sendable, Hashable {
        public var events: [Event]
        /// Pass as `after` to read on from here.
        public var next: UInt64
        /// Events that were overwritten before this read reached them.
        public var missed: UInt64

        public init(events: [Event], next: UInt64, missed: UInt64) {
            self.events = events
            self.next = next
            self.missed = missed
        }
    }

    private struct Ring {
        var events: [Event] = []
        /// Sequence number of the last event recorded (the first is 1).
        var last: UInt64 = 0
        var lastCommit: UInt64 = 0
        var lastApply: UInt64 = 0
    }

    public let capacity: Int
    private let ring = Mutex(Ring())

    public init(capacity: Int = 1 << 17) {
        self.capacity = max(1, capacity)
    }

    /// Now on CLOCK_MONOTONIC, in nanoseconds.
    public static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Records a commit announcement, if `index` is beyond the last one.
    func commitAnnounced(through index: UInt64) {
        let time = Self.now()
        ring.withLock { ring in
            guard index > ring.lastCommit else { return }
            ring.lastCommit = index
            append(Event(kind: .commit, index: index, nanoseconds: time), to: &ring)
        }
    }

    /// Records that the state store applied everything through `index`.
    func applied(through index: UInt64) {
        let time = Self.now()
        ring.withLock { ring in
            guard index > ring.lastApply else { return }
            ring.lastApply = index
            append(Event(kind: .apply, index: index, nanoseconds: time), to: &ring)
        }
    }

    private func append(_ event: Event, to ring: inout Ring) {
        if ring.events.count < capacity {
            ring.events.append(event)
        } else {
            ring.events[Int(ring.last % UInt64(capacity))] = event
        }
        ring.last += 1
    }

    /// The events recorded after sequence number `after` (0: from the oldest kept).
    public func page(after: UInt64) -> Page {
        ring.withLock { ring in
            let oldest = ring.last - UInt64(ring.events.count)  // sequence before the oldest kept
            // A reader ahead of us (it read an earlier process's timeline) starts over.
            let from = min(max(after, oldest), ring.last)
            var events: [Event] = []
            events.reserveCapacity(Int(ring.last - from))
            var sequence = from
            while sequence < ring.last {
                events.append(ring.events[Int(sequence % UInt64(capacity))])
                sequence += 1
            }
            return Page(events: events, next: ring.last, missed: from - min(after, from))
        }
    }
}
