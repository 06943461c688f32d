import Foundation

/// Bytes a process caused to be written to the block layer, from
/// /proc/<pid>/io `write_bytes`: the numerator of write amplification. It
/// counts what reached storage (page-cache writeback included), not what the
/// process handed to write(2), so it shows what an engine really costs a disk.
///
/// Take a reading before and after the measured writes and subtract. Nodes
/// in other processes need their own pid's reading.
public enum ProcessIO {
    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// The file could not be read (no procfs, another user's process...).
        case unreadable(path: String, reason: String)
        /// The file has no parsable `write_bytes` line.
        case missingField(path: String, field: String)

        public var description: String {
            switch self {
            case let .unreadable(path, reason): "cannot read \(path): \(reason)"
            case let .missingField(path, field): "\(path) has no \(field) line"
            }
        }
    }

    /// `write_bytes` of this process, or of `pid`.
    public static func writeBytes(pid: Int32? = nil) throws -> UInt64 {
        try field("write_bytes", pid: pid)
    }

    /// Any counter of /proc/<pid>/io (rchar, wchar, read_bytes, write_bytes, cancelled_write_bytes...).
    public static func field(_ name: String, pid: Int32? = nil) throws -> UInt64 {
        let path = pid.map { "/proc/\($0)/io" } ?? "/proc/self/io"
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Error.unreadable(path: path, reason: error.localizedDescription)
        }
        guard let value = parse(text, field: name) else { throw Error.missingField(path: path, field: name) }
        return value
    }

    /// The value of `field` in /proc/<pid>/io text ("write_bytes: 4096").
    static func parse(_ text: String, field: String) -> UInt64? {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0] == field {
                return UInt64(parts[1].trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }

    /// Disk bytes written per byte of user data; nil when there was no user
    /// data (a ratio over zero is not a measurement).
    public static func writeAmplification(diskBytesWritten: UInt64, userBytes: UInt64) -> Double? {
        userBytes == 0 ? nil : Double(diskBytesWritten) / Double(userBytes)
    }
}
