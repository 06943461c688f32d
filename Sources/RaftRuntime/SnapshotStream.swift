#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Raft
import StorageCore

/// The byte form of a state snapshot: every pair as `u32 key length, key,
/// u32 value length, value`, in key order. Cut into `SnapshotChunk`s of a
/// bounded size on the way to a follower, written to a staging file there,
/// and read back pair by pair when it is installed.
public enum SnapshotStream {
    /// The chunks of a snapshot of `store`, all at once (tests and the
    /// simulation; the runtime streams them with `SnapshotChunker`).
    public static func chunks(
        of store: any StateStore, fallback configuration: ClusterConfiguration, maxChunkBytes: Int
    ) throws -> [SnapshotChunk] {
        var chunker = try SnapshotChunker(store: store, fallback: configuration)
        defer { chunker.close() }
        var chunks: [SnapshotChunk] = []
        while let chunk = try chunker.next(maxBytes: maxChunkBytes) { chunks.append(chunk) }
        return chunks
    }

    /// Decodes the pairs of snapshot data held in memory.
    public struct Reader: KeyValueSource {
        private var reader: BinaryReader

        public init(_ data: [UInt8]) { reader = BinaryReader(data) }

        public mutating func next() throws -> KeyValue? {
            guard !reader.isAtEnd else { return nil }
            do {
                let key = try reader.readLengthPrefixed()
                let value = try reader.readLengthPrefixed()
                return KeyValue(key: key, value: value)
            } catch {
                throw RaftError.protocolViolation("truncated snapshot data")
            }
        }
    }
}

/// Reads a state store's consistent snapshot and cuts it into chunks one at
/// a time, so a leader never holds more than the chunks in flight.
///
/// Every chunk names the membership found so far; the engine's records sort
/// last (0xFF), so the last chunk names the snapshot's own, and that is the
/// one the follower uses.
public struct SnapshotChunker: Sendable {
    private let snapshot: any StateSnapshot
    private var membership: ClusterConfiguration
    private var offset: UInt64 = 0
    private var finished = false

    public init(store: any StateStore, fallback configuration: ClusterConfiguration) throws {
        snapshot = try store.snapshot()
        membership = configuration
    }

    public var index: UInt64 { snapshot.position.index }
    public var term: UInt64 { snapshot.position.term }

    /// The next chunk of about `maxBytes` (a single pair may exceed it), or
    /// nil once the last one was returned.
    public mutating func next(maxBytes: Int) throws -> SnapshotChunk? {
        guard !finished else { return nil }
        var buffer = BinaryWriter(capacity: min(maxBytes, 1 << 20) + 64)
        var last = true
        while let pair = try snapshot.next() {
            if pair.key == ClusterConfiguration.stateKey {
                membership = try ClusterConfiguration(encoded: pair.value)
            }
            buffer.write(lengthPrefixed: pair.key)
            buffer.write(lengthPrefixed: pair.value)
            if buffer.bytes.count >= maxBytes {
                last = false
                break
            }
        }
        let data = buffer.bytes
        let chunk = SnapshotChunk(
            index: index, term: term, configuration: membership, offset: offset, data: data, isLast: last)
        offset += UInt64(data.count)
        finished = last
        return chunk
    }

    public func close() { snapshot.close() }
}

/// Snapshot data received from a leader: in memory, or in a staging file so
/// that a follower's memory stays bounded whatever the state's size.
public enum StagedSnapshot: Sendable {
    case memory([UInt8])
    case file(String)

    /// Replaces `store`'s state with the snapshot's pairs, read as it goes.
    public func restore(into store: any StateStore, position: AppliedPosition) throws {
        switch self {
        case .memory(let data):
            var source = SnapshotStream.Reader(data)
            try store.restore(from: &source, position: position)
        case .file(let path):
            var source = try StagedFileReader(path: path)
            try store.restore(from: &source, position: position)
        }
    }

    /// Deletes the staging file (nothing for data in memory).
    public func discard() {
        if case .file(let path) = self { unlink(path) }
    }
}

/// Reads length-prefixed pairs from a staging file through a bounded buffer.
struct StagedFileReader: KeyValueSource {
    private final class Descriptor {
        let value: Int32
        init(_ value: Int32) { self.value = value }
        deinit { close(value) }
    }

    private let file: Descriptor
    private var descriptor: Int32 { file.value }
    private let path: String
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private static let readSize = 1 << 20

    init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        file = Descriptor(descriptor)
    }

    /// Makes at least `count` bytes available after `position`; false at the end of the file.
    private mutating func fill(_ count: Int) throws -> Bool {
        if buffer.count - position >= count { return true }
        buffer.removeSubrange(0..<position)
        position = 0
        while buffer.count < count && !atEnd {
            let want = max(Self.readSize, count - buffer.count)
            var chunk = [UInt8](repeating: 0, count: want)
            let read = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, want) }
            if read < 0 {
                if errno == EINTR { continue }
                throw StorageError.io(operation: "read", path: path, errno: errno)
            }
            if read == 0 { atEnd = true } else { buffer.append(contentsOf: chunk[0..<read]) }
        }
        return buffer.count - position >= count
    }

    private mutating func readLengthPrefixed() throws -> [UInt8] {
        guard try fill(4) else { throw RaftError.protocolViolation("truncated snapshot data in \(path)") }
        let length = Int(UInt32(buffer[position]) << 24 | UInt32(buffer[position + 1]) << 16
            | UInt32(buffer[position + 2]) << 8 | UInt32(buffer[position + 3]))
        position += 4
        guard try fill(length) else { throw RaftError.protocolViolation("truncated snapshot data in \(path)") }
        defer { position += length }
        return Array(buffer[position..<position + length])
    }

    mutating func next() throws -> KeyValue? {
        guard try fill(1) else { return nil }
        let key = try readLengthPrefixed()
        return KeyValue(key: key, value: try readLengthPrefixed())
    }
}

/// Reassembles the chunks of one snapshot from one leader, writing the
/// contiguous prefix to a staging file (or to memory without a staging
/// directory) as it grows. Chunks may arrive out of order and more than once;
/// a few that arrive ahead of the prefix wait in memory. A chunk of another
/// snapshot (or from another sender) starts over.
public struct SnapshotReceiver: Sendable {
    public struct Complete: Sendable {
        public var metadata: SnapshotMetadata
        public var data: StagedSnapshot
    }

    private struct Incoming: Sendable {
        var from: NodeID
        var index: UInt64
        var term: UInt64
        /// Bytes of the contiguous prefix written so far.
        var received: UInt64 = 0
        var memory: [UInt8] = []
        var file: Int32 = -1
        var path: String?
        var early: [UInt64: SnapshotChunk] = [:]
    }

    /// Where staging files go; nil keeps snapshots in memory.
    public let stagingDirectory: String?
    /// Chunks held ahead of the prefix at most (a sender keeps few in flight).
    public var maxEarlyChunks = 64
    private var incoming: Incoming?
    private var counter: UInt64 = 0

    public init(stagingDirectory: String? = nil) {
        self.stagingDirectory = stagingDirectory
    }

    /// Bytes of the snapshot being received that are written so far: what
    /// the follower acknowledges.
    public var received: UInt64 { incoming?.received ?? 0 }

    /// Adds a chunk; returns the snapshot once every piece has arrived.
    public mutating func add(_ chunk: SnapshotChunk, from sender: NodeID) throws -> Complete? {
        if incoming.map({ $0.from != sender || $0.index != chunk.index || $0.term != chunk.term }) ?? true {
            reset()
            var fresh = Incoming(from: sender, index: chunk.index, term: chunk.term)
            if let stagingDirectory {
                try FileSystem.createDirectory(stagingDirectory, sync: false)
                counter += 1
                let path = "\(stagingDirectory)/snapshot-\(chunk.index)-\(chunk.term)-\(counter).staging"
                let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
                fresh.file = descriptor
                fresh.path = path
            }
            incoming = fresh
        }
        guard var current = incoming else { return nil }
        defer { if incoming != nil { incoming = current } }
        if chunk.offset > current.received {
            if current.early.count < maxEarlyChunks { current.early[chunk.offset] = chunk }
            return nil
        }
        guard chunk.offset == current.received else { return nil }  // a duplicate
        var next: SnapshotChunk? = chunk
        while let piece = next {
            try write(piece.data, to: &current)
            if piece.isLast {
                let complete = try finish(current, last: piece)
                incoming = nil
                return complete
            }
            next = piece.data.isEmpty ? nil : current.early.removeValue(forKey: current.received)
        }
        return nil
    }

    private func write(_ data: [UInt8], to current: inout Incoming) throws {
        if current.file >= 0, let path = current.path {
            var offset = 0
            while offset < data.count {
                let written = data.withUnsafeBytes { raw in
                    Glibc.write(current.file, raw.baseAddress! + offset, data.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw StorageError.io(operation: "write", path: path, errno: errno)
                }
                offset += written
            }
        } else {
            current.memory.append(contentsOf: data)
        }
        current.received += UInt64(data.count)
    }

    private func finish(_ current: Incoming, last: SnapshotChunk) throws -> Complete {
        let metadata = SnapshotMetadata(index: last.index, term: last.term, configuration: last.configuration)
        guard current.file >= 0, let path = current.path else {
            return Complete(metadata: metadata, data: .memory(current.memory))
        }
        close(current.file)
        return Complete(metadata: metadata, data: .file(path))
    }

    /// Drops a partly received snapshot and its staging file.
    public mutating func reset() {
        guard let current = incoming else { return }
        if current.file >= 0 { close(current.file) }
        if let path = current.path { unlink(path) }
        incoming = nil
    }
}
