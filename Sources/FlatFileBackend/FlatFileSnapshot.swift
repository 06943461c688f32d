import StorageCore
import Synchronization

/// A point-in-time view of a flat-file state store: a directory of hard links
/// to the item files as they were when the snapshot was taken.
///
/// Why this is consistent without holding the store's lock: the store never
/// writes an item file in place, it renames a new file over the old name (or
/// unlinks it). A hard link therefore keeps pointing at the content the item
/// had at link time, whatever the store does next, including a restore that
/// deletes the whole generation. Taking the snapshot costs one `link` per item
/// under the store's lock; reading it is lazy, one file per `next()`.
///
/// `close()` (or dropping the last reference) deletes the directory; one left
/// behind by a crash is deleted when the store is next opened.
final class FlatFileSnapshot: StateSnapshot {
    let position: AppliedPosition
    private let directory: String

    private enum Cursor {
        case notStarted
        case reading([ItemListing.Item], next: Int)
        case closed
    }

    private let cursor = Mutex(Cursor.notStarted)

    init(directory: String, position: AppliedPosition) {
        self.directory = directory
        self.position = position
    }

    func next() throws -> KeyValue? {
        try cursor.withLock { cursor in
            if case .notStarted = cursor {
                cursor = .reading(try ItemListing.read(directory), next: 0)
            }
            switch cursor {
            case .notStarted:
                return nil
            case .closed:
                throw StorageError.closed
            case let .reading(items, next):
                guard next < items.count else { return nil }
                let pair = try items[next].load(from: directory)
                cursor = .reading(items, next: next + 1)
                return pair
            }
        }
    }

    func close() {
        let wasOpen = cursor.withLock { cursor in
            if case .closed = cursor { return false }
            cursor = .closed
            return true
        }
        // Best effort: close() cannot report an error, and a directory left
        // behind is removed at the store's next open.
        if wasOpen { try? FileSystem.removeTree(directory) }
    }

    deinit {
        close()
    }
}
