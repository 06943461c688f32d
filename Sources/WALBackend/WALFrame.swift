import StorageCore

/// The on-disk form of one mutating call: one frame per call, so a call is
/// atomic by construction (a frame is whole, or it fails its checksum and
/// the call never happened).
///
///     body length (4) | crc32c of body (4) | body
///
/// A body is one of
///
///     1 (append)   | first index (8) | count (4) | has hard state (1) | [hard state (28)]
///                  | count × (record length (4) | LogEntryCodec record)
///     2 (truncate) | keep through index (8)
///
/// All integers big-endian. Each entry record carries its own CRC-32C
/// (`LogEntryCodec`), so a read of one entry checks it without reading the
/// whole frame. A length of zero marks the end of the data: segments are
/// zero-filled ahead of the writer.
enum WALFrame {
    static let headerSize = 8

    enum Kind: UInt8 {
        case append = 1
        case truncate = 2
    }

    /// A frame ready to write, with where each entry record sits in it.
    struct Encoded {
        var bytes: Bytes
        /// Offset (from the frame's start) and length of each entry record.
        var records: [(offset: Int, length: Int)]
    }

    static func append(_ entries: [LogEntry], hardState: HardState?) -> Encoded {
        var body = BinaryWriter(capacity: 32 + entries.reduce(0) { $0 + $1.data.count + LogEntryCodec.headerSize + 4 })
        body.write(Kind.append.rawValue)
        body.write(entries.first?.index ?? 0)
        body.write(UInt32(entries.count))
        if let hardState {
            body.write(UInt8(1))
            body.write(raw: HardStateCodec.encode(hardState))
        } else {
            body.write(UInt8(0))
        }
        var records: [(offset: Int, length: Int)] = []
        records.reserveCapacity(entries.count)
        for entry in entries {
            let record = LogEntryCodec.encode(entry)
            body.write(UInt32(record.count))
            records.append((headerSize + body.bytes.count, record.count))
            body.write(raw: record)
        }
        return Encoded(bytes: seal(body.bytes), records: records)
    }

    static func truncate(keepingThrough index: UInt64) -> Bytes {
        var body = BinaryWriter(capacity: 9)
        body.write(Kind.truncate.rawValue)
        body.write(index)
        return seal(body.bytes)
    }

    private static func seal(_ body: Bytes) -> Bytes {
        var frame = BinaryWriter(capacity: headerSize + body.count)
        frame.write(UInt32(body.count))
        frame.write(CRC32C.checksum(body))
        frame.write(raw: body)
        return frame.bytes
    }

    /// A frame read back at open, its checksum already verified.
    enum Decoded {
        /// Entries as (index, term, offset of the record in the frame body, record length).
        case append(first: UInt64, entries: [(index: UInt64, term: UInt64, offset: Int, length: Int)], hardState: HardState?)
        case truncate(keepingThrough: UInt64)
    }

    /// Decodes a body whose checksum matched. Anything that still does not
    /// parse was written wrong, not torn, and is reported as corruption.
    static func decode(body: ArraySlice<UInt8>, source: @autoclosure () -> String) throws -> Decoded {
        var reader = BinaryReader(body)
        do {
            switch Kind(rawValue: try reader.readUInt8()) {
            case .append:
                let first = try reader.readUInt64()
                let count = Int(try reader.readUInt32())
                var hardState: HardState?
                if try reader.readUInt8() == 1 {
                    hardState = try HardStateCodec.decode(try reader.readBytes(28), source: source())
                }
                var entries: [(index: UInt64, term: UInt64, offset: Int, length: Int)] = []
                entries.reserveCapacity(count)
                for position in 0..<count {
                    let length = Int(try reader.readUInt32())
                    let offset = reader.offset - body.startIndex
                    var record = BinaryReader(try reader.readBytes(length)[...])
                    guard length >= LogEntryCodec.headerSize else {
                        throw StorageError.corrupted(path: source(), reason: "entry record of \(length) bytes is shorter than its header")
                    }
                    _ = try record.readUInt32()
                    let index = try record.readUInt64()
                    let term = try record.readUInt64()
                    guard index == first &+ UInt64(position) else {
                        throw StorageError.corrupted(
                            path: source(), reason: "frame starting at log index \(first) holds entry \(index) at position \(position)")
                    }
                    entries.append((index, term, offset, length))
                }
                guard reader.isAtEnd else { throw StorageError.corrupted(path: source(), reason: "trailing bytes after a frame") }
                return .append(first: first, entries: entries, hardState: hardState)
            case .truncate:
                let index = try reader.readUInt64()
                guard reader.isAtEnd else { throw StorageError.corrupted(path: source(), reason: "trailing bytes after a frame") }
                return .truncate(keepingThrough: index)
            case nil:
                throw StorageError.corrupted(path: source(), reason: "unknown frame kind")
            }
        } catch is BinaryReader.Truncated {
            throw StorageError.corrupted(path: source(), reason: "frame body is truncated")
        }
    }
}
