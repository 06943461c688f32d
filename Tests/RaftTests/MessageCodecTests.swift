import Raft
import RaftRuntime
import StorageCore
import Testing

@Suite("MessageCodec")
struct MessageCodecTests {
    let codec = MessageCodec()

    /// Decodes and checks that the bytes are canonical: re-encoding gives them back.
    func roundTrip(_ message: Message, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let frame = try codec.encode(message)
        #expect(frame.count == codec.frameSize(of: message), sourceLocation: sourceLocation)
        let decoded = try codec.decode(frame: frame)
        #expect(decoded == message, sourceLocation: sourceLocation)
        #expect(try codec.encode(decoded) == frame, sourceLocation: sourceLocation)
    }

    func decodeError(_ frame: [UInt8]) -> MessageCodecError? {
        do {
            _ = try codec.decode(frame: frame)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Round trips

    @Test("every Message.Kind round-trips with random field values", arguments: Message.Kind.allCases)
    func roundTripEveryKind(kind: Message.Kind) throws {
        var rng = SeededGenerator(seed: 0xC0DEC + UInt64(kind.rawValue))
        for _ in 0..<200 {
            try roundTrip(MessageFixtures.randomMessage(kind: kind, using: &rng))
        }
    }

    @Test("minimal and extreme messages round-trip")
    func roundTripEdges() throws {
        try roundTrip(Message(kind: .heartbeat, from: 0, to: 0, term: 0))
        try roundTrip(Message(
            kind: .appendResponse, from: .max, to: .max, term: .max,
            logIndex: .max, logTerm: .max, commit: .max, reject: true, rejectHint: .max,
            context: [0xFF]
        ))
        try roundTrip(Message(
            kind: .snapshot, from: 1, to: 2, term: 3,
            snapshot: SnapshotChunk(index: 0, term: 0, configuration: ClusterConfiguration(voters: []))
        ))
        try roundTrip(Message(
            kind: .snapshot, from: 1, to: 2, term: 3,
            snapshot: SnapshotChunk(
                index: 10, term: 2, configuration: ClusterConfiguration(voters: [.max, 0, 5], learners: [7]),
                offset: .max, data: [1, 2, 3], isLast: false
            )
        ))
        #expect(codec.frameSize(of: Message(kind: .vote, from: 1, to: 2, term: 3)) == MessageCodec.headerSize + 75)
    }

    @Test("big entries and big snapshot chunks round-trip")
    func roundTripBig() throws {
        var rng = SeededGenerator(seed: 42)
        let big = Message(
            kind: .append, from: 1, to: 2, term: 9, logIndex: 100, logTerm: 8, commit: 99,
            entries: [LogEntry(index: 101, term: 9, data: rng.bytes(3 << 20))]
                + MessageFixtures.randomEntries(2_000, maxData: 200, using: &rng)
        )
        try roundTrip(big)

        let chunk = SnapshotChunk(
            index: 5_000, term: 7,
            configuration: ClusterConfiguration(voters: Set(1...5), learners: Set(6...9)),
            offset: 8 << 20, data: rng.bytes(4 << 20), isLast: true
        )
        try roundTrip(Message(kind: .snapshot, from: 1, to: 3, term: 7, snapshot: chunk))
    }

    @Test("encoding into a caller's buffer matches encode()")
    func encodeIntoBuffer() throws {
        var rng = SeededGenerator(seed: 7)
        let message = MessageFixtures.randomMessage(kind: .append, using: &rng)
        let expected = try codec.encode(message)
        var buffer = [UInt8](repeating: 0xAA, count: expected.count + 5)
        let written = try buffer.withUnsafeMutableBytes { try codec.encode(message, into: $0) }
        #expect(written == expected.count)
        #expect(Array(buffer[0..<written]) == expected)
        #expect(buffer[written...].allSatisfy { $0 == 0xAA })

        var small = [UInt8](repeating: 0, count: expected.count - 1)
        #expect(throws: MessageCodecError.truncated) {
            try small.withUnsafeMutableBytes { _ = try codec.encode(message, into: $0) }
        }
    }

    // MARK: Limits

    @Test("frames above the configured maximum are refused on both sides")
    func frameTooLarge() throws {
        let small = MessageCodec(maxFrameSize: 1_000)
        let message = Message(kind: .append, from: 1, to: 2, term: 1, entries: [LogEntry(index: 1, term: 1, data: [UInt8](repeating: 1, count: 2_000))])
        let payload = codec.payloadSize(of: message)
        #expect(throws: MessageCodecError.frameTooLarge(payload, limit: 1_000)) { try small.encode(message) }

        // The receiver rejects it from the header alone, before buffering the payload.
        let frame = try codec.encode(message)
        #expect(throws: MessageCodecError.frameTooLarge(payload, limit: 1_000)) {
            try small.decode(frame: frame)
        }
        var decoder = MessageFrameDecoder(codec: small)
        decoder.append(frame[0..<7])
        #expect(throws: MessageCodecError.frameTooLarge(payload, limit: 1_000)) { try decoder.next() }

        #expect(MessageCodec().maxFrameSize == 64 << 20)
        #expect(MessageCodec(maxFrameSize: .max).maxFrameSize == Int(UInt32.max))
    }

    @Test("a header declaring a huge payload allocates nothing and reports truncation")
    func hugeDeclaredLength() {
        let codec = MessageCodec(maxFrameSize: MessageCodec.maximumMaxFrameSize)
        let header: [UInt8] = [0x52, 0x4C, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 1, 2, 3]
        #expect(throws: MessageCodecError.truncated) { try codec.decode(frame: header) }
    }

    // MARK: Typed errors

    @Test("header errors: bad magic, unknown version, truncation, checksum")
    func headerErrors() throws {
        let frame = try codec.encode(Message(kind: .vote, from: 1, to: 2, term: 3, logIndex: 4, logTerm: 5))

        var bad = frame
        bad[0] = 0x00
        #expect(decodeError(bad) == .badMagic)
        bad = frame
        bad[1] ^= 0x01
        #expect(decodeError(bad) == .badMagic)
        bad = frame
        bad[2] = 3
        #expect(decodeError(bad) == .unsupportedVersion(3))
        bad = frame
        bad[2] = 0
        #expect(decodeError(bad) == .unsupportedVersion(0))

        for cut in [0, 1, 6, 10, 11, frame.count - 1] {
            #expect(decodeError(Array(frame[0..<cut])) == .truncated, "cut at \(cut)")
        }
        #expect(decodeError(frame + [0]) == .malformed("1 bytes follow the 86-byte frame"))

        bad = frame
        bad[MessageCodec.headerSize + 3] ^= 0x10
        #expect(decodeError(bad) == .checksumMismatch)
        bad = frame
        bad[8] ^= 0x80
        #expect(decodeError(bad) == .checksumMismatch)
    }

    @Test("version 1 frames (no cluster IDs) still decode, as cluster ID 0")
    func versionOneFrames() throws {
        var message = Message(
            kind: .snapshot, from: 1, to: 2, term: 3,
            snapshot: SnapshotChunk(index: 9, term: 2, configuration: ClusterConfiguration(voters: [1, 2], clusterID: 77)))
        message.clusterID = 77
        var payload = MessageFixtures.payload(of: try codec.encode(message))
        // Version 1 is version 2 without the message's and the snapshot's cluster IDs.
        payload.removeSubrange(1..<9)
        let snapshotClusterID = 1 + 8 * 6 + 1 + 8 + 4 + 4 + 1 + 8 + 8 + 4 + 16 + 4
        payload.removeSubrange(snapshotClusterID..<snapshotClusterID + 8)
        let decoded = try codec.decode(frame: MessageFixtures.frame(payload: payload, version: 1))
        var expected = message
        expected.clusterID = 0
        expected.snapshot?.configuration.clusterID = 0
        #expect(decoded == expected)
    }

    @Test("payload errors are reported even when the checksum matches")
    func payloadErrors() throws {
        let valid = MessageFixtures.payload(of: try codec.encode(Message(
            kind: .append, from: 1, to: 2, term: 3,
            entries: [LogEntry(index: 4, term: 3, data: [9, 9])], context: [1],
            snapshot: SnapshotChunk(index: 1, term: 1, configuration: ClusterConfiguration(voters: [1, 2]))
        )))
        func error(_ payload: [UInt8]) -> MessageCodecError? {
            decodeError(MessageFixtures.frame(payload: payload))
        }
        // Offsets in the payload: kind 0, cluster ID 1, reject 57, context length 66,
        // context 70, entry count 71, entry 75 (kind at 91, data length 92),
        // snapshot flag 98, snapshot 99 (voter count at 115).
        #expect(error(valid) == nil)

        var p = valid
        p[0] = 0
        #expect(error(p) == .unknownKind(0))
        p[0] = 200
        #expect(error(p) == .unknownKind(200))

        p = valid
        p[57] = 2
        #expect(error(p) == .malformed("reject must be 0 or 1, found 2"))

        p = valid
        p[66...69] = [0, 0, 1, 0]
        #expect(error(p) == .malformed("context length 256 exceeds the 90 remaining payload bytes"))

        p = valid
        p[71...74] = [0xFF, 0xFF, 0xFF, 0xFF]
        #expect(error(p) == .malformed("entry count 4294967295 cannot fit in the 85 remaining payload bytes"))

        p = valid
        p[91] = 3
        #expect(error(p) == .malformed("entry 0 has unknown log entry kind 3"))

        p = valid
        p[98] = 7
        #expect(error(p) == .malformed("snapshot flag must be 0 or 1, found 7"))

        p = valid
        p[115...118] = [0x7F, 0, 0, 0]
        if case .malformed = error(p) {} else { Issue.record("huge voter count accepted") }

        // Voters out of order, or repeated, are not something the encoder writes.
        p = valid
        let first = Array(p[119..<127])
        p[119..<127] = p[127..<135]
        p[127..<135] = first[...]
        #expect(error(p) == .malformed("snapshot voters are not in strictly ascending order"))
        p = valid
        p[127..<135] = p[119..<127]
        #expect(error(p) == .malformed("snapshot voters are not in strictly ascending order"))

        #expect(error(valid + [0, 0]) == .malformed("2 unexpected bytes after the message"))
        if case .malformed = error(Array(valid.dropLast())) {} else { Issue.record("short payload accepted") }
        if case .malformed = error([]) {} else { Issue.record("empty payload accepted") }
        #expect(error([5]) == .malformed("payload ends inside cluster ID (needs 8 bytes, 0 left)"))
    }

    @Test("error descriptions name the problem")
    func errorDescriptions() {
        #expect(MessageCodecError.unsupportedVersion(9).description.contains("version 9"))
        #expect(MessageCodecError.frameTooLarge(10, limit: 5).description.contains("limit of 5"))
        #expect(MessageCodecError.malformed("x").description == "malformed message: x")
    }

    // MARK: Fuzzing

    @Test("2,000 seeded random byte strings never crash the decoder")
    func fuzzRandomBytes() throws {
        var rng = SeededGenerator(seed: 0xF022)
        var outcomes: [String: Int] = [:]
        for i in 0..<2_000 {
            var bytes = rng.bytes(Int.random(in: 0...300, using: &rng))
            // Give most inputs a valid magic and version, and some a plausible
            // length, so the fuzzing reaches past the first header check.
            if i % 4 != 0, bytes.count >= 3 { bytes[0...2] = [0x52, 0x4C, 1] }
            if i % 2 == 0, bytes.count >= 7 {
                let length = UInt32(bytes.count - MessageCodec.headerSize > 0 ? bytes.count - MessageCodec.headerSize : 0)
                withUnsafeBytes(of: length.bigEndian) { bytes[3...6] = ArraySlice($0) }
            }
            outcomes[try outcome(of: bytes), default: 0] += 1
        }
        #expect(outcomes["decoded"] == nil)
        #expect(outcomes.count >= 4, "fuzzing reached only \(outcomes)")
    }

    @Test("2,000 seeded random payloads with valid checksums never crash the parser")
    func fuzzRandomPayloads() throws {
        var rng = SeededGenerator(seed: 0xBADBEEF)
        var outcomes: [String: Int] = [:]
        for _ in 0..<2_000 {
            var payload = rng.bytes(Int.random(in: 0...200, using: &rng))
            if !payload.isEmpty { payload[0] = UInt8.random(in: 0...14, using: &rng) }
            outcomes[try outcome(of: MessageFixtures.frame(payload: payload)), default: 0] += 1
        }
        #expect(outcomes.count >= 2, "fuzzing reached only \(outcomes)")
    }

    @Test("2,000 seeded mutations of valid frames are detected or decode canonically")
    func fuzzMutations() throws {
        var rng = SeededGenerator(seed: 0x5EED)
        var detected = 0
        for i in 0..<2_000 {
            let kind = Message.Kind.allCases[i % Message.Kind.allCases.count]
            let message = MessageFixtures.randomMessage(kind: kind, using: &rng)
            let frame = try codec.encode(message)
            var mutated = frame
            switch Int.random(in: 0..<5, using: &rng) {
            case 0:  // one bit flip anywhere: CRC-32C and the header checks catch all of them
                let bit = Int.random(in: 0..<(frame.count * 8), using: &rng)
                mutated[bit / 8] ^= 1 << (bit % 8)
                #expect(decodeError(mutated) != nil, "single bit flip at \(bit) not detected")
            case 1:  // a few random bytes replaced
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    mutated[Int.random(in: 0..<mutated.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            case 2:  // truncated
                mutated.removeLast(Int.random(in: 1...mutated.count, using: &rng))
                #expect(decodeError(mutated) == .truncated)
            case 3:  // bytes inserted
                mutated.insert(contentsOf: rng.bytes(Int.random(in: 1...8, using: &rng)),
                               at: Int.random(in: 0...mutated.count, using: &rng))
            default:  // payload mutated, then re-checksummed: exercises the payload parser
                var payload = MessageFixtures.payload(of: frame)
                payload[Int.random(in: 0..<payload.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                if Bool.random(using: &rng) { payload.removeLast(Int.random(in: 0...payload.count, using: &rng)) }
                mutated = MessageFixtures.frame(payload: payload)
            }
            if try outcome(of: mutated) != "decoded" { detected += 1 }
        }
        #expect(detected > 1_000)
    }

    /// Decodes `bytes` both whole and through the incremental decoder (fed in
    /// two pieces) and checks both agree. A successful decode must be canonical.
    private func outcome(of bytes: [UInt8]) throws -> String {
        let whole: Result<Message, MessageCodecError> = Result { () throws(MessageCodecError) in try codec.decode(frame: bytes) }
        var decoder = MessageFrameDecoder()
        let split = bytes.count / 2
        decoder.append(bytes[..<split])
        var streamed: Result<Message?, MessageCodecError> = Result { () throws(MessageCodecError) in try decoder.next() }
        if case .success(nil) = streamed {
            decoder.append(bytes[split...])
            streamed = Result { () throws(MessageCodecError) in try decoder.next() }
        }
        switch whole {
        case let .success(message):
            #expect(try codec.encode(message) == bytes)
            #expect(try streamed.get() == message)
            return "decoded"
        case let .failure(error):
            // Trailing bytes after a frame fail a whole-frame decode, but in a
            // stream they are the start of the next frame.
            let trailing = if case let .malformed(reason) = error, reason.contains("follow the") { true } else { false }
            switch streamed {
            case let .failure(streamError):
                if !trailing { #expect(streamError == error) }
            case .success(nil):
                #expect(error == .truncated, "stream waits for more, whole decode says \(error)")
            case .success(.some):
                #expect(trailing, "stream decoded what whole decode rejected: \(error)")
            }
            return describe(error)
        }
    }

    private func describe(_ error: MessageCodecError) -> String {
        switch error {
        case .badMagic: "badMagic"
        case .unsupportedVersion: "unsupportedVersion"
        case .frameTooLarge: "frameTooLarge"
        case .checksumMismatch: "checksumMismatch"
        case .truncated: "truncated"
        case .unknownKind: "unknownKind"
        case .malformed: "malformed"
        }
    }

    // MARK: Incremental decoding

    @Test("a stream split at every byte boundary decodes the same messages")
    func splitAtEveryBoundary() throws {
        var rng = SeededGenerator(seed: 99)
        let messages = Message.Kind.allCases.prefix(4).map { MessageFixtures.randomMessage(kind: $0, using: &rng) }
        let stream = try messages.flatMap { try codec.encode($0) }
        for split in 0...stream.count {
            var decoder = MessageFrameDecoder()
            var decoded: [Message] = []
            decoder.append(stream[..<split])
            while let message = try decoder.next() { decoded.append(message) }
            decoder.append(stream[split...])
            while let message = try decoder.next() { decoded.append(message) }
            #expect(decoded == messages, "split at \(split)")
            #expect(decoder.bufferedByteCount == 0)
        }
    }

    @Test("a stream fed one byte at a time, and in random chunks, decodes")
    func smallAndRandomChunks() throws {
        var rng = SeededGenerator(seed: 1234)
        let messages = (0..<50).map { i in
            MessageFixtures.randomMessage(kind: Message.Kind.allCases[i % 13], using: &rng)
        }
        let stream = try messages.flatMap { try codec.encode($0) }

        var decoder = MessageFrameDecoder()
        var decoded: [Message] = []
        for byte in stream {
            decoder.append(CollectionOfOne(byte))
            while let message = try decoder.next() { decoded.append(message) }
        }
        #expect(decoded == messages)

        decoder = MessageFrameDecoder()
        decoded = []
        var offset = 0
        while offset < stream.count {
            let end = min(stream.count, offset + Int.random(in: 1...700, using: &rng))
            decoder.append(stream[offset..<end])
            offset = end
            while let message = try decoder.next() { decoded.append(message) }
        }
        #expect(decoded == messages)
    }

    @Test("the incremental decoder rejects garbage at its first byte and stays failed")
    func incrementalFailureIsSticky() throws {
        var decoder = MessageFrameDecoder()
        decoder.append([0x47])  // "G" as in "GET / HTTP/1.1"
        #expect(throws: MessageCodecError.badMagic) { try decoder.next() }
        decoder.append(try codec.encode(Message(kind: .heartbeat, from: 1, to: 2, term: 1)))
        #expect(throws: MessageCodecError.badMagic) { try decoder.next() }

        // A good frame followed by a corrupted one: the first is delivered.
        var good = try codec.encode(Message(kind: .heartbeat, from: 1, to: 2, term: 1))
        var corrupted = good
        corrupted[corrupted.count - 1] ^= 0xFF
        good += corrupted
        decoder = MessageFrameDecoder()
        decoder.append(good)
        #expect(try decoder.next()?.kind == .heartbeat)
        #expect(throws: MessageCodecError.checksumMismatch) { try decoder.next() }
    }
}
