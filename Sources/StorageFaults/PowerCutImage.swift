import StorageCore

/// What a `PowerCutLogStore` has made durable: the log a power cut leaves.
public struct DurableLogImage: Sendable, Hashable {
    public var snapshotIndex: UInt64
    public var snapshotTerm: UInt64
    public var entries: [LogEntry]
    public var hardState: HardState

    public init(snapshotIndex: UInt64, snapshotTerm: UInt64, entries: [LogEntry], hardState: HardState) {
        self.snapshotIndex = snapshotIndex
        self.snapshotTerm = snapshotTerm
        self.entries = entries
        self.hardState = hardState
    }
}

/// What a `PowerCutStateStore` has made durable: its last checkpoint.
public struct DurableStateImage: Sendable, Hashable {
    public var position: AppliedPosition
    public var pairs: [KeyValue]

    public init(position: AppliedPosition, pairs: [KeyValue]) {
        self.position = position
        self.pairs = pairs
    }
}

/// The "disk" of a node whose stores are power-cut models over volatile
/// stores, kept in a file across the node process's death, so that a power
/// cut can be modelled for a node in a process of its own: at the cut the
/// node saves what its stores had made durable and exits at once; its next
/// start loads that and nothing else. Whatever was written and not yet
/// synced (state applied since the last checkpoint, by the contract) is
/// gone, as after a real power cut.
public struct PowerCutImage: Sendable, Hashable {
    public var log: DurableLogImage
    public var state: DurableStateImage

    public init(log: DurableLogImage, state: DurableStateImage) {
        self.log = log
        self.state = state
    }

    /// Both stores' durable images at one instant. A checkpoint between
    /// reading the state and the log could pair a state with a log
    /// compacted past it, which no instant ever held; so the state is read
    /// before and after the log, and the pair kept only if no checkpoint
    /// fell between them.
    public static func capture(log: PowerCutLogStore, state: PowerCutStateStore) -> PowerCutImage {
        while true {
            let before = state.durablePosition
            let logImage = log.durableImage()
            let stateImage = state.durableImage()
            if stateImage.position == before { return PowerCutImage(log: logImage, state: stateImage) }
        }
    }

    /// Loads this image into empty stores through their durable calls, so
    /// the models count it as on disk.
    public func seed(log store: PowerCutLogStore, state stateStore: PowerCutStateStore) throws {
        if log.snapshotIndex > 0 { try store.compact(through: log.snapshotIndex, term: log.snapshotTerm) }
        try store.append(log.entries, hardState: log.hardState)
        var source = ArrayKeyValueSource(state.pairs)
        try stateStore.restore(from: &source, position: state.position)
    }

    private static let magic: Bytes = Array("RLPWRCUT1".utf8)

    /// A checksummed binary form, for the file.
    public func encoded() -> Bytes {
        var writer = BinaryWriter(capacity: 4096)
        writer.write(raw: Self.magic)
        writer.write(log.snapshotIndex)
        writer.write(log.snapshotTerm)
        writer.write(lengthPrefixed: HardStateCodec.encode(log.hardState))
        writer.write(UInt64(log.entries.count))
        for entry in log.entries { writer.write(lengthPrefixed: LogEntryCodec.encode(entry)) }
        writer.write(lengthPrefixed: PositionCodec.encode(state.position))
        writer.write(UInt64(state.pairs.count))
        for pair in state.pairs {
            writer.write(lengthPrefixed: pair.key)
            writer.write(lengthPrefixed: pair.value)
        }
        return Checksummed.seal(writer.bytes)
    }

    public init(decoding bytes: Bytes, source: String) throws {
        let body = try Checksummed.open(bytes, source: source)
        var reader = BinaryReader(body)
        do {
            guard try reader.readBytes(Self.magic.count) == Self.magic else {
                throw StorageError.corrupted(path: source, reason: "not a power-cut image")
            }
            let snapshotIndex = try reader.readUInt64()
            let snapshotTerm = try reader.readUInt64()
            let hardState = try HardStateCodec.decode(try reader.readLengthPrefixed(), source: source)
            var entries: [LogEntry] = []
            for _ in 0..<(try reader.readUInt64()) {
                entries.append(try LogEntryCodec.decode(try reader.readLengthPrefixed(), source: source))
            }
            let position = try PositionCodec.decode(try reader.readLengthPrefixed(), source: source)
            var pairs: [KeyValue] = []
            for _ in 0..<(try reader.readUInt64()) {
                let key = try reader.readLengthPrefixed()
                pairs.append(KeyValue(key: key, value: try reader.readLengthPrefixed()))
            }
            self.init(
                log: DurableLogImage(snapshotIndex: snapshotIndex, snapshotTerm: snapshotTerm, entries: entries, hardState: hardState),
                state: DurableStateImage(position: position, pairs: pairs))
        } catch is BinaryReader.Truncated {
            throw StorageError.corrupted(path: source, reason: "the power-cut image is truncated")
        }
    }
}
