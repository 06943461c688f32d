/// The error convention of the LevelDB and RocksDB C APIs: a call that can
/// fail takes a `char** errptr` and reports failure as a malloc'd message
/// through it. A backend names its engine and how to free a message; this is
/// the one place that frees messages and turns them into `StorageError`s, so
/// no call site can leak a message or forget to reset the pointer.
public protocol CErrorOutPointer {
    /// The backend named in `.engine` errors.
    static var backend: String { get }
    /// Frees a message the library reported (`leveldb_free`, `rocksdb_free`).
    static func free(_ message: UnsafeMutablePointer<CChar>)
}

extension CErrorOutPointer {
    /// Runs a C call that takes `char** errptr`, and throws what it reported.
    public static func call<R>(
        _ operation: @autoclosure () -> String, directory: String,
        _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R
    ) throws -> R {
        var message: UnsafeMutablePointer<CChar>? = nil
        let result = body(&message)
        if let reported = message {
            let text = String(cString: reported)
            Self.free(reported)
            message = nil
            throw Self.error(text, operation(), directory: directory)
        }
        return result
    }

    /// The engine's own checksum failures ("Corruption: ...") are data
    /// errors, not engine failures, so they surface as `.corrupted` like ours do.
    public static func error(_ text: String, _ operation: String, directory: String) -> StorageError {
        if text.hasPrefix("Corruption:") {
            return .corrupted(path: directory, reason: "\(operation): \(text)")
        }
        return .engine(backend: backend, message: "\(operation): \(text)")
    }
}

/// Lends `bytes` to C as a `const char*` and a length for the duration of `body`.
public func withChars<R>(_ bytes: Bytes, _ body: (UnsafePointer<CChar>?, Int) throws -> R) rethrows -> R {
    try bytes.withUnsafeBufferPointer { buffer in
        try buffer.withMemoryRebound(to: CChar.self) { chars in try body(chars.baseAddress, chars.count) }
    }
}

/// Copies `count` bytes a C library lent us (an iterator's key or value dies
/// with its next move).
public func copyBytes(_ pointer: UnsafePointer<CChar>?, _ count: Int) -> Bytes {
    guard count > 0, let pointer else { return [] }
    return Bytes(UnsafeRawBufferPointer(start: pointer, count: count))
}
