import Foundation
import Logging
import MemoryBackend
import StorageCore
import Synchronization

/// A fresh directory for one test; `remove()` deletes it and what the memory backend kept under it.
struct TestDirectory {
    let path: String

    init(_ label: String) {
        path = NSTemporaryDirectory() + "raftlab-security-\(label)-\(UUID().uuidString)"
    }

    func sub(_ name: String) -> String { path + "/" + name }

    func remove() {
        try? FileSystem.removeTree(path)
        MemoryBackend.removeAll(under: path)
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Every regular file under `root` whose bytes contain `needle`, as paths
/// relative to `root` (what `grep -r` would find).
func filesContaining(_ needle: [UInt8], under root: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
    var found: [String] = []
    while let relative = walker.nextObject() as? String {
        let path = root + "/" + relative
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
            let data = FileManager.default.contents(atPath: path)
        else { continue }
        if Array(data).firstRange(of: needle) != nil { found.append(relative) }
    }
    return found
}

/// Every regular file under `root`, for messages.
func fileCount(under root: String) -> Int {
    guard let walker = FileManager.default.enumerator(atPath: root) else { return 0 }
    var count = 0
    while let relative = walker.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
            count += 1
        }
    }
    return count
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// Records log lines so tests can check what was (and was not) logged.
final class LogCapture: Sendable {
    private let lines = Mutex<[(level: Logger.Level, text: String)]>([])

    func append(level: Logger.Level, text: String) {
        lines.withLock { $0.append((level, text)) }
    }

    func lines(atLeast level: Logger.Level = .trace) -> [String] {
        lines.withLock { $0.filter { $0.level >= level }.map(\.text) }
    }

    func logger(label: String = "test", level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label) { _ in CapturingLogHandler(capture: self) }
        logger.logLevel = level
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        capture.append(level: event.level, text: "\(event.message) \(rendered)")
    }
}
