import Raft

/// Carries messages between Raft nodes.
///
/// Delivery is best effort: a transport may drop, delay or reorder messages
/// (Raft retries), but must never deliver a message altered. Snapshots travel
/// as ordinary `.snapshot` messages whose `SnapshotChunk`s the runtime cuts to
/// a bounded size, so a transport needs no special path for them.
public protocol Transport: Sendable {
    /// Starts accepting messages for this node; `receive` is called for every
    /// message that arrives, from any thread.
    func start(receive: @escaping @Sendable (Message) -> Void) async throws

    /// Queues messages for sending to `message.to`; never blocks on the network.
    func send(_ messages: [Message])

    /// Closes connections and stops receiving.
    func shutdown() async
}
