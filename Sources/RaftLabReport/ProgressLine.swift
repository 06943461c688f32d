#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A one-line progress display for `raftlab bench`: phase, n/total and
/// percentage, redrawn in place on a terminal. When stderr is not a TTY (CI,
/// a pipe, a log file) it prints nothing at all, so logs are not flooded
/// with carriage returns. Safe to call from many tasks; redraws are
/// throttled so reporting every operation costs almost nothing.
public final class ProgressLine: Sendable {
    private struct State: Sendable {
        var phase = ""
        var total = 0
        var completed = 0
        var lineOpen = false
        var lastPercent = -1
        var lastDraw: ContinuousClock.Instant?
    }

    /// False when output is not a terminal: every call is then a no-op.
    public let isEnabled: Bool
    private let minimumInterval: Duration
    private let output: @Sendable (String) -> Void
    private let state = Mutex(State())

    /// - Parameters:
    ///   - isTerminal: whether to draw; defaults to whether stderr is a TTY.
    ///   - minimumInterval: least time between redraws with the same percentage.
    ///   - output: where text goes; defaults to stderr (tests pass a sink).
    public init(
        isTerminal: Bool = isatty(STDERR_FILENO) == 1,
        minimumInterval: Duration = .milliseconds(100),
        output: @escaping @Sendable (String) -> Void = ProgressLine.writeToStandardError
    ) {
        isEnabled = isTerminal
        self.minimumInterval = minimumInterval
        self.output = output
    }

    /// Starts a phase ("lmdb/lmdb c=8 writes") of `total` steps (0: unknown).
    /// A line left by the previous phase is ended, so finished phases stay visible.
    public func start(_ phase: String, total: Int) {
        guard isEnabled else { return }
        state.withLock { state in
            let prefix = state.lineOpen ? "\n" : ""
            state = State(phase: phase, total: Swift.max(0, total))
            output(prefix + draw(&state, now: ContinuousClock.now))
        }
    }

    /// Adds `steps` completed steps.
    public func advance(by steps: Int = 1) {
        guard isEnabled else { return }
        update { $0 + steps }
    }

    /// Sets the completed count.
    public func update(completed: Int) {
        guard isEnabled else { return }
        update { _ in completed }
    }

    /// Draws the final state of the phase and ends its line.
    public func finish() {
        guard isEnabled else { return }
        state.withLock { state in
            guard state.lineOpen else { return }
            output(draw(&state, now: ContinuousClock.now) + "\n")
            state.lineOpen = false
        }
    }

    private func update(_ change: (Int) -> Int) {
        let now = ContinuousClock.now
        // Written under the lock: lines from racing tasks must not land out of order.
        state.withLock { state in
            state.completed = Swift.max(0, change(state.completed))
            let percent = Self.percent(state)
            let due = state.lastDraw.map { now - $0 >= minimumInterval } ?? true
            let done = state.total > 0 && state.completed >= state.total
            guard percent != state.lastPercent || due || done else { return }
            output(draw(&state, now: now))
        }
    }

    private func draw(_ state: inout State, now: ContinuousClock.Instant) -> String {
        state.lineOpen = true
        state.lastPercent = Self.percent(state)
        state.lastDraw = now
        return "\r\u{1B}[2K" + Self.line(phase: state.phase, completed: state.completed, total: state.total)
    }

    /// "phase  n/total  pct%", or "phase  n" when the total is unknown.
    static func line(phase: String, completed: Int, total: Int) -> String {
        guard total > 0 else { return "\(phase)  \(completed)" }
        let percent = Swift.min(100, completed * 100 / total)
        return "\(phase)  \(completed)/\(total)  \(percent)%"
    }

    private static func percent(_ state: State) -> Int {
        state.total > 0 ? Swift.min(100, state.completed * 100 / state.total) : state.completed
    }

    public static let writeToStandardError: @Sendable (String) -> Void = { text in
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}
