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

    /// As `start(receive:)`, and `unreachable` is called (from any thread)
    /// when a peer cannot be reached, so the leader stops streaming to it
    /// optimistically. Transports that cannot tell leave it uncalled.
    func start(
        receive: @escaping @Sendable (Message) -> Void, unreachable: @escaping @Sendable (NodeID) -> Void
    ) async throws

    /// Queues messages for sending to `message.to`; never blocks on the network.
    func send(_ messages: [Message])

    /// Closes connections and stops receiving.
    func shutdown() async
}

extension Transport {
    public func start(
        receive: @escaping @Sendable (Message) -> Void, unreachable: @escaping @Sendable (NodeID) -> Void
    ) async throws {
        try await start(receive: receive)
    }
}
