#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Measures the machine's floor in the same run as the benchmark: what one
/// small durable append and one loopback round trip cost right now, on this
/// filesystem. A Raft write needs at least one of each, so a backend's
/// latency divided by the floor says how much the engine itself adds, and
/// runs on different machines become comparable.
///
/// Both probes are bounded in iterations and in wall time, and clean up
/// (the probe file is deleted, sockets closed, the server thread ends).
public enum FloorProbe {
    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        case io(operation: String, path: String, errno: Int32)
        case socket(operation: String, errno: Int32)
        case peerClosed

        public var description: String {
            switch self {
            case let .io(operation, path, code): "\(operation) \(path) failed: \(String(cString: strerror(code)))"
            case let .socket(operation, code): "loopback probe: \(operation) failed: \(String(cString: strerror(code)))"
            case .peerClosed: "loopback probe: the echo server closed the connection early"
            }
        }
    }

    /// The three probes with their default bounds; the disk probes run in
    /// `directory`, which should be on the data directories' filesystem.
    public static func measure(directory: String) throws -> Floor {
        let disk = try diskFloors(directory: directory)
        return Floor(
            fdatasyncUs: disk.single.medianUs, loopbackRttUs: try loopbackRoundTrip().medianUs,
            quorumFdatasyncUs: disk.quorum.medianUs)
    }

    /// The single fdatasync and the quorum floor, their samples taken
    /// alternately (one append + fdatasync, then one quorum round, ...) so
    /// both see the same disk: on a machine whose disk load changes, two
    /// floors measured one after the other could contradict each other.
    public static func diskFloors(
        directory: String, iterations: Int = 200, writeSize: Int = 128, timeLimit: Duration = .seconds(30)
    ) throws -> (single: FloorMeasurement, quorum: FloorMeasurement) {
        let path = directory + "/.raftlab-floor-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Error.io(operation: "open", path: path, errno: errno) }
        defer {
            close(fd)
            unlink(path)
        }
        let record = [UInt8](repeating: 0x5A, count: writeSize)
        var single: [Double] = []
        let quorum = try quorumFdatasync(directory: directory, iterations: iterations, writeSize: writeSize, timeLimit: timeLimit) {
            let start = ContinuousClock.now
            try appendAndSync(fd, record, path: path)
            single.append((ContinuousClock.now - start).microseconds)
        }
        return (FloorMeasurement(samplesUs: single)!, quorum)
    }

    private static func appendAndSync(_ fd: Int32, _ record: [UInt8], path: String) throws {
        try record.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Error.io(operation: "write", path: path, errno: errno)
                }
                offset += n
            }
        }
        guard dataSync(fd) == 0 else { throw Error.io(operation: "fdatasync", path: path, errno: errno) }
    }

    // MARK: fdatasync

    /// Appends `writeSize` bytes and fdatasyncs, `iterations` times, to a new
    /// file in `directory`; stops early at `timeLimit` (a slow disk must not
    /// stall the run). The file is removed afterwards.
    public static func fdatasync(
        directory: String, iterations: Int = 200, writeSize: Int = 128, timeLimit: Duration = .seconds(30)
    ) throws -> FloorMeasurement {
        let path = directory + "/.raftlab-floor-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Error.io(operation: "open", path: path, errno: errno) }
        defer {
            close(fd)
            unlink(path)
        }
        let record = [UInt8](repeating: 0x5A, count: writeSize)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeLimit)
        var samples: [Double] = []
        samples.reserveCapacity(iterations)
        while samples.count < Swift.max(1, iterations) {
            let start = clock.now
            try appendAndSync(fd, record, path: path)
            let end = clock.now
            samples.append((end - start).microseconds)
            if end >= deadline { break }
        }
        return FloorMeasurement(samplesUs: samples)!
    }

    private static func dataSync(_ fd: Int32) -> Int32 {
        #if os(Linux)
        Glibc.fdatasync(fd)
        #else
        fcntl(fd, F_FULLFSYNC)
        #endif
    }

    // MARK: Quorum of appenders on one disk

    /// What a 3-node cluster on one machine pays at least per write: three
    /// appenders (one per node), each appending `writeSize` bytes to its own
    /// file in `directory` and fdatasyncing, all started together; a sample is
    /// the time until the `quorum`-th of them has finished (the second of
    /// three: a leader with one follower). On a disk that serves flushes one
    /// at a time this is about twice the single fdatasync, which is why a
    /// cluster's latency is compared with it too.
    ///
    /// Bounded like `fdatasync`: `iterations` rounds or `timeLimit`, files
    /// removed. `beforeEachRound` runs on the calling thread between rounds.
    public static func quorumFdatasync(
        directory: String, appenders: Int = 3, quorum: Int = 2, iterations: Int = 200, writeSize: Int = 128,
        timeLimit: Duration = .seconds(30), beforeEachRound: (() throws -> Void)? = nil
    ) throws -> FloorMeasurement {
        precondition(appenders >= 1 && (1...appenders).contains(quorum), "a quorum of 1...appenders")
        var descriptors: [Int32] = []
        var paths: [String] = []
        defer {
            for fd in descriptors { close(fd) }
            for path in paths { unlink(path) }
        }
        for appender in 0..<appenders {
            let path = directory + "/.raftlab-quorum-floor-\(getpid())-\(appender)-\(UInt32.random(in: 0 ... .max))"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Error.io(operation: "open", path: path, errno: errno) }
            descriptors.append(fd)
            paths.append(path)
        }
        let round = QuorumRound(appenders: appenders)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeLimit)
        var samples: [Double] = []
        samples.reserveCapacity(iterations)
        let record = [UInt8](repeating: 0x5A, count: writeSize)
        let workers = descriptors.enumerated().map { slot, fd in
            Thread {
                var done = 0
                while let next = round.begin(after: done) {
                    done = next
                    let start = clock.now
                    let failed = record.withUnsafeBytes { bytes -> Int32? in
                        var offset = 0
                        while offset < bytes.count {
                            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                            if n < 0 {
                                if errno == EINTR { continue }
                                return errno
                            }
                            offset += n
                        }
                        return dataSync(fd) == 0 ? nil : errno
                    }
                    round.finish(slot: slot, start: start, end: clock.now, errno: failed)
                }
            }
        }
        for (slot, worker) in workers.enumerated() {
            worker.name = "raftlab-quorum-floor-\(slot)"
            worker.start()
        }
        var failure: Int32?
        var probeError: (any Swift.Error)?
        while samples.count < Swift.max(1, iterations) {
            do {
                try beforeEachRound?()
            } catch {
                probeError = error
                break
            }
            let outcome = round.run()
            if let code = outcome.errno {
                failure = code
                break
            }
            let ends = outcome.ends.sorted()
            samples.append((ends[quorum - 1] - outcome.start).microseconds)
            if clock.now >= deadline { break }
        }
        round.stop()
        if let probeError { throw probeError }
        if let failure { throw Error.io(operation: "append + fdatasync", path: directory, errno: failure) }
        return FloorMeasurement(samplesUs: samples)!
    }

    // MARK: Loopback TCP

    /// Sends `payloadBytes` to an echo server on 127.0.0.1 and reads them back,
    /// `roundTrips` times, TCP_NODELAY on both ends; stops early at
    /// `timeLimit`. The server is a blocking POSIX socket in a background
    /// thread, so the probe measures the kernel, not an event loop.
    public static func loopbackRoundTrip(
        roundTrips: Int = 500, payloadBytes: Int = 100, timeLimit: Duration = .seconds(10)
    ) throws -> FloorMeasurement {
        let ioTimeout = Swift.min(timeLimit, .seconds(5))
        let listener = try Socket.listenOnLoopback()
        let port: UInt16
        do { port = try Socket.port(of: listener) } catch {
            close(listener)
            throw error
        }
        let finished = DispatchSemaphore(value: 0)
        let server = Thread {
            EchoServer.serve(listener: listener, messageBytes: payloadBytes, timeout: ioTimeout)
            close(listener)
            finished.signal()
        }
        server.name = "raftlab-floor-echo"
        server.start()

        let client: Int32
        do { client = try Socket.connectToLoopback(port: port, timeout: ioTimeout) } catch {
            // The server gives up accepting after its timeout and closes the listener.
            _ = finished.wait(timeout: .now() + ioTimeout.microseconds / 1e6 + 1)
            throw error
        }
        defer {
            close(client)  // EOF ends the server's loop
            _ = finished.wait(timeout: .now() + ioTimeout.microseconds / 1e6 + 1)
        }
        var message = [UInt8](repeating: 0xA5, count: payloadBytes)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeLimit)
        var samples: [Double] = []
        samples.reserveCapacity(roundTrips)
        while samples.count < Swift.max(1, roundTrips) {
            let start = clock.now
            try Socket.sendAll(client, message)
            guard try Socket.receiveExactly(client, into: &message) else { throw Error.peerClosed }
            let end = clock.now
            samples.append((end - start).microseconds)
            if end >= deadline { break }
        }
        return FloorMeasurement(samplesUs: samples)!
    }
}

/// The echo side of the loopback probe: accept one connection, echo fixed
/// size messages until the client closes.
private enum EchoServer {
    static func serve(listener: Int32, messageBytes: Int, timeout: Duration) {
        var waiting = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&waiting, 1, Int32(timeout.microseconds / 1000)) == 1 else { return }
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        defer { close(connection) }
        guard (try? Socket.configure(connection, timeout: timeout)) != nil else { return }
        var buffer = [UInt8](repeating: 0, count: messageBytes)
        while (try? Socket.receiveExactly(connection, into: &buffer)) == true {
            guard (try? Socket.sendAll(connection, buffer)) != nil else { return }
        }
    }
}

/// Blocking POSIX socket helpers for the loopback probe.
enum Socket {
    typealias Error = FloorProbe.Error

    #if os(Linux)
    static let streamType = Int32(SOCK_STREAM.rawValue)
    static let sendFlags = Int32(MSG_NOSIGNAL)
    #else
    static let streamType = SOCK_STREAM
    static let sendFlags: Int32 = 0
    #endif

    static func loopbackAddress(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    static func listenOnLoopback() throws -> Int32 {
        let fd = socket(AF_INET, streamType, 0)
        guard fd >= 0 else { throw Error.socket(operation: "socket", errno: errno) }
        var address = loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            let code = errno
            close(fd)
            throw Error.socket(operation: "bind/listen 127.0.0.1:0", errno: code)
        }
        return fd
    }

    static func port(of fd: Int32) throws -> UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { throw Error.socket(operation: "getsockname", errno: errno) }
        return UInt16(bigEndian: address.sin_port)
    }

    static func connectToLoopback(port: UInt16, timeout: Duration) throws -> Int32 {
        let fd = socket(AF_INET, streamType, 0)
        guard fd >= 0 else { throw Error.socket(operation: "socket", errno: errno) }
        do {
            try configure(fd, timeout: timeout)
            var address = loopbackAddress(port: port)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else { throw Error.socket(operation: "connect 127.0.0.1:\(port)", errno: errno) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// TCP_NODELAY (no Nagle delay on small messages) and send/receive
    /// timeouts (a stuck peer fails the probe instead of hanging the run).
    static func configure(_ fd: Int32, timeout: Duration) throws {
        var on: Int32 = 1
        guard setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw Error.socket(operation: "setsockopt TCP_NODELAY", errno: errno)
        }
        #if canImport(Darwin)
        _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, socklen_t(MemoryLayout<Int32>.size))
        #endif
        let micros = Int(timeout.microseconds)
        var interval = timeval(tv_sec: micros / 1_000_000, tv_usec: .init(micros % 1_000_000))
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            guard setsockopt(fd, SOL_SOCKET, option, &interval, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
                throw Error.socket(operation: "setsockopt timeout", errno: errno)
            }
        }
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = send(fd, raw.baseAddress! + offset, raw.count - offset, sendFlags)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Error.socket(operation: "send", errno: errno)
                }
                offset += n
            }
        }
    }

    /// Fills `buffer`; false on a clean end of stream before any byte.
    static func receiveExactly(_ fd: Int32, into buffer: inout [UInt8]) throws -> Bool {
        try buffer.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = recv(fd, raw.baseAddress! + offset, raw.count - offset, 0)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Error.socket(operation: "recv", errno: errno)
                }
                if n == 0 {
                    if offset == 0 { return false }
                    throw Error.peerClosed
                }
                offset += n
            }
            return true
        }
    }
}

/// One round of the quorum probe at a time: the caller opens a round, every
/// appender thread takes it, and the caller waits until all have finished.
/// A lock and a condition variable, nothing faster is needed: the waits
/// surround the measured region, which each appender times itself.
private final class QuorumRound: @unchecked Sendable {
    // @unchecked: every field is read and written under `condition`'s lock.
    private let condition = NSCondition()
    private let appenders: Int
    private var round = 0
    private var taken = 0
    private var stopped = false
    private var starts: [ContinuousClock.Instant?]
    private var ends: [ContinuousClock.Instant?]
    private var failure: Int32?

    init(appenders: Int) {
        self.appenders = appenders
        starts = Array(repeating: nil, count: appenders)
        ends = Array(repeating: nil, count: appenders)
    }

    /// Appender side: waits for the round after `done`; nil once the probe is over.
    func begin(after done: Int) -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while !stopped && round == done { condition.wait() }
        return stopped ? nil : round
    }

    func finish(slot: Int, start: ContinuousClock.Instant, end: ContinuousClock.Instant, errno: Int32?) {
        condition.lock()
        starts[slot] = start
        ends[slot] = end
        if let errno { failure = errno }
        taken += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Caller side: starts a round and waits until every appender finished it.
    func run() -> (start: ContinuousClock.Instant, ends: [ContinuousClock.Instant], errno: Int32?) {
        condition.lock()
        defer { condition.unlock() }
        starts = Array(repeating: nil, count: appenders)
        ends = Array(repeating: nil, count: appenders)
        taken = 0
        round += 1
        condition.broadcast()
        while taken < appenders { condition.wait() }
        let first = starts.compactMap { $0 }.min()!
        return (first, ends.compactMap { $0 }, failure)
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
