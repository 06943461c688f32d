import Raft
import RaftRuntime
import Synchronization

/// Payload bytes nodes sent each other.
public struct TrafficCount: Sendable, Hashable {
    /// Data bytes of log entries in append messages.
    public var entryBytes: UInt64 = 0
    /// Data bytes of InstallSnapshot chunks: state shipped to a node that
    /// could not catch up from the log (a new member, say).
    public var snapshotBytes: UInt64 = 0

    public init() {}
}

/// Shared by the transports of one cluster.
final class TrafficCounter: Sendable {
    private let total = Mutex(TrafficCount())

    func add(_ messages: [Message]) {
        var entries: UInt64 = 0
        var snapshot: UInt64 = 0
        for message in messages {
            for entry in message.entries { entries += UInt64(entry.data.count) }
            if let chunk = message.snapshot { snapshot += UInt64(chunk.data.count) }
        }
        guard entries > 0 || snapshot > 0 else { return }
        total.withLock {
            $0.entryBytes += entries
            $0.snapshotBytes += snapshot
        }
    }

    var count: TrafficCount { total.withLock { $0 } }
}

/// A transport that counts the payload bytes it sends, then hands the
/// messages to the real one.
struct CountingTransport: Transport {
    let inner: any Transport
    let traffic: TrafficCounter

    init(_ inner: any Transport, traffic: TrafficCounter) {
        self.inner = inner
        self.traffic = traffic
    }

    func start(receive: @escaping @Sendable (Message) -> Void) async throws {
        try await inner.start(receive: receive)
    }

    func start(
        receive: @escaping @Sendable (Message) -> Void, unreachable: @escaping @Sendable (NodeID) -> Void
    ) async throws {
        try await inner.start(receive: receive, unreachable: unreachable)
    }

    func send(_ messages: [Message]) {
        traffic.add(messages)
        inner.send(messages)
    }

    func shutdown() async {
        await inner.shutdown()
    }
}
