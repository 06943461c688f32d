import StorageCore

/// A `LogStore` whose entry payloads are sealed (AES-256-GCM) before they
/// reach the store underneath. Indexes, terms, kinds and the hard state
/// (term, vote, commit) stay in the clear: they carry no user data, and the
/// store underneath needs them to index, truncate and compact.
///
/// Each payload is sealed with its index, term and kind as associated data,
/// so an entry moved to another index, altered, or sealed with another key
/// is reported as `StorageError.corrupted`, never returned.
final class EncryptedLogStore: LogStore {
    private let inner: any LogStore
    private let sealer: RecordSealer
    private let directory: String

    init(inner: any LogStore, sealer: RecordSealer, directory: String) {
        self.inner = inner
        self.sealer = sealer
        self.directory = directory
    }

    func snapshotIndex() throws -> UInt64 { try inner.snapshotIndex() }
    func firstIndex() throws -> UInt64 { try inner.firstIndex() }
    func lastIndex() throws -> UInt64 { try inner.lastIndex() }
    func term(at index: UInt64) throws -> UInt64 { try inner.term(at: index) }

    /// Reads sealed entries and opens them. `maxBytes` counts plaintext, as
    /// the contract says: the store underneath counts sealed bytes (larger),
    /// so it stops no later than the plaintext rule would, and the loop asks
    /// it for more until the plaintext budget or the range is used up.
    func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        var result: [LogEntry] = []
        var total = 0
        var next = range.lowerBound
        while next <= range.upperBound {
            let sealed = try inner.entries(next...range.upperBound, maxBytes: max(maxBytes - total, 0))
            guard let last = sealed.last else { break }
            for entry in sealed {
                let opened = try open(entry)
                result.append(opened)
                total += opened.data.count
                if total >= maxBytes { return result }
            }
            next = last.index + 1
        }
        return result
    }

    func append(_ entries: [LogEntry], hardState: HardState?) throws {
        var sealed = entries
        for i in sealed.indices {
            sealed[i].data = try sealer.seal(entries[i].data, context: RecordSealer.logContext(entries[i]))
        }
        try inner.append(sealed, hardState: hardState)
    }

    func truncateSuffix(after index: UInt64) throws { try inner.truncateSuffix(after: index) }
    func compact(through index: UInt64, term: UInt64) throws { try inner.compact(through: index, term: term) }
    func hardState() throws -> HardState { try inner.hardState() }
    var syncCount: UInt64 { inner.syncCount }
    func close() throws {
        try inner.close()
        try sealer.counter?.close()
    }

    private func open(_ entry: LogEntry) throws -> LogEntry {
        var opened = entry
        do {
            opened.data = try sealer.open(entry.data, context: RecordSealer.logContext(entry))
        } catch {
            throw StorageError.corrupted(
                path: directory, reason: "log entry \(entry.index) (term \(entry.term)): \(error.reason)")
        }
        return opened
    }
}
