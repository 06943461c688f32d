import StorageCore

/// Names of the files in a flat-file log directory.
///
///     RAFTLAB_STORE                         marker (StoreDirectory)
///     00000000000000000042.entry            one file per entry: LogEntryCodec bytes
///     00000000000000000042.staged-7         a replacement for entry 42, written by an
///                                           append that overlaps the log; it becomes
///                                           the entry once commit record 7 exists
///     hardstate                             the commit record (LogCommitRecord)
///     snapshot_point                        PositionCodec: compaction index and term
///
/// The index is zero-padded to 20 digits (all of UInt64) so that `ls` lists
/// the entries in log order.
enum LogFileName {
    static let snapshotPoint = "snapshot_point"
    private static let entrySuffix = ".entry"
    private static let stagedInfix = ".staged-"

    static func entry(_ index: UInt64) -> String { padded(index) + entrySuffix }

    static func staged(_ index: UInt64, generation: UInt64) -> String {
        padded(index) + stagedInfix + String(generation)
    }

    enum Parsed: Equatable {
        case entry(UInt64)
        case staged(UInt64, generation: UInt64)
        case temporary
        case other
    }

    static func parse(_ name: String) -> Parsed {
        if name.hasSuffix(".tmp") { return .temporary }
        let utf8 = Array(name.utf8)
        guard utf8.count > 20, utf8[..<20].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let index = UInt64(String(decoding: utf8[..<20], as: UTF8.self))
        else { return .other }
        let rest = String(decoding: utf8[20...], as: UTF8.self)
        if rest == entrySuffix { return .entry(index) }
        if rest.hasPrefix(stagedInfix), let generation = UInt64(rest.dropFirst(stagedInfix.count)) {
            return .staged(index, generation: generation)
        }
        return .other
    }

    private static func padded(_ index: UInt64) -> String {
        let digits = String(index)
        return String(repeating: "0", count: 20 - digits.count) + digits
    }
}

/// The `hardstate` file: the hard state together with the last index of the
/// committed log, replaced atomically (temp file + rename) by every call that
/// changes either.
///
/// Why the log end lives here: it makes this one rename the commit point of
/// `append(_:hardState:)`. Entry files are written first, but an entry file
/// above `lastIndex` is not part of the log (open deletes it), so until the
/// record names the new end, a crash leaves the old log *and* the old hard
/// state; after it, the new log and the new hard state. A node can never
/// restart with a vote but without the entries that went with it, nor the
/// reverse, and never with a commit index pointing at entries that were about
/// to be replaced.
///
/// Format: `Checksummed(length-prefixed HardStateCodec | lastIndex (8) | generation (8))`.
struct LogCommitRecord: Equatable {
    static let fileName = "hardstate"
    static let initial = LogCommitRecord(hardState: .initial, lastIndex: 0, generation: 0)

    var hardState: HardState
    /// Last index of the log as of this record. The log's real end is
    /// `max(lastIndex, compaction index)`: compacting past the end moves the
    /// end without rewriting this record.
    var lastIndex: UInt64
    /// Grows by one with every record written; names the staged files this
    /// record commits, so that staged files of a later append that never
    /// committed are not mistaken for them.
    var generation: UInt64

    func encode() -> Bytes {
        var writer = BinaryWriter(capacity: 64)
        writer.write(lengthPrefixed: HardStateCodec.encode(hardState))
        writer.write(lastIndex)
        writer.write(generation)
        return Checksummed.seal(writer.bytes)
    }

    static func decode(_ bytes: Bytes, source: @autoclosure () -> String) throws -> LogCommitRecord {
        var reader = BinaryReader(try Checksummed.open(bytes, source: source()))
        do {
            let hardState = try HardStateCodec.decode(try reader.readLengthPrefixed(), source: source())
            let record = LogCommitRecord(hardState: hardState, lastIndex: try reader.readUInt64(), generation: try reader.readUInt64())
            guard reader.isAtEnd else { throw StorageError.corrupted(path: source(), reason: "trailing bytes after the commit record") }
            return record
        } catch is BinaryReader.Truncated {
            throw StorageError.corrupted(path: source(), reason: "commit record is truncated")
        }
    }
}
