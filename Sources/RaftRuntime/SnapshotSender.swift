import Dispatch
import Logging
import Raft
import StorageCore
import Synchronization

/// Reads the state store's snapshot and sends it to a follower in chunks, on
/// a queue of its own: reading a large state takes a while, and the node's
/// loop must keep persisting, ticking and heartbeating meanwhile.
///
/// One transfer per follower at a time; a request for a follower whose
/// transfer is still running is dropped (the leader asks again if the
/// follower still needs one after the transfer).
final class SnapshotSender: Sendable {
    private let queue: DispatchQueue
    private let store: any StateStore
    private let transport: any Transport
    private let maxChunkBytes: Int
    private let logger: Logger
    private let sending = Mutex<Set<NodeID>>([])

    init(label: String, store: any StateStore, transport: any Transport, maxChunkBytes: Int, logger: Logger) {
        queue = DispatchQueue(label: label, qos: .utility)
        self.store = store
        self.transport = transport
        self.maxChunkBytes = maxChunkBytes
        self.logger = logger
    }

    /// Sends a snapshot in answer to `request` (a `.snapshot` message from the core).
    func send(_ request: Message, fallback configuration: ClusterConfiguration) {
        let follower = request.to
        guard sending.withLock({ $0.insert(follower).inserted }) else { return }
        queue.async { [self] in
            defer { _ = sending.withLock { $0.remove(follower) } }
            do {
                let chunks = try SnapshotStream.chunks(of: store, fallback: configuration, maxChunkBytes: maxChunkBytes)
                logger.info(
                    "sending snapshot",
                    metadata: ["to": "\(follower)", "index": "\(chunks[0].index)", "chunks": "\(chunks.count)"])
                transport.send(chunks.map { chunk in
                    var piece = request
                    piece.snapshot = chunk
                    return piece
                })
            } catch {
                logger.warning("could not read a snapshot for node \(follower)", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Waits until no transfer is reading the store.
    func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { continuation.resume() }
        }
    }
}
