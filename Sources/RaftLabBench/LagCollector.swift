import RaftLabNode
import RaftLabReport
import Synchronization

/// Replication lag of a measured window, from the nodes' own timelines
/// (`ReplicationTimeline`), on both transports alike: for every index the
/// window committed and every follower, the time from the leader's commit
/// of the index (the first Raft message it sent carrying it) to the
/// follower's state store having applied it. Node processes of one machine
/// share CLOCK_MONOTONIC, so their times are joined as they are.
///
/// The collector reads each node's events as the window runs (a node's ring
/// is bounded) and keeps only the window's, so memory follows the window's
/// length, not the log's.
final class LagCollector: Sendable {
    private struct Events {
        var commits: [(index: UInt64, ns: UInt64)] = []
        var applies: [(index: UInt64, ns: UInt64)] = []
        var cursor: UInt64 = 0
    }

    private struct State {
        var nodes: [UInt64: Events] = [:]
        /// Events a node dropped before they were read: the lag is then incomplete.
        var missed: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Marks the start of the window: events recorded before now are ignored.
    func begin(_ nodes: [any BenchNode]) async throws {
        for node in nodes {
            let page = try await node.timeline(after: .max)
            state.withLock { $0.nodes[node.id] = Events(cursor: page.next) }
        }
    }

    /// Reads what every node recorded since the last read.
    func poll(_ nodes: [any BenchNode]) async throws {
        for node in nodes {
            guard let cursor = state.withLock({ $0.nodes[node.id]?.cursor }) else { continue }
            let page = try await node.timeline(after: cursor)
            state.withLock { state in
                state.missed += page.missed
                var events = state.nodes[node.id]!
                for event in page.events {
                    switch event.kind {
                    case .commit: events.commits.append((event.index, event.nanoseconds))
                    case .apply: events.applies.append((event.index, event.nanoseconds))
                    }
                }
                events.cursor = page.next
                state.nodes[node.id] = events
            }
        }
    }

    /// Events lost to a ring that overflowed between reads.
    var missed: UInt64 { state.withLock { $0.missed } }

    /// Records, into `recorder`, each follower's lag for every index in
    /// `window`: the time from the first announcement of its commit (by
    /// whichever node led then) to each other node's apply of it.
    func summarize(window: ClosedRange<UInt64>, into recorder: LatencyRecorder) {
        let nodes = state.withLock { $0.nodes }
        // When each index was first announced committed, and by whom: a
        // sweep over every node's announcements in time order.
        var announced: [(index: UInt64, ns: UInt64, node: UInt64)] = []
        let all = nodes.flatMap { id, events in events.commits.map { (index: $0.index, ns: $0.ns, node: id) } }
        for event in all.sorted(by: { ($0.ns, $0.index) < ($1.ns, $1.index) }) where event.index > (announced.last?.index ?? 0) {
            announced.append(event)
        }
        guard !announced.isEmpty else { return }
        func firstAnnouncement(_ index: UInt64) -> (ns: UInt64, node: UInt64)? {
            var low = 0
            var high = announced.count
            while low < high {
                let middle = (low + high) / 2
                if announced[middle].index < index { low = middle + 1 } else { high = middle }
            }
            return low < announced.count ? (announced[low].ns, announced[low].node) : nil
        }
        for (id, events) in nodes {
            var previous = window.lowerBound - 1
            for apply in events.applies.sorted(by: { $0.index < $1.index }) {
                defer { previous = max(previous, apply.index) }
                let first = max(previous + 1, window.lowerBound)
                let last = min(apply.index, window.upperBound)
                guard first <= last else { continue }
                for index in first...last {
                    guard let commit = firstAnnouncement(index), commit.node != id else { continue }
                    // A follower learns of a commit from the leader, so it cannot apply first.
                    recorder.record(nanoseconds: apply.ns >= commit.ns ? apply.ns - commit.ns : 0)
                }
            }
        }
    }
}
