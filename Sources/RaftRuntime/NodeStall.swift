/// Why a node has stopped making progress for now, and since which index.
///
/// A stall is the environment's doing (a full disk, an I/O error), never an
/// entry's: the node keeps its log and its place in the cluster, refuses new
/// proposals (`RaftError.unavailable`), retries with a backoff, and resumes by
/// itself once the store takes the write again (or after a restart, for an
/// engine that stays failed once a write failed, such as LevelDB).
public struct NodeStall: Sendable, Hashable, CustomStringConvertible {
    public enum Stage: String, Sendable, Hashable {
        /// Committed entries cannot be applied to the state store.
        case apply
        /// The log (entries, hard state, or an installed snapshot) cannot be written.
        case log
    }

    public var stage: Stage
    /// The first index that waits: the batch being applied, or the entries being appended.
    public var index: UInt64
    /// What the store said.
    public var error: String
    /// Attempts so far, the first one included.
    public var attempts: Int

    public init(stage: Stage, index: UInt64, error: String, attempts: Int) {
        self.stage = stage
        self.index = index
        self.error = error
        self.attempts = attempts
    }

    public var description: String {
        switch stage {
        case .apply: "applying is stalled at index \(index) (\(error)); retrying"
        case .log: "log writes are stalled at index \(index) (\(error)); retrying"
        }
    }
}
