/// The argument checks every `LogStore.append` makes, in one place so that all
/// backends refuse the same bad input with the same error.
public enum LogAppendRules {
    /// Checks that `entries` (non-empty) are contiguous, do not start inside
    /// the compacted prefix, and leave no gap after `lastIndex`.
    public static func check(_ entries: [LogEntry], snapshotIndex: UInt64, lastIndex: UInt64) throws {
        guard let first = entries.first else { return }
        for (offset, entry) in entries.enumerated() where entry.index != first.index + UInt64(offset) {
            throw StorageError.invalidArgument(
                "appended entries must have consecutive indexes: expected \(first.index + UInt64(offset)), got \(entry.index)")
        }
        guard first.index > snapshotIndex else {
            throw StorageError.compacted(index: first.index, firstIndex: snapshotIndex + 1)
        }
        guard first.index <= lastIndex + 1 else {
            throw StorageError.nonContiguous(expected: lastIndex + 1, got: first.index)
        }
    }
}
