/// Why a benchmark, or a cluster of node processes it (or `raftlab chaos`)
/// started, failed. Lives beside `ProcessCluster`, which throws it, so the
/// bench and the chaos runner share it without the chaos runner linking the
/// bench.
public enum BenchError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidOption(String)
    case failed(String)

    public var description: String {
        switch self {
        case .invalidOption(let message): "invalid option: \(message)"
        case .failed(let message): "benchmark failed: \(message)"
        }
    }
}
