import Dispatch

/// A serial queue for blocking store calls (writes and fsyncs). Work runs in
/// order, on a Dispatch thread rather than Swift's cooperative pool, and the
/// caller suspends until it is done.
final class BlockingIOQueue: Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
    }

    @discardableResult
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
