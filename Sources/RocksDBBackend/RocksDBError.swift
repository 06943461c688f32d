import CRocksDB
import StorageCore

/// RocksDB reports errors as malloc'd strings through an out-pointer. This is
/// the one place that frees them and turns them into `StorageError`s.
enum RocksDBError {
    static let backend = "rocksdb"

    /// Runs a C call that takes `char** errptr`, and throws what it reported.
    static func call<R>(
        _ operation: @autoclosure () -> String, directory: String,
        _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R
    ) throws -> R {
        var message: UnsafeMutablePointer<CChar>? = nil
        let result = body(&message)
        if let reported = message {
            let text = String(cString: reported)
            rocksdb_free(reported)
            message = nil
            throw error(text, operation(), directory: directory)
        }
        return result
    }

    /// RocksDB's own checksum failures ("Corruption: ...") are data errors,
    /// not engine failures, so they surface as `.corrupted` like ours do.
    static func error(_ text: String, _ operation: String, directory: String) -> StorageError {
        if text.hasPrefix("Corruption:") {
            return .corrupted(path: directory, reason: "\(operation): \(text)")
        }
        return .engine(backend: backend, message: "\(operation): \(text)")
    }
}

/// Lends `bytes` to C as a `const char*` and a length for the duration of `body`.
func withChars<R>(_ bytes: Bytes, _ body: (UnsafePointer<CChar>?, Int) throws -> R) rethrows -> R {
    try bytes.withUnsafeBufferPointer { buffer in
        try buffer.withMemoryRebound(to: CChar.self) { chars in try body(chars.baseAddress, chars.count) }
    }
}

/// Copies `count` bytes RocksDB lent us (they die with the next iterator move).
func copyBytes(_ pointer: UnsafePointer<CChar>?, _ count: Int) -> Bytes {
    guard count > 0, let pointer else { return [] }
    return Bytes(UnsafeRawBufferPointer(start: pointer, count: count))
}
