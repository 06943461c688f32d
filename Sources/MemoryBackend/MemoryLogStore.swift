import StorageCore
import Synchronization

/// The log of one memory store directory; outlives `MemoryLogStore` instances.
final class MemoryLogVolume: Sendable {
    struct Contents {
        /// `entries[i].index == snapshotIndex + 1 + i`.
        var entries: [LogEntry] = []
        var snapshotIndex: UInt64 = 0
        var snapshotTerm: UInt64 = 0
        var hardState = HardState.initial

        var lastIndex: UInt64 { snapshotIndex + UInt64(entries.count) }
        func offset(_ index: UInt64) -> Int { Int(index - snapshotIndex - 1) }
    }

    let contents = Mutex(Contents())
}

/// A `LogStore` in memory: an array of entries behind a lock.
final class MemoryLogStore: LogStore {
    private let volume: MemoryLogVolume
    private let isClosed = Atomic(false)

    init(volume: MemoryLogVolume) {
        self.volume = volume
    }

    var syncCount: UInt64 { 0 }

    private func withContents<T>(_ body: (inout MemoryLogVolume.Contents) throws -> T) throws -> T {
        guard !isClosed.load(ordering: .acquiring) else { throw StorageError.closed }
        return try volume.contents.withLock { try body(&$0) }
    }

    func snapshotIndex() throws -> UInt64 { try withContents { $0.snapshotIndex } }
    func firstIndex() throws -> UInt64 { try withContents { $0.snapshotIndex + 1 } }
    func lastIndex() throws -> UInt64 { try withContents { $0.lastIndex } }
    func hardState() throws -> HardState { try withContents { $0.hardState } }

    func term(at index: UInt64) throws -> UInt64 {
        try withContents { log in
            if index == log.snapshotIndex { return log.snapshotTerm }
            if index < log.snapshotIndex { throw StorageError.compacted(index: index, firstIndex: log.snapshotIndex + 1) }
            guard index <= log.lastIndex else { throw StorageError.unavailable(index: index, lastIndex: log.lastIndex) }
            return log.entries[log.offset(index)].term
        }
    }

    func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        try withContents { log in
            guard range.lowerBound > log.snapshotIndex else {
                throw StorageError.compacted(index: range.lowerBound, firstIndex: log.snapshotIndex + 1)
            }
            guard range.upperBound <= log.lastIndex else {
                throw StorageError.unavailable(index: range.upperBound, lastIndex: log.lastIndex)
            }
            var result: [LogEntry] = []
            var bytes = 0
            for entry in log.entries[log.offset(range.lowerBound)...log.offset(range.upperBound)] {
                bytes += entry.data.count
                if !result.isEmpty, bytes > maxBytes { break }
                result.append(entry)
            }
            return result
        }
    }

    func append(_ entries: [LogEntry], hardState: HardState?) throws {
        try withContents { log in
            if let first = entries.first {
                try LogAppendRules.check(entries, snapshotIndex: log.snapshotIndex, lastIndex: log.lastIndex)
                log.entries.removeSubrange(log.offset(first.index)...)
                log.entries.append(contentsOf: entries)
            }
            if let hardState { log.hardState = hardState }
        }
    }

    func truncateSuffix(after index: UInt64) throws {
        try withContents { log in
            guard index >= log.snapshotIndex else {
                throw StorageError.compacted(index: index, firstIndex: log.snapshotIndex + 1)
            }
            if index < log.lastIndex { log.entries.removeSubrange(log.offset(index + 1)...) }
        }
    }

    func compact(through index: UInt64, term: UInt64) throws {
        try withContents { log in
            guard index > log.snapshotIndex else { return }
            if index >= log.lastIndex {
                log.entries = []
            } else {
                log.entries.removeSubrange(...log.offset(index))
            }
            log.snapshotIndex = index
            log.snapshotTerm = term
        }
    }

    func close() throws {
        isClosed.store(true, ordering: .releasing)
    }
}
