import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Where the binary under test and the example configs are.
enum RaftLabPaths {
    /// The `raftlab` executable next to the test bundle (`swift build --build-tests` builds both).
    static let binary: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("raftlab").path
    }()

    /// The package checkout: this file is Tests/EndToEndTests/Support/Workspace.swift.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func example(_ name: String) throws -> String {
        let path = packageRoot.appendingPathComponent("examples").appendingPathComponent(name).path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw TestFailure("cannot read \(path)")
        }
        return text
    }
}

/// What one `raftlab` client command did.
struct CLIResult: Sendable, CustomStringConvertible {
    var arguments: [String]
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String {
        "raftlab \(arguments.map(Self.quote).joined(separator: " ")) -> exit \(status)\n  stdout: \(stdout)\n  stderr: \(stderr)"
    }

    /// stdout without the trailing newline `print` adds.
    var output: String {
        var text = stdout
        while text.last?.isNewline == true { text.removeLast() }
        return text
    }

    static func quote(_ word: String) -> String {
        word.allSatisfy { $0.isLetter || $0.isNumber || "-_.:/=".contains($0) } ? word : "'" + word + "'"
    }
}

/// One test's temporary directory and the processes it started: `remove()`
/// in a `defer` ends every process still running and deletes the directory.
final class Workspace: Sendable {
    let root: String
    let processes = ProcessGroup()
    private let counter = Atomic<Int>(0)

    init(_ label: String) throws {
        guard FileManager.default.isExecutableFile(atPath: RaftLabPaths.binary) else {
            throw TestFailure("no raftlab executable at \(RaftLabPaths.binary); build it with swift build --build-tests")
        }
        let safe = String(label.map { $0.isLetter || $0.isNumber ? $0 : "-" })
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("raftlab-e2e-\(safe)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
    }

    /// Ends every process still running (SIGTERM, then SIGKILL) and deletes the directory.
    func remove() {
        processes.stopAllBlocking()
        try? FileManager.default.removeItem(atPath: root)
    }

    private func nextNumber() -> Int { counter.add(1, ordering: .relaxed).newValue }

    /// Starts `raftlab arguments` as a long-running process (a server), logging to files named after `name`.
    func spawn(_ name: String, _ arguments: [String]) throws -> ChildProcess {
        let base = "\(root)/out/\(name)-\(nextNumber())"
        let child = try ChildProcess(
            name: name, executable: RaftLabPaths.binary, arguments: arguments,
            stdoutPath: base + ".out", stderrPath: base + ".err")
        processes.add(child)
        return child
    }

    /// How many lines of the servers' logs so far contain `text`.
    func serverLogLines(containing text: String) -> Int {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: root + "/out")) ?? []
        return files.filter { !$0.hasPrefix("cli-") && $0.hasSuffix(".err") }.reduce(0) { count, file in
            let log = (try? String(contentsOfFile: root + "/out/" + file, encoding: .utf8)) ?? ""
            return count + log.split(separator: "\n").filter { $0.contains(text) }.count
        }
    }

    /// Runs a `raftlab` client command to completion. `--timeout` (the
    /// command's own deadline) is added when `arguments` has none (and the
    /// command takes one: `passTimeout`); a command
    /// still running 15 s after it is killed and fails the test.
    func cli(_ arguments: [String], timeout: Double = 10, passTimeout: Bool = true) async throws -> CLIResult {
        let full = arguments.contains("--timeout") || !passTimeout ? arguments : arguments + ["--timeout", String(timeout)]
        let number = nextNumber()
        let base = "\(root)/out/cli-\(number)"
        let child = try ChildProcess(
            name: "cli-\(number)", executable: RaftLabPaths.binary, arguments: full,
            stdoutPath: base + ".out", stderrPath: base + ".err")
        processes.add(child)
        guard let status = await child.waitForExit(timeout: .seconds(timeout + 15)) else {
            await _ = child.stop(grace: .seconds(1))
            let stdout = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
            let stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
            throw TestFailure(
                "raftlab \(full.joined(separator: " ")) did not exit within \(timeout + 15) s\n    stdout: \(stdout.suffix(2000))\n    stderr: \(stderr.suffix(2000))")
        }
        let stdout = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".err")
        return CLIResult(arguments: full, status: status, stdout: stdout, stderr: stderr)
    }
}

/// Local TCP ports for the clusters under test. They come from 20000-32767,
/// below Linux's ephemeral range (32768-60999), so no outgoing connection
/// takes one while a killed node is down; each is checked free by binding it
/// on 127.0.0.1 and handed out once per test process.
enum Ports {
    private static let next = Mutex<Int>(20_000 + Int(getpid() % 1000) * 12)

    static func allocate(_ count: Int) throws -> [Int] {
        try next.withLock { next in
            var ports: [Int] = []
            var tried = 0
            while ports.count < count {
                tried += 1
                guard tried < 2000 else { throw TestFailure("no free local ports found") }
                let port = next
                next = next + 1 >= 32_768 ? 20_000 : next + 1
                if isFree(port) { ports.append(port) }
            }
            return ports
        }
    }

    private static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result == 0
    }
}
