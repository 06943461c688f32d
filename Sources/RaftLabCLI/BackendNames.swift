import RaftLabBackends
import StorageCore

/// Backend names for help texts, read from the registry, so a new engine
/// appears in `--help` by being registered (no hand-kept lists).
enum BackendNames {
    /// Backends that provide both stores, "a, b, c".
    static var bothStores: String {
        let registry = BackendRegistry.standard
        let states = Set(registry.names(providing: .state))
        return registry.names(providing: .log).filter(states.contains).joined(separator: ", ")
    }

    /// Backends that provide only a log store, "a, b" (empty when none).
    static var logOnly: String {
        let registry = BackendRegistry.standard
        let states = Set(registry.names(providing: .state))
        return registry.names(providing: .log).filter { !states.contains($0) }.joined(separator: ", ")
    }
}
