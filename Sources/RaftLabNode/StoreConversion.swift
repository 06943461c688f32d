import StorageCore

/// Converts a stopped node's stores to other backends, offline
/// (`raftlab migrate-store`): the log entry by entry with its hard state and
/// compaction point, the state through a snapshot at its applied position.
/// Then it reads both copies back and compares them: every log entry, the
/// hard state, and a full scan of the state, pair by pair, must be
/// byte-identical, or the conversion is reported as failed.
public enum StoreConversion {
    public struct Summary: Sendable, Hashable {
        public var fromLog: String
        public var fromState: String
        public var toLog: String
        public var toState: String
        public var logEntries: UInt64
        public var firstIndex: UInt64
        public var lastIndex: UInt64
        public var statePairs: UInt64
        public var stateBytes: UInt64
        public var applied: AppliedPosition
    }

    public enum ConversionError: Error, Sendable, CustomStringConvertible {
        case invalid(String)
        case mismatch(String)

        public var description: String {
            switch self {
            case .invalid(let why): why
            case .mismatch(let why): "the converted stores differ from the originals: \(why)"
            }
        }
    }

    /// The backend named by a store directory's marker.
    public static func backend(ofStoreAt directory: String) throws -> String {
        guard let marker = try FileSystem.readFile(directory + "/" + StoreDirectory.markerName) else {
            throw ConversionError.invalid("\(directory) holds no RaftLab store (no \(StoreDirectory.markerName) marker)")
        }
        for line in String(decoding: marker, as: UTF8.self).split(separator: "\n") where line.hasPrefix("backend=") {
            return String(line.dropFirst("backend=".count))
        }
        throw ConversionError.invalid("the marker of \(directory) names no backend")
    }

    /// Converts the node directory `from` (holding `log/` and `state/`) into
    /// `to` on `toLog` / `toState`.
    public static func convert(
        from: String, to: String, toLog: String, toState: String, sync: Bool = true,
        settings: [String: [String: String]] = [:], registry: BackendRegistry
    ) throws -> Summary {
        for name in [toLog, toState] { _ = try registry.backend(named: name) }
        if FileSystem.isDirectory(to), !(try FileSystem.listDirectory(to)).isEmpty {
            throw ConversionError.invalid("the output directory \(to) is not empty")
        }
        let fromLog = try backend(ofStoreAt: from + "/log")
        let fromState = try backend(ofStoreAt: from + "/state")
        let source = try registry.openStores(StorageConfig(
            logBackend: fromLog, stateBackend: fromState, dataDirectory: from, sync: false, settings: settings))
        defer {
            try? source.log.close()
            try? source.state.close()
        }
        let target = try registry.openStores(StorageConfig(
            logBackend: toLog, stateBackend: toState, dataDirectory: to, sync: sync, settings: settings))
        defer {
            try? target.log.close()
            try? target.state.close()
        }

        // The state, as of its applied position.
        let snapshot = try source.state.snapshot()
        let applied = snapshot.position
        var reading = SnapshotSource(snapshot: snapshot)
        try target.state.restore(from: &reading, position: applied)
        snapshot.close()

        // The log: compaction point, entries, hard state.
        let snapshotIndex = try source.log.snapshotIndex()
        if snapshotIndex > 0 {
            try target.log.compact(through: snapshotIndex, term: try source.log.term(at: snapshotIndex))
        }
        let first = try source.log.firstIndex()
        let last = try source.log.lastIndex()
        var next = first
        var entries: UInt64 = 0
        while next <= last {
            let batch = try source.log.entries(next...last, maxBytes: 4 << 20)
            try target.log.append(batch)
            entries += UInt64(batch.count)
            next += UInt64(batch.count)
        }
        try target.log.saveHardState(try source.log.hardState())
        _ = try target.state.checkpoint()

        // Read both back and compare.
        let (pairs, bytes) = try compareState(source.state, target.state)
        try compareLog(source.log, target.log)
        guard try target.state.appliedPosition() == applied else {
            throw ConversionError.mismatch("the converted state is at \(try target.state.appliedPosition()), not \(applied)")
        }
        return Summary(
            fromLog: fromLog, fromState: fromState, toLog: toLog, toState: toState, logEntries: entries,
            firstIndex: first, lastIndex: last, statePairs: pairs, stateBytes: bytes, applied: applied)
    }

    /// Scans both states in pages and compares them pair by pair.
    static func compareState(_ a: any StateStore, _ b: any StateStore) throws -> (pairs: UInt64, bytes: UInt64) {
        var lower: Bytes = []
        var first = true
        var pairs: UInt64 = 0
        var bytes: UInt64 = 0
        while true {
            var left = try a.scan(KeyRange(from: lower), limit: 10_000)
            var right = try b.scan(KeyRange(from: lower), limit: 10_000)
            if !first {
                // The page starts at the last key of the previous one.
                if left.first?.key == lower { left.removeFirst() }
                if right.first?.key == lower { right.removeFirst() }
            }
            first = false
            guard left.count == right.count else {
                throw ConversionError.mismatch("after \(pairs) identical pairs, a page holds \(left.count) pairs in the original and \(right.count) in the copy")
            }
            for (x, y) in zip(left, right) where x != y {
                throw ConversionError.mismatch("after \(pairs) identical pairs, key \(x.key.prefix(32)) differs from \(y.key.prefix(32)) or its value does")
            }
            for pair in left {
                pairs += 1
                bytes += UInt64(pair.key.count + pair.value.count)
            }
            guard let last = left.last else { return (pairs, bytes) }
            lower = last.key
        }
    }

    static func compareLog(_ a: any LogStore, _ b: any LogStore) throws {
        guard try a.snapshotIndex() == b.snapshotIndex(), try a.lastIndex() == b.lastIndex(),
            try a.hardState() == b.hardState()
        else {
            throw ConversionError.mismatch("log bounds or hard state differ")
        }
        let snapshotIndex = try a.snapshotIndex()
        if try a.term(at: snapshotIndex) != b.term(at: snapshotIndex) {
            throw ConversionError.mismatch("the term of the compaction point differs")
        }
        var next = try a.firstIndex()
        let last = try a.lastIndex()
        while next <= last {
            let left = try a.entries(next...last, maxBytes: 4 << 20)
            let right = try b.entries(next...min(last, next + UInt64(left.count) - 1), maxBytes: .max)
            guard left == right else { throw ConversionError.mismatch("log entries from index \(next) differ") }
            next += UInt64(left.count)
        }
    }
}

/// A state snapshot as a `KeyValueSource`.
struct SnapshotSource: KeyValueSource {
    let snapshot: any StateSnapshot
    mutating func next() throws -> KeyValue? { try snapshot.next() }
}
