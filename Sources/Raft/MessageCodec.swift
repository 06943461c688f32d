import StorageCore

/// Why a frame could not be decoded (or a message not encoded).
///
/// Every decoding failure is one of these cases: the decoder never traps on
/// any input. A transport that sees one should close the connection the frame
/// came from, because after a bad frame the byte stream has lost its framing.
public enum MessageCodecError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The first two bytes are not `MessageCodec.magic`: not a RaftLab frame.
    case badMagic
    /// A frame of a wire format version this build does not speak.
    case unsupportedVersion(UInt8)
    /// The payload length (declared in a header, or of a message to encode)
    /// exceeds the configured limit.
    case frameTooLarge(Int, limit: Int)
    /// The payload does not match the CRC-32C in its header.
    case checksumMismatch
    /// The input ends before the frame does.
    case truncated
    /// The payload names a `Message.Kind` this build does not know.
    case unknownKind(UInt8)
    /// The payload passed its checksum but is not a valid message.
    case malformed(String)

    public var description: String {
        switch self {
        case .badMagic:
            "bad magic bytes: not a RaftLab message frame"
        case let .unsupportedVersion(version):
            "unsupported wire format version \(version) (this build speaks \(MessageCodec.supportedVersions.map(String.init).joined(separator: ", ")))"
        case let .frameTooLarge(size, limit):
            "frame payload of \(size) bytes exceeds the limit of \(limit) bytes"
        case .checksumMismatch:
            "frame payload does not match its CRC-32C checksum"
        case .truncated:
            "input ends inside a frame"
        case let .unknownKind(kind):
            "unknown message kind \(kind)"
        case let .malformed(reason):
            "malformed message: \(reason)"
        }
    }
}

/// The versioned binary wire format of `Message`.
///
/// A frame is
///
///     magic (2) | version (1) | payload length (4) | CRC-32C of payload (4) | payload
///
/// and the version 2 payload is, all integers big-endian:
///
///     kind (1) | cluster ID (8) | from (8) | to (8) | term (8) | logIndex (8)
///     | logTerm (8) | commit (8) | reject (1: 0 or 1) | rejectHint (8)
///     | context length (4) | context
///     | entry count (4) | entry*
///     | has snapshot (1: 0 or 1) | snapshot?
///
///     entry    = index (8) | term (8) | kind (1) | data length (4) | data
///     snapshot = index (8) | term (8)
///                | voter count (4) | voter (8)* | learner count (4) | learner (8)*
///                | cluster ID (8) | offset (8) | isLast (1: 0 or 1) | data length (4) | data
///
/// Version 1 is the same without the two cluster IDs; it is still read, as
/// cluster ID 0 ("not known").
///
/// Voters and learners are written in ascending order, so equal messages
/// encode to equal bytes. Decoding rejects anything the encoder cannot
/// produce (booleans other than 0 and 1, duplicate members, trailing bytes), so
/// a frame that decodes re-encodes to the same bytes.
///
/// Evolving the format: bump `currentVersion`, keep decoding the old versions
/// listed in `supportedVersions`, and roll upgrades so that every node decodes
/// the new version before any node starts sending it.
public struct MessageCodec: Sendable, Hashable {
    /// "RL": the first two bytes of every frame.
    public static let magic: (UInt8, UInt8) = (0x52, 0x4C)
    /// The version this build writes.
    public static let currentVersion: UInt8 = 2
    /// The versions this build reads.
    public static let supportedVersions: ClosedRange<UInt8> = 1...2
    /// magic (2) + version (1) + payload length (4) + checksum (4).
    public static let headerSize = 11
    /// 64 MiB.
    public static let defaultMaxFrameSize = 64 << 20
    /// The payload length field is 32 bits wide.
    public static let maximumMaxFrameSize = Int(UInt32.max)

    /// Smallest possible version 2 payload: a message with no entries, no
    /// context and no snapshot.
    static let minimumPayloadSize = 1 + 8 * 7 + 1 + 8 + 4 + 4 + 1
    static let entryHeaderSize = 8 + 8 + 1 + 4
    static let snapshotFixedSize = 8 + 8 + 4 + 4 + 8 + 8 + 1 + 4

    /// Largest payload, in bytes, that `encode` produces and decoding accepts.
    public let maxFrameSize: Int

    /// `maxFrameSize` is clamped to what the 32-bit length field can express
    /// and to at least the size of the smallest message.
    public init(maxFrameSize: Int = MessageCodec.defaultMaxFrameSize) {
        self.maxFrameSize = min(max(maxFrameSize, Self.minimumPayloadSize), Self.maximumMaxFrameSize)
    }

    // MARK: Encoding

    /// Size of the payload `message` encodes to (the frame adds `headerSize`).
    public func payloadSize(of message: Message) -> Int {
        var size = Self.minimumPayloadSize + message.context.count
        for entry in message.entries { size += Self.entryHeaderSize + entry.data.count }
        if let chunk = message.snapshot {
            size += Self.snapshotFixedSize
                + 8 * (chunk.configuration.voters.count + chunk.configuration.learners.count)
                + chunk.data.count
        }
        return size
    }

    /// Size of the whole frame `message` encodes to.
    public func frameSize(of message: Message) -> Int {
        Self.headerSize + payloadSize(of: message)
    }

    /// One complete frame.
    /// - Throws: `MessageCodecError.frameTooLarge` if the payload exceeds `maxFrameSize`.
    public func encode(_ message: Message) throws(MessageCodecError) -> [UInt8] {
        let size = try checkedFrameSize(of: message)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            initialized = encodeUnchecked(message, frameSize: size, into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    /// Writes one complete frame at the start of `buffer` and returns the
    /// number of bytes written (`frameSize(of: message)`). For transports that
    /// encode straight into their own buffers.
    /// - Throws: `MessageCodecError.frameTooLarge` if the payload exceeds
    ///   `maxFrameSize`; `MessageCodecError.truncated` if `buffer` is too small.
    public func encode(_ message: Message, into buffer: UnsafeMutableRawBufferPointer) throws(MessageCodecError) -> Int {
        let size = try checkedFrameSize(of: message)
        guard buffer.count >= size else { throw .truncated }
        return encodeUnchecked(message, frameSize: size, into: buffer)
    }

    private func checkedFrameSize(of message: Message) throws(MessageCodecError) -> Int {
        let payload = payloadSize(of: message)
        guard payload <= maxFrameSize else { throw .frameTooLarge(payload, limit: maxFrameSize) }
        return Self.headerSize + payload
    }

    private func encodeUnchecked(_ message: Message, frameSize: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var writer = RawWriter(buffer: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<frameSize]))
        writer.write(Self.magic.0)
        writer.write(Self.magic.1)
        writer.write(Self.currentVersion)
        writer.write(UInt32(frameSize - Self.headerSize))
        writer.write(UInt32(0))  // checksum, filled in below
        writer.write(message.kind.rawValue)
        writer.write(message.clusterID)
        writer.write(message.from)
        writer.write(message.to)
        writer.write(message.term)
        writer.write(message.logIndex)
        writer.write(message.logTerm)
        writer.write(message.commit)
        writer.write(message.reject)
        writer.write(message.rejectHint)
        writer.write(lengthPrefixed: message.context)
        writer.write(UInt32(message.entries.count))
        for entry in message.entries {
            writer.write(entry.index)
            writer.write(entry.term)
            writer.write(entry.kind.rawValue)
            writer.write(lengthPrefixed: entry.data)
        }
        if let chunk = message.snapshot {
            writer.write(true)
            writer.write(chunk.index)
            writer.write(chunk.term)
            writer.write(UInt32(chunk.configuration.voters.count))
            for voter in chunk.configuration.voters.sorted() { writer.write(voter) }
            writer.write(UInt32(chunk.configuration.learners.count))
            for learner in chunk.configuration.learners.sorted() { writer.write(learner) }
            writer.write(chunk.configuration.clusterID)
            writer.write(chunk.offset)
            writer.write(chunk.isLast)
            writer.write(lengthPrefixed: chunk.data)
        } else {
            writer.write(false)
        }
        // payloadSize(of:) and this function must agree byte for byte.
        precondition(writer.offset == frameSize, "MessageCodec: encoded \(writer.offset) bytes, computed \(frameSize)")
        let checksum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[Self.headerSize..<frameSize]))
        buffer.storeBytes(of: checksum.bigEndian, toByteOffset: 7, as: UInt32.self)
        return frameSize
    }

    // MARK: Decoding

    /// Validates the header at the start of `bytes` and returns the size of
    /// the whole frame, or nil if `bytes` is too short to tell yet. Checks as
    /// much as the available bytes allow (magic, then version, then length),
    /// so garbage is rejected after its first byte.
    public func frameSize(ofFrameStartingIn bytes: UnsafeRawBufferPointer) throws(MessageCodecError) -> Int? {
        if bytes.count >= 1, bytes[0] != Self.magic.0 { throw .badMagic }
        if bytes.count >= 2, bytes[1] != Self.magic.1 { throw .badMagic }
        if bytes.count >= 3, !Self.supportedVersions.contains(bytes[2]) { throw .unsupportedVersion(bytes[2]) }
        guard bytes.count >= 7 else { return nil }
        let length = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 3, as: UInt32.self)))
        guard length <= maxFrameSize else { throw .frameTooLarge(length, limit: maxFrameSize) }
        return Self.headerSize + length
    }

    /// Decodes exactly one frame occupying all of `bytes`.
    public func decode(frame bytes: UnsafeRawBufferPointer) throws(MessageCodecError) -> Message {
        guard let size = try frameSize(ofFrameStartingIn: bytes), bytes.count >= size else { throw .truncated }
        guard bytes.count == size else {
            throw .malformed("\(bytes.count - size) bytes follow the \(size)-byte frame")
        }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[Self.headerSize..<size])
        let stored = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 7, as: UInt32.self))
        guard CRC32C.checksum(payload) == stored else { throw .checksumMismatch }
        return try Self.decodePayload(payload, version: bytes[2])
    }

    /// Decodes exactly one frame occupying all of `bytes`.
    public func decode(frame bytes: [UInt8]) throws(MessageCodecError) -> Message {
        // withUnsafeBytes rethrows untyped errors: carry the typed one out in a Result.
        try bytes.withUnsafeBytes { raw in
            Result { () throws(MessageCodecError) -> Message in try decode(frame: raw) }
        }.get()
    }

    static func decodePayload(_ payload: UnsafeRawBufferPointer, version: UInt8) throws(MessageCodecError) -> Message {
        var reader = RawReader(bytes: payload)
        let kindByte = try reader.readUInt8("kind")
        guard let kind = Message.Kind(rawValue: kindByte) else { throw .unknownKind(kindByte) }
        let clusterID = version >= 2 ? try reader.readUInt64("cluster ID") : 0
        let from = try reader.readUInt64("from")
        let to = try reader.readUInt64("to")
        let term = try reader.readUInt64("term")
        let logIndex = try reader.readUInt64("logIndex")
        let logTerm = try reader.readUInt64("logTerm")
        let commit = try reader.readUInt64("commit")
        let reject = try reader.readBool("reject")
        let rejectHint = try reader.readUInt64("rejectHint")
        let context = try reader.readLengthPrefixed("context")

        let entryCount = Int(try reader.readUInt32("entry count"))
        // Each entry takes at least its header: bound the count before allocating.
        guard entryCount <= reader.remaining / entryHeaderSize else {
            throw .malformed("entry count \(entryCount) cannot fit in the \(reader.remaining) remaining payload bytes")
        }
        var entries: [LogEntry] = []
        entries.reserveCapacity(entryCount)
        for i in 0..<entryCount {
            let index = try reader.readUInt64("entry \(i) index")
            let entryTerm = try reader.readUInt64("entry \(i) term")
            let entryKindByte = try reader.readUInt8("entry \(i) kind")
            guard let entryKind = LogEntry.Kind(rawValue: entryKindByte) else {
                throw .malformed("entry \(i) has unknown log entry kind \(entryKindByte)")
            }
            let data = try reader.readLengthPrefixed("entry \(i) data")
            entries.append(LogEntry(index: index, term: entryTerm, kind: entryKind, data: data))
        }

        var snapshot: SnapshotChunk?
        if try reader.readBool("snapshot flag") {
            let index = try reader.readUInt64("snapshot index")
            let snapshotTerm = try reader.readUInt64("snapshot term")
            let voters = try reader.readNodeSet("snapshot voters")
            let learners = try reader.readNodeSet("snapshot learners")
            let snapshotCluster = version >= 2 ? try reader.readUInt64("snapshot cluster ID") : 0
            let offset = try reader.readUInt64("snapshot offset")
            let isLast = try reader.readBool("snapshot isLast")
            let data = try reader.readLengthPrefixed("snapshot data")
            snapshot = SnapshotChunk(
                index: index, term: snapshotTerm,
                configuration: ClusterConfiguration(voters: voters, learners: learners, clusterID: snapshotCluster),
                offset: offset, data: data, isLast: isLast
            )
        }
        guard reader.remaining == 0 else {
            throw .malformed("\(reader.remaining) unexpected bytes after the message")
        }
        var message = Message(
            kind: kind, from: from, to: to, term: term,
            logIndex: logIndex, logTerm: logTerm, commit: commit,
            entries: entries, reject: reject, rejectHint: rejectHint,
            context: context, snapshot: snapshot
        )
        message.clusterID = clusterID
        return message
    }
}

/// Reassembles messages from a byte stream that arrives in arbitrary pieces
/// (for example reads from a socket).
///
/// Feed bytes with `append`, then call `next()` until it returns nil. After
/// `next()` throws, the stream has lost its framing: every later call throws
/// the same error, and the connection should be closed.
public struct MessageFrameDecoder: Sendable {
    public let codec: MessageCodec
    private var buffer: [UInt8] = []
    private var start = 0
    private var failure: MessageCodecError?

    public init(codec: MessageCodec = MessageCodec()) {
        self.codec = codec
    }

    /// Bytes received but not yet decoded into a message.
    public var bufferedByteCount: Int { buffer.count - start }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        // Drop consumed bytes once they dominate the buffer, so a long-lived
        // stream neither grows without bound nor shifts on every frame.
        if start > 0, start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, or nil if more bytes are needed.
    public mutating func next() throws(MessageCodecError) -> Message? {
        if let failure { throw failure }
        let start = self.start
        let codec = self.codec
        let result = buffer.withUnsafeBytes { (all) -> Result<(Message, Int)?, MessageCodecError> in
            let available = UnsafeRawBufferPointer(rebasing: all[start...])
            do throws(MessageCodecError) {
                guard let size = try codec.frameSize(ofFrameStartingIn: available), available.count >= size else {
                    return .success(nil)
                }
                let message = try codec.decode(frame: UnsafeRawBufferPointer(rebasing: available[0..<size]))
                return .success((message, size))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(nil):
            return nil
        case let .success((message, size)?):
            self.start += size
            if self.start == buffer.count {
                buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
                self.start = 0
            }
            return message
        case let .failure(error):
            failure = error
            throw error
        }
    }
}

// MARK: - Raw readers and writers

/// Writes big-endian integers into a buffer whose size was computed beforehand.
private struct RawWriter {
    let buffer: UnsafeMutableRawBufferPointer
    var offset = 0

    mutating func write(_ value: UInt8) {
        precondition(offset < buffer.count)
        buffer[offset] = value
        offset += 1
    }

    mutating func write(_ value: Bool) { write(value ? UInt8(1) : 0) }

    mutating func write(_ value: UInt32) {
        precondition(buffer.count - offset >= 4)
        buffer.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
        offset += 4
    }

    mutating func write(_ value: UInt64) {
        precondition(buffer.count - offset >= 8)
        buffer.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt64.self)
        offset += 8
    }

    mutating func write(lengthPrefixed bytes: [UInt8]) {
        write(UInt32(bytes.count))
        precondition(buffer.count - offset >= bytes.count)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress, let destination = buffer.baseAddress {
                (destination + offset).copyMemory(from: base, byteCount: source.count)
            }
        }
        offset += bytes.count
    }
}

/// Reads a checksummed payload; every read is bounds-checked and names the
/// field it was reading when the payload ends early.
private struct RawReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    var remaining: Int { bytes.count - offset }

    private func need(_ count: Int, _ field: @autoclosure () -> String) throws(MessageCodecError) {
        guard remaining >= count else {
            throw .malformed("payload ends inside \(field()) (needs \(count) bytes, \(remaining) left)")
        }
    }

    mutating func readUInt8(_ field: @autoclosure () -> String) throws(MessageCodecError) -> UInt8 {
        try need(1, field())
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readBool(_ field: @autoclosure () -> String) throws(MessageCodecError) -> Bool {
        switch try readUInt8(field()) {
        case 0: return false
        case 1: return true
        case let other: throw .malformed("\(field()) must be 0 or 1, found \(other)")
        }
    }

    mutating func readUInt32(_ field: @autoclosure () -> String) throws(MessageCodecError) -> UInt32 {
        try need(4, field())
        defer { offset += 4 }
        return UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func readUInt64(_ field: @autoclosure () -> String) throws(MessageCodecError) -> UInt64 {
        try need(8, field())
        defer { offset += 8 }
        return UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func readLengthPrefixed(_ field: @autoclosure () -> String) throws(MessageCodecError) -> [UInt8] {
        let count = Int(try readUInt32(field()))
        guard count <= remaining else {
            throw .malformed("\(field()) length \(count) exceeds the \(remaining) remaining payload bytes")
        }
        defer { offset += count }
        return Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]))
    }

    /// A count followed by that many node ids in strictly ascending order.
    mutating func readNodeSet(_ field: @autoclosure () -> String) throws(MessageCodecError) -> Set<NodeID> {
        let count = Int(try readUInt32(field()))
        guard count <= remaining / 8 else {
            throw .malformed("\(field()) count \(count) cannot fit in the \(remaining) remaining payload bytes")
        }
        var result = Set<NodeID>(minimumCapacity: count)
        var previous: NodeID?
        for _ in 0..<count {
            let id = try readUInt64(field())
            if let previous, id <= previous {
                throw .malformed("\(field()) are not in strictly ascending order")
            }
            previous = id
            result.insert(id)
        }
        return result
    }
}
