import Dispatch
import Logging
import Raft
import StorageCore
import Synchronization

/// Streams the state store's snapshot to followers that need one, on a queue
/// of its own: reading a large state takes a while, and the node's loop must
/// keep persisting, ticking and heartbeating meanwhile.
///
/// Flow control: chunks are read from a consistent snapshot of the store one
/// at a time and at most `window` of them are unacknowledged; the follower
/// acknowledges (`.snapshotAck`) the bytes it has written, so neither side
/// holds more than a few chunks whatever the state's size, and the transport's
/// queue never overflows. A transfer that makes no progress for `timeout` is
/// abandoned and reported (the core then retries later), and a follower whose
/// transfer failed gets no new one before a backoff (100 ms, doubling to 10 s).
/// One transfer per follower at a time: the core's repeated requests for a
/// follower whose transfer is running are ignored.
final class SnapshotSender: Sendable {
    private struct Transfer: Sendable {
        var chunker: SnapshotChunker
        var request: Message
        /// End offsets of the chunks sent and not yet acknowledged, in order.
        var unacknowledged: [UInt64] = []
        var sentLast = false
        var lastProgress: ContinuousClock.Instant
    }

    private struct State: Sendable {
        var transfers: [NodeID: Transfer] = [:]
        var backoff: [NodeID: (until: ContinuousClock.Instant, delay: Duration)] = [:]
    }

    private let queue: DispatchQueue
    private let store: any StateStore
    private let transport: any Transport
    private let maxChunkBytes: Int
    private let window: Int
    private let timeout: Duration
    private let logger: Logger
    /// Told when a transfer to a follower failed (the core's `reportSnapshotFailure`).
    private let onFailure: @Sendable (NodeID) -> Void
    /// Only touched on `queue`; the mutex makes that checkable.
    private let state = Mutex(State())

    init(
        label: String, store: any StateStore, transport: any Transport, maxChunkBytes: Int, window: Int = 4,
        timeout: Duration, logger: Logger, onFailure: @escaping @Sendable (NodeID) -> Void
    ) {
        queue = DispatchQueue(label: label, qos: .utility)
        self.store = store
        self.transport = transport
        self.maxChunkBytes = maxChunkBytes
        self.window = max(window, 1)
        self.timeout = timeout
        self.logger = logger
        self.onFailure = onFailure
    }

    /// Starts sending a snapshot in answer to `request` (a `.snapshot`
    /// message from the core, its cluster ID already stamped).
    func send(_ request: Message, fallback configuration: ClusterConfiguration) {
        queue.async { [self] in
            let follower = request.to
            let now = ContinuousClock.now
            let busy = state.withLock { state in
                state.transfers[follower] != nil || (state.backoff[follower].map { now < $0.until } ?? false)
            }
            guard !busy else { return }
            do {
                let chunker = try SnapshotChunker(store: store, fallback: configuration)
                logger.info(
                    "sending snapshot", metadata: ["to": "\(follower)", "index": "\(chunker.index)", "term": "\(chunker.term)"])
                state.withLock { $0.transfers[follower] = Transfer(chunker: chunker, request: request, lastProgress: now) }
                pump(follower)
            } catch {
                fail(follower, because: "\(error)")
            }
        }
    }

    /// The follower wrote `ack.snapshot.offset` bytes of the snapshot.
    func acknowledge(_ ack: Message) {
        queue.async { [self] in
            guard let chunk = ack.snapshot else { return }
            let done: Bool = state.withLock { state in
                guard var transfer = state.transfers[ack.from], transfer.chunker.index == chunk.index,
                    transfer.chunker.term == chunk.term
                else { return false }
                let before = transfer.unacknowledged.count
                transfer.unacknowledged.removeAll { $0 <= chunk.offset }
                if transfer.unacknowledged.count < before { transfer.lastProgress = .now }
                let done = transfer.sentLast && transfer.unacknowledged.isEmpty
                if done {
                    transfer.chunker.close()
                    state.transfers[ack.from] = nil
                    state.backoff[ack.from] = nil
                } else {
                    state.transfers[ack.from] = transfer
                }
                return done
            }
            if done {
                logger.info("snapshot sent", metadata: ["to": "\(ack.from)", "index": "\(chunk.index)"])
            } else {
                pump(ack.from)
            }
        }
    }

    /// Sends chunks while the window allows. On `queue`.
    private func pump(_ follower: NodeID) {
        while true {
            let next: Result<Message, any Error>? = state.withLock { state in
                guard var transfer = state.transfers[follower], !transfer.sentLast,
                    transfer.unacknowledged.count < window
                else { return nil }
                do {
                    guard let chunk = try transfer.chunker.next(maxBytes: maxChunkBytes) else { return nil }
                    transfer.unacknowledged.append(chunk.offset + UInt64(chunk.data.count))
                    transfer.sentLast = chunk.isLast
                    var piece = transfer.request
                    piece.snapshot = chunk
                    state.transfers[follower] = transfer
                    return .success(piece)
                } catch {
                    return .failure(error)
                }
            }
            switch next {
            case .success(let piece)?: transport.send([piece])
            case .failure(let error)?: return fail(follower, because: "\(error)")
            case nil: return
            }
        }
    }

    /// Abandons transfers without progress for `timeout`; call it now and then.
    func checkProgress() {
        queue.async { [self] in
            let now = ContinuousClock.now
            let stalled = state.withLock { state in
                state.transfers.filter { now - $0.value.lastProgress > timeout }.map(\.key)
            }
            for follower in stalled { fail(follower, because: "no progress for \(timeout)") }
        }
    }

    /// Ends a transfer, backs off, tells the core. On `queue`.
    private func fail(_ follower: NodeID, because reason: String) {
        let delay: Duration = state.withLock { state in
            state.transfers.removeValue(forKey: follower)?.chunker.close()
            let delay = min((state.backoff[follower]?.delay ?? .milliseconds(50)) * 2, .seconds(10))
            state.backoff[follower] = (.now + delay, delay)
            return delay
        }
        logger.warning(
            "snapshot transfer failed; retrying after a backoff",
            metadata: ["to": "\(follower)", "reason": "\(reason)", "backoff": "\(delay)"])
        onFailure(follower)
    }

    /// Waits until no transfer is reading the store, and ends them all.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                state.withLock { state in
                    for transfer in state.transfers.values { transfer.chunker.close() }
                    state.transfers = [:]
                }
                continuation.resume()
            }
        }
    }
}
