import StorageCore

extension ClusterConfiguration {
    /// Votes needed for a majority of the voters.
    public var quorum: Int { voters.count / 2 + 1 }

    /// The configuration after one single-server change, or an error when the
    /// change is not one (Raft dissertation §4.1: one server at a time).
    public func applying(_ change: ConfigurationChange) throws -> ClusterConfiguration {
        var next = self
        switch change {
        case .addVoter(let id):
            guard !voters.contains(id) else { throw RaftError.invalidConfigurationChange("node \(id) is already a voter") }
            next.learners.remove(id)
            next.voters.insert(id)
        case .addLearner(let id):
            guard !members.contains(id) else { throw RaftError.invalidConfigurationChange("node \(id) is already a member") }
            next.learners.insert(id)
        case .removeNode(let id):
            guard members.contains(id) else { throw RaftError.invalidConfigurationChange("node \(id) is not a member") }
            next.voters.remove(id)
            next.learners.remove(id)
            guard !next.voters.isEmpty else { throw RaftError.invalidConfigurationChange("cannot remove the last voter") }
        }
        return next
    }

    /// The compact form stored in configuration log entries, in snapshots and
    /// under `ConfigurationCodec.stateKey` in the state store.
    ///
    ///     voter count (4) | voter (8)* | learner count (4) | learner (8)* | cluster ID (8)?
    ///
    /// The cluster ID is written when known (non-zero); configurations written
    /// before it existed decode with ID 0.
    public func encoded() -> Bytes {
        var writer = BinaryWriter(capacity: 16 + 8 * members.count)
        writer.write(UInt32(voters.count))
        for id in voters.sorted() { writer.write(id) }
        writer.write(UInt32(learners.count))
        for id in learners.sorted() { writer.write(id) }
        if clusterID != 0 { writer.write(clusterID) }
        return writer.bytes
    }

    public init(encoded bytes: Bytes) throws {
        struct TrailingBytes: Error {}
        var reader = BinaryReader(bytes)
        do {
            var voters = Set<NodeID>()
            for _ in 0..<(try reader.readUInt32()) { voters.insert(try reader.readUInt64()) }
            var learners = Set<NodeID>()
            for _ in 0..<(try reader.readUInt32()) { learners.insert(try reader.readUInt64()) }
            let clusterID = reader.isAtEnd ? 0 : try reader.readUInt64()
            guard reader.isAtEnd, clusterID != 0 || bytes.count == 8 + 8 * (voters.count + learners.count) else {
                throw TrailingBytes()
            }
            self.init(voters: voters, learners: learners, clusterID: clusterID)
        } catch {
            throw RaftError.protocolViolation("undecodable cluster configuration of \(bytes.count) bytes")
        }
    }

    /// The state store key (in the 0xFF prefix the StateStore contract reserves
    /// for the engine) under which the applied membership is kept, so that it
    /// travels inside snapshots and survives restarts.
    public static let stateKey: Bytes = [0xFF] + Array("raft/configuration".utf8)
}

/// One single-server membership change.
public enum ConfigurationChange: Sendable, Hashable {
    /// Adds a voter, or promotes a learner.
    case addVoter(NodeID)
    /// Adds a non-voting member that receives the log.
    case addLearner(NodeID)
    case removeNode(NodeID)
}
