import Foundation

/// Reading and writing `report.json`. Written pretty printed with sorted keys
/// so two runs diff line by line; read back with errors that name the file
/// and the key path, because `raftlab report` is pointed at old directories
/// whose files may be hand-edited, truncated or from another tool.
public enum ReportJSON {
    public static let fileName = "report.json"

    /// The report as JSON bytes. Throws `.unwritable` for values JSON cannot
    /// hold (NaN, infinity), naming `path` (only used in the error).
    public static func encode(_ report: BenchReport, path: String = fileName) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            var data = try encoder.encode(report)
            data.append(0x0A)
            return data
        } catch let error as EncodingError {
            throw ReportFileError.unwritable(path: path, reason: describe(error))
        }
    }

    /// Decodes a report; `path` names the file in errors.
    public static func decode(_ data: Data, path: String) throws -> BenchReport {
        guard !data.isEmpty else { throw ReportFileError.invalid(path: path, reason: "the file is empty") }
        do {
            return try JSONDecoder().decode(BenchReport.self, from: data)
        } catch let error as DecodingError {
            throw ReportFileError.invalid(path: path, reason: describe(error))
        } catch {
            throw ReportFileError.invalid(path: path, reason: String(describing: error))
        }
    }

    /// Reads a report file, or `<directory>/report.json` when given a directory.
    public static func read(from path: String) throws -> BenchReport {
        var isDirectory: ObjCBool = false
        let file = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? (path as NSString).appendingPathComponent(fileName) : path
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            let reason = FileManager.default.fileExists(atPath: file) ? error.localizedDescription : "no such file"
            throw ReportFileError.unreadable(path: file, reason: reason)
        }
        return try decode(data, path: file)
    }

    /// Writes `report.json` atomically into `directory`; returns its path.
    @discardableResult
    public static func write(_ report: BenchReport, toDirectory directory: String) throws -> String {
        let path = (directory as NSString).appendingPathComponent(fileName)
        try ReportFiles.write(encode(report, path: path), to: path)
        return path
    }

    static func describe(_ error: DecodingError) -> String {
        func at(_ path: [any CodingKey]) -> String {
            let text = path.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
            return text.isEmpty ? "the top level" : String(text.drop { $0 == "." })
        }
        switch error {
        case let .keyNotFound(key, context):
            let parent = at(context.codingPath)
            return "missing key \"\(key.stringValue)\"" + (context.codingPath.isEmpty ? "" : " in \(parent)")
        case let .typeMismatch(type, context):
            return "\(at(context.codingPath)): expected \(kind(type))"
        case let .valueNotFound(type, context):
            return "\(at(context.codingPath)): expected \(kind(type)), found null"
        case let .dataCorrupted(context):
            guard context.codingPath.isEmpty else { return "\(at(context.codingPath)): \(context.debugDescription)" }
            return context.underlyingError.map { "not valid JSON (\($0))" } ?? "not valid JSON"
        @unknown default:
            return String(describing: error)
        }
    }

    /// JSON words for the Swift type a key should have held.
    private static func kind(_ type: Any.Type) -> String {
        let name = String(describing: type)
        if name.hasPrefix("Dictionary") || type == BenchReport.self || name.hasSuffix("Summary")
            || type == MachineInfo.self || type == Floor.self || type == RecoveryTimes.self
            || type == BenchResult.self || type == ReportBackend.self || type == ReportConfig.self {
            return "an object"
        }
        if name.hasPrefix("Array") { return "an array" }
        switch name {
        case "String": return "a string"
        case "Bool": return "true or false"
        case "Double", "Float": return "a number"
        case "Int", "Int64", "UInt64", "UInt", "Int32": return "an integer"
        default: return name
        }
    }

    static func describe(_ error: EncodingError) -> String {
        switch error {
        case let .invalidValue(value, context):
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return "\(path.isEmpty ? "value" : String(path.drop { $0 == "." })) = \(value) cannot be written as JSON"
        @unknown default:
            return String(describing: error)
        }
    }
}
