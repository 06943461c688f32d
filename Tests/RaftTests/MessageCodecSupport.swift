import Raft
import RaftRuntime
import StorageCore

/// SplitMix64: a tiny deterministic generator, so every random test is
/// reproducible from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &self) }
    }

    /// Mostly small values, sometimes extremes, so both ends of each field are exercised.
    mutating func field() -> UInt64 {
        switch Int.random(in: 0..<8, using: &self) {
        case 0: 0
        case 1: .max
        case 2, 3: UInt64.random(in: 0...1_000, using: &self)
        default: next()
        }
    }
}

enum MessageFixtures {
    static func randomEntries(_ count: Int, maxData: Int, using rng: inout SeededGenerator) -> [LogEntry] {
        let kinds: [LogEntry.Kind] = [.command, .noop, .configuration]
        return (0..<count).map { _ in
            LogEntry(
                index: rng.field(), term: rng.field(),
                kind: kinds.randomElement(using: &rng)!,
                data: rng.bytes(Int.random(in: 0...maxData, using: &rng))
            )
        }
    }

    static func randomNodeSet(using rng: inout SeededGenerator) -> Set<NodeID> {
        Set((0..<Int.random(in: 0...7, using: &rng)).map { _ in rng.field() })
    }

    static func randomSnapshot(maxData: Int, using rng: inout SeededGenerator) -> SnapshotChunk {
        SnapshotChunk(
            index: rng.field(), term: rng.field(),
            configuration: ClusterConfiguration(
                voters: randomNodeSet(using: &rng), learners: randomNodeSet(using: &rng), clusterID: rng.field()
            ),
            offset: rng.field(),
            data: rng.bytes(Int.random(in: 0...maxData, using: &rng)),
            isLast: Bool.random(using: &rng)
        )
    }

    /// A message of `kind` with every field random, including optional parts.
    static func randomMessage(kind: Message.Kind, using rng: inout SeededGenerator) -> Message {
        var message = Message(
            kind: kind, from: rng.field(), to: rng.field(), term: rng.field(),
            logIndex: rng.field(), logTerm: rng.field(), commit: rng.field(),
            entries: Bool.random(using: &rng)
                ? randomEntries(Int.random(in: 0...20, using: &rng), maxData: 64, using: &rng) : [],
            reject: Bool.random(using: &rng), rejectHint: rng.field(),
            context: rng.bytes(Int.random(in: 0...24, using: &rng)),
            snapshot: Bool.random(using: &rng) ? randomSnapshot(maxData: 256, using: &rng) : nil
        )
        message.clusterID = rng.field()
        return message
    }

    /// Wraps `payload` in a frame with a correct checksum, built independently
    /// of the codec, so tests can hand the payload parser anything.
    static func frame(payload: [UInt8], magic: (UInt8, UInt8) = MessageCodec.magic, version: UInt8 = MessageCodec.currentVersion) -> [UInt8] {
        var writer = BinaryWriter(capacity: MessageCodec.headerSize + payload.count)
        writer.write(magic.0)
        writer.write(magic.1)
        writer.write(version)
        writer.write(UInt32(payload.count))
        writer.write(CRC32C.checksum(payload))
        writer.write(raw: payload)
        return writer.bytes
    }

    /// The payload of a valid frame.
    static func payload(of frame: [UInt8]) -> [UInt8] {
        Array(frame[MessageCodec.headerSize...])
    }
}
