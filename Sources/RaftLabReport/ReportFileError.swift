/// Every way reading or writing a report file fails. Each case names the file
/// so `raftlab report a b c` tells the user which of the runs is broken.
public enum ReportFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be read (missing, permissions...).
    case unreadable(path: String, reason: String)
    /// The file is not JSON, or not a report: `reason` names the offending key path.
    case invalid(path: String, reason: String)
    /// A report value cannot be written (e.g. a NaN measurement) or the file could not be written.
    case unwritable(path: String, reason: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case let .unreadable(path, _), let .invalid(path, _), let .unwritable(path, _): path
        }
    }

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read report \(path): \(reason)"
        case let .invalid(path, reason): "\(path) is not a valid RaftLab report: \(reason)"
        case let .unwritable(path, reason): "cannot write \(path): \(reason)"
        }
    }
}
