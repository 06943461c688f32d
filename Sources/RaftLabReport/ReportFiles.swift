import Foundation

/// File-system steps shared by the writers: every output file is written
/// atomically (temporary file + rename), so a crashed or interrupted run never
/// leaves a half-written report that `raftlab report` would later misread.
enum ReportFiles {
    static func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ReportFileError.unwritable(path: path, reason: error.localizedDescription)
        }
    }

    static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: path)
    }

    static func createDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ReportFileError.unwritable(path: path, reason: error.localizedDescription)
        }
    }
}
