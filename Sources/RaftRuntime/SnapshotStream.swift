import Raft
import StorageCore

/// The byte form of a state snapshot: every pair as `u32 key length, key,
/// u32 value length, value`, in key order. Cut into `SnapshotChunk`s of a
/// bounded size on the way to a follower and reassembled there.
public enum SnapshotStream {
    /// The chunks of a snapshot of `store`, each with at most about
    /// `maxChunkBytes` of data. The metadata is the snapshot's own position and
    /// the membership recorded in it (or `fallback` when none was ever applied).
    public static func chunks(
        of store: any StateStore, fallback configuration: ClusterConfiguration, maxChunkBytes: Int
    ) throws -> [SnapshotChunk] {
        let snapshot = try store.snapshot()
        defer { snapshot.close() }
        let position = snapshot.position
        var membership = configuration
        var chunks: [SnapshotChunk] = []
        var buffer = BinaryWriter(capacity: min(maxChunkBytes, 1 << 20) + 64)
        var offset: UInt64 = 0
        func flush(last: Bool) {
            let data = buffer.bytes
            chunks.append(SnapshotChunk(
                index: position.index, term: position.term, configuration: membership,
                offset: offset, data: data, isLast: last))
            offset += UInt64(data.count)
            buffer = BinaryWriter(capacity: min(maxChunkBytes, 1 << 20) + 64)
        }
        while let pair = try snapshot.next() {
            if pair.key == ClusterConfiguration.stateKey {
                membership = try ClusterConfiguration(encoded: pair.value)
            }
            buffer.write(lengthPrefixed: pair.key)
            buffer.write(lengthPrefixed: pair.value)
            if buffer.bytes.count >= maxChunkBytes { flush(last: false) }
        }
        flush(last: true)
        // Every chunk names the final membership (it may be found late in the scan).
        for i in chunks.indices { chunks[i].configuration = membership }
        return chunks
    }

    /// Decodes the pairs of a reassembled snapshot.
    public struct Reader: KeyValueSource {
        private var reader: BinaryReader

        public init(_ data: [UInt8]) { reader = BinaryReader(data) }

        public mutating func next() throws -> KeyValue? {
            guard !reader.isAtEnd else { return nil }
            do {
                let key = try reader.readLengthPrefixed()
                let value = try reader.readLengthPrefixed()
                return KeyValue(key: key, value: value)
            } catch {
                throw RaftError.protocolViolation("truncated snapshot data")
            }
        }
    }
}

/// Reassembles the chunks of one snapshot from one leader. Chunks may arrive
/// in any order and more than once; a chunk of another snapshot (or from
/// another sender) starts over, and the leader resends the whole snapshot
/// after a while if pieces were lost.
public struct SnapshotAssembler: Sendable {
    public struct Complete: Sendable {
        public var metadata: SnapshotMetadata
        public var data: [UInt8]
    }

    private var from: NodeID = 0
    private var index: UInt64 = 0
    private var term: UInt64 = 0
    /// The contiguous prefix received so far.
    private var data: [UInt8] = []
    /// Chunks that arrived ahead of the prefix, by offset.
    private var early: [UInt64: SnapshotChunk] = [:]
    private var lastChunk: SnapshotChunk?
    /// Bounds the memory a sender that never finishes can pin.
    public var maxEarlyChunks = 1 << 12

    public init() {}

    /// Adds a chunk; returns the snapshot once every piece has arrived.
    public mutating func add(_ chunk: SnapshotChunk, from sender: NodeID) -> Complete? {
        if sender != from || chunk.index != index || chunk.term != term {
            from = sender
            index = chunk.index
            term = chunk.term
            data = []
            early = [:]
            lastChunk = nil
        }
        if chunk.offset > UInt64(data.count) {
            guard early.count < maxEarlyChunks else { return nil }
            early[chunk.offset] = chunk
            return nil
        }
        guard chunk.offset == UInt64(data.count) else { return nil }  // a duplicate
        var next: SnapshotChunk? = chunk
        while let piece = next {
            data.append(contentsOf: piece.data)
            if piece.isLast { lastChunk = piece; break }
            if piece.data.isEmpty { break }
            next = early.removeValue(forKey: UInt64(data.count))
        }
        guard let last = lastChunk else { return nil }
        let complete = Complete(
            metadata: SnapshotMetadata(index: last.index, term: last.term, configuration: last.configuration),
            data: data)
        data = []
        early = [:]
        lastChunk = nil
        index = 0
        term = 0
        from = 0
        return complete
    }
}
