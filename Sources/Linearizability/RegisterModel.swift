/// The sequential specification of one key: a register with versions,
/// compare-and-set and delete, compiled for the search.
///
/// A state is the write that made the current value (an index into the
/// key's operations), or `absent`. Since written values are unique, a read
/// names the write it saw, and a write's version is its acknowledgement's
/// or, for a write whose answer never came, the version any read reported
/// with its value. A version nobody reported stays unknown; it then matches
/// no compare-and-set's expected version, which is sound because a client
/// only ever expects a version it has seen, and each write has its own.
struct RegisterModel {
    static let absent: Int32 = -1
    /// Observes a value no operation of the history wrote.
    static let neverWritten: Int32 = -2

    let operations: [RegisterOperation]
    /// For an operation that writes a value, that write's version if known.
    private var versions: [UInt64?]
    /// For an operation that observes a value, the index of its writer (or `neverWritten`).
    private var observedWriter: [Int32]

    init(_ operations: [RegisterOperation]) throws(HistoryError) {
        self.operations = operations
        var writerOf: [String: Int] = [:]
        versions = Array(repeating: nil, count: operations.count)
        observedWriter = Array(repeating: Self.neverWritten, count: operations.count)
        for (index, operation) in operations.enumerated() {
            try Self.validate(operation)
            guard let value = operation.call.writtenValue else { continue }
            if let other = writerOf[value] {
                throw .duplicateValue(key: operation.key, value: value, operations: [operations[other].id, operation.id])
            }
            writerOf[value] = index
            if case .written(let version) = operation.result { versions[index] = version }
        }
        for (index, operation) in operations.enumerated() {
            guard let (value, version) = operation.observedValue, let writer = writerOf[value] else { continue }
            observedWriter[index] = Int32(writer)
            if versions[writer] == nil { versions[writer] = version }
        }
    }

    private static func validate(_ operation: RegisterOperation) throws(HistoryError) {
        let fits: Bool
        switch (operation.call, operation.result) {
        case (.read, .value), (.read, .absent): fits = true
        case (.put, .written), (.put, .unknown): fits = true
        case (.compareAndSet, .written), (.compareAndSet, .conflict), (.compareAndSet, .unknown): fits = true
        case (.delete, .deleted), (.delete, .notFound), (.delete, .unknown): fits = true
        default: fits = false
        }
        guard fits else { throw .resultDoesNotFitCall(operation: operation.id) }
        if let completed = operation.completedAt, completed < operation.invokedAt {
            throw .completedBeforeInvoked(operation: operation.id)
        }
    }

    private func version(of state: Int32) -> UInt64? {
        state >= 0 ? versions[Int(state)] : nil
    }

    /// Whether the register in `state` passes a compare-and-set expecting `expected`.
    private func matches(_ state: Int32, expected: UInt64) -> Bool {
        expected == 0 ? state == Self.absent : (state >= 0 && version(of: state) == expected)
    }

    /// Versions are log indexes: a write linearized after another has a larger one.
    private func follows(_ state: Int32, version: UInt64?) -> Bool {
        guard let version, let current = self.version(of: state) else { return true }
        return version > current
    }

    /// Whether `state` shows what operation `index` observed.
    private func shows(_ state: Int32, observedBy index: Int) -> Bool {
        guard state >= 0, state == observedWriter[index], let (_, seen) = operations[index].observedValue else {
            return false
        }
        return version(of: state).map { $0 == seen } ?? true
    }

    /// The state after operation `index` takes effect in `state` with the
    /// result it reported, or nil if it cannot have done so.
    func step(_ state: Int32, _ index: Int) -> Int32? {
        let operation = operations[index]
        let me = Int32(index)
        switch (operation.call, operation.result) {
        case (.read, .value):
            return shows(state, observedBy: index) ? state : nil
        case (.read, .absent), (.delete, .notFound):
            return state == Self.absent ? state : nil
        case (.put, .written(let version)):
            return follows(state, version: version) ? me : nil
        case (.put, _):
            return follows(state, version: versions[index]) ? me : nil
        case (.compareAndSet(let expected, _), .written(let version)):
            return matches(state, expected: expected) && follows(state, version: version) ? me : nil
        case (.compareAndSet(let expected, _), .conflict):
            return matches(state, expected: expected) ? nil : state
        case (.compareAndSet(let expected, _), _):
            // Unknown: it swapped if its expectation held, else it was a conflict.
            guard matches(state, expected: expected) else { return state }
            return follows(state, version: versions[index]) ? me : nil
        case (.delete, .deleted):
            return shows(state, observedBy: index) ? Self.absent : nil
        case (.delete, _):
            return Self.absent
        default:
            return nil
        }
    }

    /// The register's content in `state`, for explanations.
    func describe(_ state: Int32) -> String {
        guard state >= 0, let value = operations[Int(state)].call.writtenValue else { return "absent" }
        return version(of: state).map { "\(value) at version \($0)" } ?? "\(value) at an unknown version"
    }
}

/// A history the checker cannot read.
public enum HistoryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Two writes of one key wrote the same value: reads could not tell them apart.
    case duplicateValue(key: String, value: String, operations: [Int])
    /// A result that the call cannot return (a read answered "written").
    case resultDoesNotFitCall(operation: Int)
    case completedBeforeInvoked(operation: Int)

    public var description: String {
        switch self {
        case let .duplicateValue(key, value, operations):
            "operations \(operations.map(String.init).joined(separator: " and ")) both wrote \(value) to key \(key); the checker needs unique values per key"
        case .resultDoesNotFitCall(let operation): "operation \(operation) has a result its call cannot return"
        case .completedBeforeInvoked(let operation): "operation \(operation) completed before it was invoked"
        }
    }
}
