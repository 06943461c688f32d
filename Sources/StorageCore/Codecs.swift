/// The on-disk form of a log entry, shared by every disk backend so that all of
/// them detect corruption the same way:
///
///     crc32c (4) | index (8) | term (8) | kind (1) | data length (4) | data
///
/// The checksum covers everything after it, all integers big-endian.
public enum LogEntryCodec {
    public static let headerSize = 25

    public static func encode(_ entry: LogEntry) -> Bytes {
        var writer = BinaryWriter(capacity: headerSize + entry.data.count)
        writer.write(UInt32(0))
        writer.write(entry.index)
        writer.write(entry.term)
        writer.write(entry.kind.rawValue)
        writer.write(lengthPrefixed: entry.data)
        var bytes = writer.bytes
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[4...])) }
        withUnsafeBytes(of: crc.bigEndian) { bytes.replaceSubrange(0..<4, with: $0) }
        return bytes
    }

    /// Decodes and verifies one record. `source` names the file or key in errors.
    public static func decode(_ bytes: some Collection<UInt8>, source: @autoclosure () -> String) throws -> LogEntry {
        let bytes = Array(bytes)
        guard bytes.count >= headerSize else {
            throw StorageError.corrupted(path: source(), reason: "log record of \(bytes.count) bytes is shorter than its header")
        }
        var reader = BinaryReader(bytes)
        do {
            let stored = try reader.readUInt32()
            let actual = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[4...])) }
            guard stored == actual else {
                throw StorageError.corrupted(path: source(), reason: "log record checksum mismatch")
            }
            let index = try reader.readUInt64()
            let term = try reader.readUInt64()
            guard let kind = LogEntry.Kind(rawValue: try reader.readUInt8()) else {
                throw StorageError.corrupted(path: source(), reason: "unknown log entry kind")
            }
            let data = try reader.readLengthPrefixed()
            guard reader.isAtEnd else {
                throw StorageError.corrupted(path: source(), reason: "trailing bytes after log record")
            }
            return LogEntry(index: index, term: term, kind: kind, data: data)
        } catch is BinaryReader.Truncated {
            throw StorageError.corrupted(path: source(), reason: "log record is truncated")
        }
    }
}

/// The on-disk form of a hard state: crc32c | term | votedFor+1 (0 = none) | commit.
public enum HardStateCodec {
    public static func encode(_ state: HardState) -> Bytes {
        var writer = BinaryWriter(capacity: 28)
        writer.write(state.term)
        writer.write(state.votedFor.map { $0 &+ 1 } ?? 0)
        writer.write(state.commit)
        return Checksummed.seal(writer.bytes)
    }

    public static func decode(_ bytes: Bytes, source: @autoclosure () -> String) throws -> HardState {
        let body = try Checksummed.open(bytes, source: source())
        var reader = BinaryReader(body)
        do {
            let term = try reader.readUInt64()
            let vote = try reader.readUInt64()
            let commit = try reader.readUInt64()
            return HardState(term: term, votedFor: vote == 0 ? nil : vote - 1, commit: commit)
        } catch {
            throw StorageError.corrupted(path: source(), reason: "hard state record is truncated")
        }
    }
}

/// The on-disk form of an applied position or compaction point: crc32c | index | term.
public enum PositionCodec {
    public static func encode(_ position: AppliedPosition) -> Bytes {
        var writer = BinaryWriter(capacity: 20)
        writer.write(position.index)
        writer.write(position.term)
        return Checksummed.seal(writer.bytes)
    }

    public static func decode(_ bytes: Bytes, source: @autoclosure () -> String) throws -> AppliedPosition {
        let body = try Checksummed.open(bytes, source: source())
        var reader = BinaryReader(body)
        do {
            return AppliedPosition(index: try reader.readUInt64(), term: try reader.readUInt64())
        } catch {
            throw StorageError.corrupted(path: source(), reason: "position record is truncated")
        }
    }
}

/// A payload with a CRC-32C in front of it.
public enum Checksummed {
    public static func seal(_ body: Bytes) -> Bytes {
        var writer = BinaryWriter(capacity: body.count + 4)
        writer.write(CRC32C.checksum(body))
        writer.write(raw: body)
        return writer.bytes
    }

    public static func open(_ bytes: Bytes, source: @autoclosure () -> String) throws -> Bytes {
        guard bytes.count >= 4 else {
            throw StorageError.corrupted(path: source(), reason: "record of \(bytes.count) bytes has no checksum")
        }
        let stored = bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let body = Array(bytes[4...])
        guard CRC32C.checksum(body) == stored else {
            throw StorageError.corrupted(path: source(), reason: "checksum mismatch")
        }
        return body
    }
}
