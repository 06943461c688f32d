import RaftLabNode
import RaftLabReport
import Synchronization

/// Replication lag: for each write, the time from its apply on the leader
/// (which happens as soon as the leader learns it is committed) to its apply
/// on each follower. Nodes report applies through `observer(for:)`.
final class LagTracker: Sendable {
    private struct State {
        var recording = false
        var applied: [UInt64: [UInt64: ContinuousClock.Instant]] = [:]
    }

    private let state = Mutex(State())

    func observer(for node: UInt64) -> ApplyObserver {
        { [self] range, time in
            state.withLock { state in
                guard state.recording else { return }
                for index in range { state.applied[node, default: [:]][index] = time }
            }
        }
    }

    func start() { state.withLock { $0 = State(recording: true) } }
    func stop() { state.withLock { $0.recording = false } }

    /// Records every follower's lag behind `leader` for the indexes the leader applied.
    func summarize(leader: UInt64, into recorder: LatencyRecorder) {
        let applied = state.withLock { $0.applied }
        guard let leaderTimes = applied[leader] else { return }
        for (node, times) in applied where node != leader {
            for (index, followerTime) in times {
                guard let leaderTime = leaderTimes[index] else { continue }
                // A follower learns of a commit from the leader, so it cannot apply
                // first; a tiny negative value is scheduling noise.
                recorder.record(followerTime < leaderTime ? .zero : followerTime - leaderTime)
            }
        }
    }
}
