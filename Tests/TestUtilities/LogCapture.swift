import Logging
import Synchronization

/// Records log lines so a test can check what was, and was not, logged.
public final class LogCapture: Sendable {
    private let lines = Mutex<[(level: Logger.Level, text: String)]>([])

    public init() {}

    public func append(level: Logger.Level, text: String) {
        lines.withLock { $0.append((level, text)) }
    }

    public func lines(atLeast level: Logger.Level = .trace) -> [String] {
        lines.withLock { $0.filter { $0.level >= level }.map(\.text) }
    }

    /// A logger that records `.info` and above (or `level`).
    public func logger(label: String = "test", level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label) { _ in CapturingLogHandler(capture: self) }
        logger.logLevel = level
        return logger
    }
}

/// Renders each event as its message followed by its metadata, sorted by key.
public struct CapturingLogHandler: LogHandler {
    public let capture: LogCapture
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info

    public init(capture: LogCapture) {
        self.capture = capture
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        capture.append(level: event.level, text: "\(event.message) \(rendered)")
    }
}

/// A logger for code whose logs a test does not inspect: only critical lines pass.
public func quietLogger(label: String = "test.quiet") -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .critical
    return logger
}
