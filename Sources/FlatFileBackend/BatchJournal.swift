import StorageCore

/// The redo record that makes a multi-file batch atomic.
///
/// A batch touches one file per key plus the `applied` file, and no file
/// system renames several files in one step. So `apply` first makes this
/// journal durable (the batch's commit point), then changes the item files,
/// then removes the journal. A crash before the journal is complete leaves the
/// old state (the half-written journal fails its checksum and is thrown away);
/// a crash after it is redone at the next open. Puts and deletes are
/// idempotent, so redoing a journal whose batch had partly or wholly landed
/// gives the same result.
///
/// Format: `Checksummed(length-prefixed PositionCodec | op count (4) | ops)`,
/// each op `kind (1: put, 0: delete) | length-prefixed key | [length-prefixed value]`.
struct BatchJournal: Equatable {
    static let fileName = "journal"

    /// The batch's final effect per key, in key order: a value to put, or nil to delete.
    var operations: [(key: Bytes, value: Bytes?)]
    var position: AppliedPosition

    /// What `read` found on disk.
    enum Found {
        case none
        /// Present but incomplete or damaged: its batch never committed.
        case torn(reason: String)
        case complete(BatchJournal)
    }

    /// Collapses `batch` to one operation per key (later operations win, as if
    /// applied one by one), so that the journal and the redo touch each file once.
    init(_ batch: WriteBatch, position: AppliedPosition) {
        var last: [Bytes: Bytes?] = [:]
        for operation in batch.operations {
            switch operation {
            case let .put(key, value): last[key] = .some(value)
            case let .delete(key): last[key] = .some(nil)
            }
        }
        operations = last.map { (key: $0.key, value: $0.value) }
            .sorted { $0.key.sortsBefore($1.key) }
        self.position = position
    }

    init(operations: [(key: Bytes, value: Bytes?)], position: AppliedPosition) {
        self.operations = operations
        self.position = position
    }

    static func == (a: Self, b: Self) -> Bool {
        a.position == b.position && a.operations.count == b.operations.count
            && zip(a.operations, b.operations).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    func encode() -> Bytes {
        var writer = BinaryWriter(capacity: 64)
        writer.write(lengthPrefixed: PositionCodec.encode(position))
        writer.write(UInt32(operations.count))
        for operation in operations {
            writer.write(UInt8(operation.value == nil ? 0 : 1))
            writer.write(lengthPrefixed: operation.key)
            if let value = operation.value { writer.write(lengthPrefixed: value) }
        }
        return Checksummed.seal(writer.bytes)
    }

    static func read(_ path: String) throws -> Found {
        guard let bytes = try FileSystem.readFile(path) else { return .none }
        let body: Bytes
        do {
            body = try Checksummed.open(bytes, source: path)
        } catch let StorageError.corrupted(_, reason) {
            return .torn(reason: reason)
        }
        // The checksum matched, so these are the bytes `encode` wrote; failing
        // to decode them is real damage, not an interrupted write.
        var reader = BinaryReader(body)
        do {
            let position = try PositionCodec.decode(try reader.readLengthPrefixed(), source: path)
            let count = try reader.readUInt32()
            var operations: [(key: Bytes, value: Bytes?)] = []
            for _ in 0..<count {
                let kind = try reader.readUInt8()
                let key = try reader.readLengthPrefixed()
                switch kind {
                case 0: operations.append((key, nil))
                case 1: operations.append((key, try reader.readLengthPrefixed()))
                default: throw StorageError.corrupted(path: path, reason: "unknown journal operation \(kind)")
                }
            }
            guard reader.isAtEnd else { throw StorageError.corrupted(path: path, reason: "trailing bytes after the journal") }
            return .complete(BatchJournal(operations: operations, position: position))
        } catch is BinaryReader.Truncated {
            throw StorageError.corrupted(path: path, reason: "journal passes its checksum but is truncated")
        }
    }
}
