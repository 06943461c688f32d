import Raft
import Synchronization

/// Everything that wakes a node's loop: messages from peers, clock ticks, and
/// nudges (a proposal queued, the apply stage done with a batch). Producers
/// never wait; the loop takes all that accumulated in one go, so a burst of
/// messages costs one actor turn, not one per message.
final class Mailbox: Sendable {
    struct Batch {
        var messages: [Message] = []
        var ticks = 0
        /// Followers a snapshot transfer to failed.
        var snapshotFailures: [NodeID] = []
        /// Peers the transport could not reach.
        var unreachable: Set<NodeID> = []
    }

    private struct State {
        var batch = Batch()
        var nudged = false
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?

        var isReady: Bool {
            closed || nudged || batch.ticks > 0 || !batch.messages.isEmpty || !batch.snapshotFailures.isEmpty
                || !batch.unreachable.isEmpty
        }
    }

    private let state = Mutex(State())

    func post(_ message: Message) {
        notify { $0.batch.messages.append(message) }
    }

    func tick() {
        notify { $0.batch.ticks += 1 }
    }

    func snapshotFailed(to follower: NodeID) {
        notify { $0.batch.snapshotFailures.append(follower) }
    }

    func unreachable(_ peer: NodeID) {
        notify { $0.batch.unreachable.insert(peer) }
    }

    /// Wakes the loop with nothing to deliver: it looks for work again.
    func nudge() {
        notify { $0.nudged = true }
    }

    /// Ends the loop: `next()` returns nil from now on.
    func close() {
        notify { $0.closed = true }
    }

    private func notify(_ change: (inout State) -> Void) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.closed else { return nil }
            change(&state)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// What accumulated since the last call, without waiting (possibly nothing).
    func take() -> Batch {
        state.withLock { state in
            defer {
                state.batch = Batch()
                state.nudged = false
            }
            return state.batch
        }
    }

    /// Waits until something arrives (or a nudge), then takes it all; nil
    /// once closed. Only the node's loop calls it.
    func next() async -> Batch? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.isReady { return true }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
        return state.withLock { state in
            if state.closed { return nil }
            defer {
                state.batch = Batch()
                state.nudged = false
            }
            return state.batch
        }
    }
}
