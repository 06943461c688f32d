import Synchronization

/// A hub routing messages between the nodes of a cluster that lives in one
/// process (tests, examples, benchmarks without a network). It can drop the
/// traffic of chosen links to simulate partitions.
public final class InProcessNetwork: Sendable {
    private struct State {
        var receivers: [NodeID: @Sendable (Message) -> Void] = [:]
        /// Directed links (from, to) that drop everything.
        var blocked: Set<[NodeID]> = []
    }

    private let state = Mutex(State())

    public init() {}

    /// The transport of node `id` on this network.
    public func transport(for id: NodeID) -> InProcessTransport {
        InProcessTransport(network: self, id: id)
    }

    /// Cuts every link to and from `node`.
    public func isolate(_ node: NodeID) {
        state.withLock { state in
            for other in state.receivers.keys where other != node {
                state.blocked.insert([node, other])
                state.blocked.insert([other, node])
            }
        }
    }

    /// Drops messages from `from` to `to` (one direction only).
    public func block(from: NodeID, to: NodeID) {
        state.withLock { _ = $0.blocked.insert([from, to]) }
    }

    /// Restores every link.
    public func heal() {
        state.withLock { $0.blocked.removeAll() }
    }

    func register(_ id: NodeID, receive: @escaping @Sendable (Message) -> Void) {
        state.withLock { $0.receivers[id] = receive }
    }

    func unregister(_ id: NodeID) {
        state.withLock { _ = $0.receivers.removeValue(forKey: id) }
    }

    func deliver(_ messages: [Message], from sender: NodeID) {
        for message in messages {
            let receiver = state.withLock { state -> (@Sendable (Message) -> Void)? in
                guard !state.blocked.contains([sender, message.to]) else { return nil }
                return state.receivers[message.to]
            }
            receiver?(message)
        }
    }
}

/// One node's endpoint on an `InProcessNetwork`.
public struct InProcessTransport: Transport {
    public let network: InProcessNetwork
    public let id: NodeID

    public func start(receive: @escaping @Sendable (Message) -> Void) async throws {
        network.register(id, receive: receive)
    }

    public func send(_ messages: [Message]) {
        network.deliver(messages, from: id)
    }

    public func shutdown() async {
        network.unregister(id)
    }
}
