import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A spawned process whose output goes to files (no pipe can fill up and
/// block it), and whose exit is recorded by Foundation's termination handler.
final class ChildProcess: @unchecked Sendable {
    // @unchecked: `process` is only touched in `init` (before `run`) and
    // through `pid`; everything mutable afterwards is in `exit`.
    let name: String
    let stdoutPath: String
    let stderrPath: String
    private let process: Process
    private let exit: Mutex<Int32?>

    /// Starts `executable arguments`, stdout and stderr appended to the two files.
    init(name: String, executable: String, arguments: [String], stdoutPath: String, stderrPath: String) throws {
        self.name = name
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
        for path in [stdoutPath, stderrPath] where !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let out = FileHandle(forWritingAtPath: stdoutPath), let err = FileHandle(forWritingAtPath: stderrPath) else {
            throw TestFailure("cannot open \(stdoutPath) or \(stderrPath) for writing")
        }
        defer {
            try? out.close()
            try? err.close()
        }
        out.seekToEndOfFile()
        err.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        exit = Mutex(nil)
        self.process = process
        process.terminationHandler = { [weak self] finished in
            // A signal death is reported as 128 + signal, as a shell would.
            let status = finished.terminationReason == .uncaughtSignal ? 128 + finished.terminationStatus : finished.terminationStatus
            self?.exit.withLock { $0 = status }
        }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// The exit status (128 + signal for a signal death), nil while running.
    var exitStatus: Int32? { exit.withLock { $0 } }
    var isRunning: Bool { exitStatus == nil }

    /// Waits until the process exits or `timeout` passes; the status, or nil if still running.
    @discardableResult
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = exitStatus { return status }
            do { try await Task.sleep(for: .milliseconds(5)) } catch { break }
        }
        return exitStatus
    }

    func signal(_ number: Int32) {
        if isRunning { _ = kill(pid, number) }
    }

    /// SIGTERM (unless the caller already sent it), then SIGKILL if it has not
    /// exited within `grace`. The exit status after SIGTERM, or nil when it needed SIGKILL.
    func stop(grace: Duration = .seconds(10), sendTerm: Bool = true) async -> Int32? {
        if sendTerm { signal(SIGTERM) }
        if let status = await waitForExit(timeout: grace) { return status }
        signal(SIGKILL)
        await waitForExit(timeout: .seconds(5))
        return nil
    }

    /// The same, blocking the caller: for `defer` blocks, which cannot await.
    func stopBlocking(grace: Duration = .seconds(3)) {
        guard isRunning else { return }
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning, ContinuousClock.now < deadline { usleep(5_000) }
        guard isRunning else { return }
        signal(SIGKILL)
        let killDeadline = ContinuousClock.now + .seconds(5)
        while isRunning, ContinuousClock.now < killDeadline { usleep(5_000) }
    }

    /// The last `lines` lines of the process's stderr, for failure messages.
    func stderrTail(lines: Int = 15) -> String {
        let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

/// Every process a test started, so a `defer` can end whatever is still
/// running whichever way the test leaves.
final class ProcessGroup: Sendable {
    private let children = Mutex<[ChildProcess]>([])

    func add(_ child: ChildProcess) {
        children.withLock { $0.append(child) }
    }

    /// SIGTERM then SIGKILL to everything still running; blocks (for `defer`).
    func stopAllBlocking() {
        let running = children.withLock { $0.filter(\.isRunning) }
        for child in running { child.signal(SIGTERM) }
        for child in running { child.stopBlocking() }
    }
}

/// A test precondition that did not hold: thrown to end the test with a message.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
