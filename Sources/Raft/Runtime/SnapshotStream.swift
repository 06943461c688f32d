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
    private var pieces: [UInt64: SnapshotChunk] = [:]
    /// Bounds the memory a sender that never finishes can pin.
    public var maxPieces = 1 << 16

    public init() {}

    /// Adds a chunk; returns the snapshot once every piece has arrived.
    public mutating func add(_ chunk: SnapshotChunk, from sender: NodeID) -> Complete? {
        if sender != from || chunk.index != index || chunk.term != term {
            from = sender
            index = chunk.index
            term = chunk.term
            pieces = [:]
        }
        guard pieces.count < maxPieces else { pieces = [:]; return nil }
        pieces[chunk.offset] = chunk
        var data: [UInt8] = []
        var offset: UInt64 = 0
        while let piece = pieces[offset] {
            data.append(contentsOf: piece.data)
            if piece.isLast {
                pieces = [:]
                return Complete(
                    metadata: SnapshotMetadata(index: piece.index, term: piece.term, configuration: piece.configuration),
                    data: data)
            }
            guard !piece.data.isEmpty else { return nil }
            offset += UInt64(piece.data.count)
        }
        return nil
    }
}
