import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The node processes a TCP benchmark or a chaos run has spawned, so none outlives it.
///
/// Normal exits stop them through `ProcessCluster.shutdown()`. This covers
/// the benchmark itself being told to stop (Ctrl-C, SIGTERM, SIGHUP): the
/// handler SIGKILLs every registered child, removes the registered scratch
/// directories and exits with 128 + the signal number, as the default action
/// would have.
public final class ChildProcesses: Sendable {
    public static let shared = ChildProcesses()

    private struct State {
        var pids: Set<pid_t> = []
        var directories: Set<String> = []
        var sources: [any DispatchSourceSignal] = []
    }

    private let state = Mutex(State())
    private static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    func register(_ pid: pid_t) {
        installHandlers()
        state.withLock { _ = $0.pids.insert(pid) }
    }

    func unregister(_ pid: pid_t) {
        state.withLock { _ = $0.pids.remove(pid) }
    }

    /// Removes `directory` if a signal ends the benchmark.
    public func removeOnSignal(_ directory: String) {
        installHandlers()
        state.withLock { _ = $0.directories.insert(directory) }
    }

    public func forget(_ directory: String) {
        state.withLock { _ = $0.directories.remove(directory) }
    }

    /// Installs the signal handlers once per process.
    private func installHandlers() {
        state.withLock { state in
            guard state.sources.isEmpty else { return }
            for number in Self.signals {
                // The default action would end the process before the handler runs.
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { [self] in self.terminate(signal: number) }
                source.resume()
                state.sources.append(source)
            }
        }
    }

    private func terminate(signal number: Int32) {
        let (pids, directories) = state.withLock { ($0.pids, $0.directories) }
        for pid in pids { kill(pid, SIGKILL) }
        for pid in pids {
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        for directory in directories { try? FileManager.default.removeItem(atPath: directory) }
        FileHandle.standardError.write(Data("raftlab: stopped by signal \(number); node processes killed\n".utf8))
        exit(128 + number)
    }
}

/// Loopback ports free a moment ago, all held open together so no two are
/// the same, then released; the node processes bind them again at once
/// (their listeners set SO_REUSEADDR). They are drawn at random from
/// 20000-32767, below Linux's ephemeral range (32768-60999): a port the OS
/// hands out for port 0 can be handed out again at once as the local port of
/// some outgoing connection, and a node's bind would then fail.
enum FreePorts {
    static func pick(_ count: Int) throws -> [Int] {
        var descriptors: [Int32] = []
        defer { for fd in descriptors { close(fd) } }
        var ports: [Int] = []
        var attempts = 0
        while ports.count < count {
            attempts += 1
            guard attempts <= 100 * count + 100 else {
                throw BenchError.failed("cannot find \(count) free loopback ports in 20000-32767 (errno \(errno))")
            }
            #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
            #endif
            guard fd >= 0 else { throw BenchError.failed("cannot open a socket to find a free port (errno \(errno))") }
            let candidate = UInt16.random(in: 20000...32767)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = candidate.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard bound else {
                close(fd)
                continue
            }
            descriptors.append(fd)
            ports.append(Int(candidate))
        }
        return ports
    }
}
