import CLMDB
import StorageCore

/// Turns LMDB return codes into `StorageError`s in one place, so that every
/// call site reports the library's own message and a full map always becomes
/// the actionable `.full` instead of a generic engine error.
enum LMDBError {
    static let backend = "lmdb"

    static func check(_ rc: Int32, _ operation: @autoclosure () -> String, env: OpaquePointer?) throws {
        guard rc != 0 else { return }
        throw error(rc, operation(), env: env)
    }

    static func error(_ rc: Int32, _ operation: String, env: OpaquePointer?) -> StorageError {
        if rc == MDB_MAP_FULL {
            return .full(
                backend: backend,
                detail: "\(operation): the LMDB map of \(mapSize(env).map { "\($0) bytes" } ?? "unknown size") is full; "
                    + "raise the lmdb setting map_size (bytes) and reopen the store")
        }
        return .engine(backend: backend, message: "\(operation): \(message(rc))")
    }

    static func message(_ rc: Int32) -> String {
        guard let text = mdb_strerror(rc) else { return "error \(rc)" }
        return String(cString: text)
    }

    /// The map size in force, which may exceed the configured one when the
    /// data file was already larger at open (LMDB then grows the map to fit).
    private static func mapSize(_ env: OpaquePointer?) -> Int? {
        guard let env else { return nil }
        var info = MDB_envinfo()
        guard mdb_env_info(env, &info) == 0 else { return nil }
        return info.me_mapsize
    }
}
