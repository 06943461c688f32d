import Raft
import Synchronization

/// Routes messages between nodes of one process: the network of tests and
/// simulations. Every node gets its transport with `transport(for:)`.
///
/// Delivery is asynchronous and ordered per receiver: each started node has
/// a bounded inbox drained by its own task, so `send` never calls into the
/// receiver (no re-entrancy) and never blocks. Messages to a node that is not
/// started, that a filter or partition rejects, or that overflow an inbox are
/// dropped and counted, as a real network would lose them.
public final class InProcessHub: Sendable {
    /// Decides per message whether it is delivered (true) or dropped (false).
    public typealias Filter = @Sendable (Message) -> Bool

    public struct Stats: Sendable, Hashable {
        public var delivered: UInt64 = 0
        /// Rejected by the filter or a partition.
        public var filtered: UInt64 = 0
        /// Addressed to a node that is not started (or was shut down).
        public var unreachable: UInt64 = 0
        /// Pushed out of a full inbox.
        public var overflowed: UInt64 = 0

        public var dropped: UInt64 { filtered + unreachable + overflowed }
    }

    private struct Endpoint: Sendable {
        let continuation: AsyncStream<Message>.Continuation
        let consumer: Task<Void, Never>
        let generation: UInt64
    }

    private struct State: Sendable {
        var endpoints: [NodeID: Endpoint] = [:]
        var filter: Filter?
        /// Node -> partition group; nil when the network is whole.
        var groups: [NodeID: Int]?
        var stats = Stats()
        var nextGeneration: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Messages waiting per receiver before the oldest are dropped.
    public let inboxCapacity: Int

    public init(inboxCapacity: Int = 10_000) {
        self.inboxCapacity = max(inboxCapacity, 1)
    }

    /// The transport of node `id`. Each node should use one at a time.
    public func transport(for id: NodeID) -> InProcessTransport {
        InProcessTransport(nodeID: id, hub: self)
    }

    // MARK: Fault injection

    /// Installs (or with nil removes) a filter consulted for every message,
    /// after partitions.
    public func setFilter(_ filter: Filter?) {
        state.withLock { $0.filter = filter }
    }

    /// Splits the network: messages flow only between nodes of the same set.
    /// Nodes in no set form one more group among themselves.
    public func partition(_ groups: [Set<NodeID>]) {
        var map: [NodeID: Int] = [:]
        for (index, group) in groups.enumerated() {
            for id in group { map[id] = index }
        }
        state.withLock { $0.groups = map }
    }

    /// Cuts `id` off from every other node.
    public func isolate(_ id: NodeID) {
        partition([[id]])
    }

    /// Removes partitions and the filter.
    public func heal() {
        state.withLock {
            $0.groups = nil
            $0.filter = nil
        }
    }

    public var stats: Stats {
        state.withLock { $0.stats }
    }

    // MARK: Transport plumbing

    /// Returns a token that `unregister` must present, so that a stale
    /// transport cannot unregister a node started again since.
    func register(_ id: NodeID, receive: @escaping @Sendable (Message) -> Void) throws(InProcessTransportError) -> UInt64 {
        let (stream, continuation) = AsyncStream.makeStream(
            of: Message.self, bufferingPolicy: .bufferingNewest(inboxCapacity)
        )
        let consumer = Task {
            for await message in stream { receive(message) }
        }
        let generation = state.withLock { state -> UInt64? in
            guard state.endpoints[id] == nil else { return nil }
            state.nextGeneration += 1
            state.endpoints[id] = Endpoint(continuation: continuation, consumer: consumer, generation: state.nextGeneration)
            return state.nextGeneration
        }
        guard let generation else {
            continuation.finish()
            consumer.cancel()
            throw .alreadyStarted(id)
        }
        return generation
    }

    /// Stops delivering to `id` and waits until its inbox task has finished
    /// (messages still queued are dropped).
    func unregister(_ id: NodeID, generation: UInt64) async {
        let endpoint = state.withLock { state -> Endpoint? in
            guard state.endpoints[id]?.generation == generation else { return nil }
            return state.endpoints.removeValue(forKey: id)
        }
        guard let endpoint else { return }
        endpoint.consumer.cancel()
        endpoint.continuation.finish()
        await endpoint.consumer.value
    }

    func route(_ messages: [Message]) {
        for message in messages {
            let target = state.withLock { state -> Endpoint? in
                if let groups = state.groups, groups[message.from] != groups[message.to] {
                    state.stats.filtered += 1
                    return nil
                }
                guard let endpoint = state.endpoints[message.to] else {
                    state.stats.unreachable += 1
                    return nil
                }
                return endpoint
            }
            guard let target else { continue }
            // The filter runs outside the lock: it is the test's code.
            if let filter = state.withLock({ $0.filter }), !filter(message) {
                state.withLock { $0.stats.filtered += 1 }
                continue
            }
            let result = target.continuation.yield(message)
            state.withLock { state in
                switch result {
                case .enqueued: state.stats.delivered += 1
                case .dropped: state.stats.overflowed += 1
                case .terminated: state.stats.unreachable += 1
                @unknown default: state.stats.unreachable += 1
                }
            }
        }
    }
}

public enum InProcessTransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Another transport of the same hub already delivers to this node id.
    case alreadyStarted(NodeID)

    public var description: String {
        switch self {
        case let .alreadyStarted(id): "node \(id) is already started on this hub"
        }
    }
}

/// One node's view of an `InProcessHub`.
public final class InProcessTransport: Transport {
    public let nodeID: NodeID
    public let hub: InProcessHub
    /// The hub's token for the current registration; nil when not started.
    private let registration = Mutex<UInt64?>(nil)

    init(nodeID: NodeID, hub: InProcessHub) {
        self.nodeID = nodeID
        self.hub = hub
    }

    /// Registers this node; `receive` runs on the node's own inbox task.
    /// - Throws: `InProcessTransportError.alreadyStarted` if the id is taken.
    public func start(receive: @escaping @Sendable (Message) -> Void) async throws {
        let generation = try hub.register(nodeID, receive: receive)
        registration.withLock { $0 = generation }
    }

    public func send(_ messages: [Message]) {
        hub.route(messages)
    }

    /// Unregisters this node; the node can be started again later (a restart).
    public func shutdown() async {
        guard let generation = registration.withLock({ $0.take() }) else { return }
        await hub.unregister(nodeID, generation: generation)
    }
}
