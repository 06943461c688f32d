/// The leader's queue of ReadIndex requests waiting for a quorum of heartbeat
/// acknowledgments (Raft dissertation §6.4; etcd's readOnly with ReadOnlySafe).
struct ReadOnlyQueue {
    struct Request {
        var index: UInt64
        /// The node that asked (the leader itself for local reads).
        var from: NodeID
        var acks: Set<NodeID>
    }

    private var pending: [[UInt8]: Request] = [:]
    private var queue: [[UInt8]] = []

    var isEmpty: Bool { queue.isEmpty }

    /// The context of the newest request, carried by heartbeats.
    var lastContext: [UInt8]? { queue.last }

    mutating func add(index: UInt64, from: NodeID, context: [UInt8], leader: NodeID) {
        guard pending[context] == nil else { return }
        pending[context] = Request(index: index, from: from, acks: [leader])
        queue.append(context)
    }

    /// Records an acknowledgment and returns who has acknowledged `context`.
    mutating func ack(from: NodeID, context: [UInt8]) -> Set<NodeID>? {
        guard var request = pending[context] else { return nil }
        request.acks.insert(from)
        pending[context] = request
        return request.acks
    }

    /// Removes and returns every request up to and including `context`: a
    /// quorum acknowledging a later heartbeat confirms the earlier ones too.
    mutating func release(through context: [UInt8]) -> [(context: [UInt8], request: Request)] {
        guard let position = queue.firstIndex(of: context) else { return [] }
        var released: [(context: [UInt8], request: Request)] = []
        for ctx in queue[...position] {
            if let request = pending.removeValue(forKey: ctx) { released.append((ctx, request)) }
        }
        queue.removeFirst(position + 1)
        return released
    }

    mutating func reset() {
        pending.removeAll()
        queue.removeAll()
    }
}
