import Foundation
import Linearizability
import NoSQL
import Synchronization

/// How an operation ended, as Jepsen says it: `ok` (it happened, with this
/// result), `fail` (it certainly did not happen), `info` (nobody knows).
public enum OperationOutcome: Sendable, Hashable {
    case ok(RegisterResult)
    case fail(String)
    case info(String)

    public var type: String {
        switch self {
        case .ok: "ok"
        case .fail: "fail"
        case .info: "info"
        }
    }
}

/// One client operation of a run, from invocation to its final answer.
public struct ChaosOperation: Sendable {
    public var id: Int
    /// The client number; final reads after recovery use client 0... as `final`.
    public var client: Int
    public var key: String
    public var call: RegisterCall
    /// Nanoseconds since the run started, on the monotonic clock.
    public var invokedAt: UInt64
    public var completedAt: UInt64
    public var outcome: OperationOutcome
    /// The node that gave the final answer (or was tried last).
    public var node: UInt64
    /// HTTP requests made (a write is retried with its idempotency key).
    public var attempts: Int
    /// Final reads after recovery, not part of the measured load.
    public var isFinalRead = false

    public var latencyNanoseconds: UInt64 { completedAt - invokedAt }

    /// The operation as the checker reads it, or nil when it constrains
    /// nothing: failed operations, and reads without an answer.
    public var checkerOperation: RegisterOperation? {
        let result: RegisterResult
        switch outcome {
        case .ok(let value): result = value
        case .fail: return nil
        case .info:
            guard call.isWrite else { return nil }
            result = .unknown
        }
        return RegisterOperation(
            id: id, client: client, key: key, call: call, result: result, invokedAt: invokedAt, completedAt: completedAt)
    }
}

/// Collects operations from every client, thread-safe, and writes them as
/// `history.jsonl`: one invoke line and one completion line per operation,
/// in time order, as Jepsen's histories read.
public final class HistoryRecorder: Sendable {
    private let clock = ContinuousClock()
    public let start: ContinuousClock.Instant
    private let operations = Mutex<[ChaosOperation]>([])
    private let nextID = Atomic<Int>(0)

    public init() {
        start = clock.now
    }

    /// Nanoseconds since the run started.
    public func now() -> UInt64 {
        Self.nanoseconds(clock.now - start)
    }

    public func seconds(at nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e9 }

    public func newID() -> Int { nextID.add(1, ordering: .relaxed).oldValue }

    public func record(_ operation: ChaosOperation) {
        operations.withLock { $0.append(operation) }
    }

    public var count: Int { operations.withLock { $0.count } }

    public var all: [ChaosOperation] {
        operations.withLock { $0 }.sorted { $0.invokedAt < $1.invokedAt }
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }

    /// The JSON lines of `history.jsonl`.
    public static func jsonLines(_ operations: [ChaosOperation]) -> String {
        var events: [(time: UInt64, order: Int, line: String)] = []
        for operation in operations {
            var invoke: [String: JSONValue] = [
                "type": "invoke", "op": JSONValue(operation.id),
                "process": JSONValue(operation.isFinalRead ? "final" : String(operation.client)),
                "f": JSONValue(name(of: operation.call)), "key": JSONValue(operation.key), "time_ns": JSONValue(operation.invokedAt),
            ]
            if let value = operation.call.writtenValue { invoke["value"] = JSONValue(value) }
            if case .compareAndSet(let expected, _) = operation.call { invoke["expected_version"] = JSONValue(expected) }
            var done = invoke
            done["type"] = JSONValue(operation.outcome.type)
            done["time_ns"] = JSONValue(operation.completedAt)
            done["node"] = JSONValue(operation.node)
            done["attempts"] = JSONValue(operation.attempts)
            switch operation.outcome {
            case .ok(let result): done.merge(describe(result)) { _, new in new }
            case .fail(let why), .info(let why): done["error"] = JSONValue(why)
            }
            events.append((operation.invokedAt, 0, json(invoke)))
            events.append((operation.completedAt, 1, json(done)))
        }
        events.sort { $0.time != $1.time ? $0.time < $1.time : $0.order < $1.order }
        return events.map(\.line).joined(separator: "\n") + (events.isEmpty ? "" : "\n")
    }

    static func name(of call: RegisterCall) -> String {
        switch call {
        case .read: "read"
        case .put: "put"
        case .compareAndSet: "cas"
        case .delete: "delete"
        }
    }

    static func describe(_ result: RegisterResult) -> [String: JSONValue] {
        switch result {
        case let .value(value, version): ["result": "value", "read_value": JSONValue(value), "version": JSONValue(version)]
        case .absent: ["result": "absent"]
        case .written(let version): ["result": "written", "version": JSONValue(version)]
        case .conflict: ["result": "conflict"]
        case let .deleted(value, version): ["result": "deleted", "deleted_value": JSONValue(value), "version": JSONValue(version)]
        case .notFound: ["result": "not_found"]
        case .unknown: ["result": "unknown"]
        }
    }

    static func json(_ object: [String: JSONValue]) -> String {
        ReportJSONText.text(JSONValue(object), pretty: false)
    }
}
