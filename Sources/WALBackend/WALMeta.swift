import StorageCore

/// The small `meta` file: what must outlive the segments a compaction
/// deletes. Replaced atomically (temporary file, fdatasync, rename, directory
/// fsync) by each compaction, before any segment is deleted:
///
///     crc32c (4) | format (4) | snapshot index (8) | snapshot term (8)
///     | first live segment (8) | hard state (HardStateCodec, 28)
///
/// The hard state here is the one current at the compaction: the frame that
/// last saved it may be in a deleted segment. Hard states saved later are in
/// frames of live segments, which open replays over this one.
struct WALMeta: Equatable {
    static let fileName = "meta"
    static let formatVersion: UInt32 = 1

    var snapshot: AppliedPosition = .zero
    var firstSegment: UInt64 = 1
    var hardState: HardState = .initial

    func encode() -> Bytes {
        var writer = BinaryWriter(capacity: 60)
        writer.write(Self.formatVersion)
        writer.write(snapshot.index)
        writer.write(snapshot.term)
        writer.write(firstSegment)
        writer.write(raw: HardStateCodec.encode(hardState))
        return Checksummed.seal(writer.bytes)
    }

    static func decode(_ bytes: Bytes, path: String) throws -> WALMeta {
        var reader = BinaryReader(try Checksummed.open(bytes, source: path))
        do {
            let version = try reader.readUInt32()
            guard version == formatVersion else {
                throw StorageError.corrupted(path: path, reason: "unsupported wal meta format \(version)")
            }
            let snapshot = AppliedPosition(index: try reader.readUInt64(), term: try reader.readUInt64())
            let firstSegment = try reader.readUInt64()
            let hardState = try HardStateCodec.decode(try reader.readBytes(28), source: path)
            guard reader.isAtEnd else { throw StorageError.corrupted(path: path, reason: "trailing bytes in wal meta") }
            return WALMeta(snapshot: snapshot, firstSegment: firstSegment, hardState: hardState)
        } catch is BinaryReader.Truncated {
            throw StorageError.corrupted(path: path, reason: "wal meta is truncated")
        }
    }
}
