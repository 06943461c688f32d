import StorageCore
import Synchronization

/// A volatile backend (the memory backend) whose stores are power-cut models,
/// for a node in a process of its own: `raftlab server --power-cut-model`.
///
/// The stores live in memory and die with the process, like any memory
/// store, except for one path: `saveDurableImage()`, called when the node is
/// told to lose power, writes what the models say reached stable storage to
/// `imagePath` (synced), and the process then exits at once. The next start
/// of the node loads that image, and only that, into its new stores, then
/// removes the file: the node comes back as a real node would after a power
/// cut, with its log as of its last synced append and its state as of its
/// last checkpoint. A SIGKILL, with no image saved, still loses everything.
public final class PowerCutVolatileBackend: StorageBackend {
    public let inner: any StorageBackend
    public let imagePath: String
    private let opened = Mutex<Opened>(Opened())

    private struct Opened {
        var log: PowerCutLogStore?
        var state: PowerCutStateStore?
        var image: PowerCutImage?
    }

    public init(inner: any StorageBackend, imagePath: String) {
        self.inner = inner
        self.imagePath = imagePath
    }

    public var name: String { inner.name }
    public var settingsHelp: [String: String] { inner.settingsHelp }
    public var isPersistent: Bool { false }

    public func forgetVolatileData(under directory: String) {
        inner.forgetVolatileData(under: directory)
    }

    public func openLogStore(_ options: StoreOptions) throws -> any LogStore {
        let inner = self.inner
        let store = try PowerCutLogStore {
            inner.forgetVolatileData(under: options.directory)
            return try inner.openLogStore(options)
        }
        let image = try FileSystem.readFile(imagePath).map { try PowerCutImage(decoding: $0, source: imagePath) }
        if let image {
            if image.log.snapshotIndex > 0 { try store.compact(through: image.log.snapshotIndex, term: image.log.snapshotTerm) }
            try store.append(image.log.entries, hardState: image.log.hardState)
        }
        opened.withLock {
            $0.log = store
            $0.image = image
        }
        return store
    }

    public func openStateStore(_ options: StoreOptions) throws -> any StateStore {
        let inner = self.inner
        let store = try PowerCutStateStore(mode: options.stateSync) {
            inner.forgetVolatileData(under: options.directory)
            return try inner.openStateStore(options)
        }
        if let image = opened.withLock({ $0.image }) {
            var source = ArrayKeyValueSource(image.state.pairs)
            try store.restore(from: &source, position: image.state.position)
            // Loaded: a later SIGKILL loses everything again, as for any memory store.
            try FileSystem.removeFile(imagePath)
            try FileSystem.syncDirectory(FileSystem.parentDirectory(of: imagePath))
        }
        opened.withLock {
            $0.state = store
            $0.image = nil
        }
        return store
    }

    /// Writes both stores' durable images, taken at one instant, to
    /// `imagePath` and syncs it. The caller then ends the process without
    /// closing anything (a clean close would flush what a power cut loses).
    public func saveDurableImage() throws {
        guard let (log, state) = opened.withLock({ opened in opened.log.flatMap { log in opened.state.map { (log, $0) } } }) else {
            throw StorageError.invalidArgument("no power-cut stores are open")
        }
        let image = PowerCutImage.capture(log: log, state: state)
        try FileSystem.createDirectory(FileSystem.parentDirectory(of: imagePath), sync: true)
        try FileSystem.writeFileAtomically(imagePath, image.encoded(), sync: true)
    }
}
