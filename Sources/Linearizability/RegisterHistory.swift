/// The operations a linearizability check reads: each one a call on one key
/// of a versioned register (an item of the NoSQL store), with what came back.
///
/// The register holds nothing (absent) or a value with a version; versions
/// are the log indexes of the writes that made each value current, so they
/// grow with every write. Values written must be unique per key (the chaos
/// runner writes `client-sequence` strings): a read then names the write it
/// saw, and the checker can learn the version of a write whose
/// acknowledgement never arrived from any read that saw its value.
public enum RegisterCall: Sendable, Hashable, Codable {
    /// A linearizable (strong) read.
    case read
    /// An unconditional write.
    case put(value: String)
    /// A write only if the current version is `expected`; 0 means "only if absent".
    case compareAndSet(expected: UInt64, value: String)
    /// An unconditional delete.
    case delete

    /// The value this call writes, if it writes one.
    public var writtenValue: String? {
        switch self {
        case .put(let value), .compareAndSet(_, let value): value
        case .read, .delete: nil
        }
    }

    public var isWrite: Bool {
        if case .read = self { return false }
        return true
    }
}

/// What a completed call returned. `.unknown` is an operation whose outcome
/// the client never learnt (a timeout, a 504 `outcome_unknown`, a lost
/// connection): it may or may not have taken effect, at any time after it
/// was invoked.
public enum RegisterResult: Sendable, Hashable, Codable {
    /// A read saw `value` at `version`.
    case value(String, version: UInt64)
    /// A read saw no item.
    case absent
    /// A put or a compare-and-set took effect, making its value current at `version`.
    case written(version: UInt64)
    /// A compare-and-set whose expected version did not match: nothing changed.
    case conflict
    /// A delete removed `value`, which was current at `version`.
    case deleted(String, version: UInt64)
    /// A delete found no item: nothing changed.
    case notFound
    /// The outcome is unknown.
    case unknown
}

/// One operation of a history: who called what on which key, when it was
/// invoked and when its answer arrived (monotonic nanoseconds), and the answer.
/// Operations that certainly did not take effect (a 503, a redirect, a refused
/// connection) are not part of a history the checker reads; reads whose
/// answer never came constrain nothing and are left out too.
public struct RegisterOperation: Sendable, Hashable, Codable, Identifiable {
    /// Unique within the history (the runner's operation number).
    public var id: Int
    public var client: Int
    public var key: String
    public var call: RegisterCall
    public var result: RegisterResult
    public var invokedAt: UInt64
    /// When the answer arrived; nil for `.unknown` results, which may take
    /// effect at any later time (their completion is at +infinity).
    public var completedAt: UInt64?

    public init(
        id: Int, client: Int, key: String, call: RegisterCall, result: RegisterResult, invokedAt: UInt64,
        completedAt: UInt64?
    ) {
        self.id = id
        self.client = client
        self.key = key
        self.call = call
        self.result = result
        self.invokedAt = invokedAt
        self.completedAt = result == .unknown ? nil : completedAt
    }

    /// True when the outcome is unknown (an "info" operation).
    public var isIndeterminate: Bool { result == .unknown }

    /// The value this operation shows was current at some point (read or deleted).
    public var observedValue: (value: String, version: UInt64)? {
        switch result {
        case let .value(value, version), let .deleted(value, version): (value, version)
        default: nil
        }
    }
}
