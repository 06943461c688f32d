import Logging
import NIOCore
import Raft
import RaftRuntime

/// Cuts an inbound byte stream into messages with `MessageCodec`. Any codec
/// error is thrown, which `ByteToMessageHandler` turns into `errorCaught` and
/// a refusal of further input; `InboundMessageHandler` then closes the
/// connection.
struct MessageFrameByteDecoder: ByteToMessageDecoder {
    typealias InboundOut = Message

    let codec: MessageCodec
    let counters: TransportCounters

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let codec = self.codec
        let decoded = try buffer.withUnsafeReadableBytes { (raw) throws(MessageCodecError) -> (Message, Int)? in
            // Validates the header as soon as its bytes arrive, so garbage and
            // oversized frames are refused before their payload is buffered.
            guard let size = try codec.frameSize(ofFrameStartingIn: raw), raw.count >= size else { return nil }
            return (try codec.decode(frame: UnsafeRawBufferPointer(rebasing: raw[0..<size])), size)
        }
        guard let (message, size) = decoded else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: size)
        counters.framesReceived.add(1)
        counters.bytesReceived.add(size)
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // The peer closed its side in the middle of a frame.
        if seenEOF, buffer.readableBytes > 0 { throw MessageCodecError.truncated }
        return .needMoreData
    }
}

/// Hands decoded messages to the node and closes the connection on the first
/// bad frame, logging which peer sent it and what was wrong.
final class InboundMessageHandler: ChannelInboundHandler {
    typealias InboundIn = Message

    private let localID: NodeID
    private let receive: @Sendable (Message) -> Void
    private let counters: TransportCounters
    private let logger: Logger
    private let faults: NetworkFaults?
    private var remote = "unknown address"
    /// The sender, learnt from the `from` of the messages on this connection.
    private var peerID: NodeID?
    private var failed = false

    init(
        localID: NodeID, receive: @escaping @Sendable (Message) -> Void, counters: TransportCounters, logger: Logger,
        faults: NetworkFaults? = nil
    ) {
        self.faults = faults
        self.localID = localID
        self.receive = receive
        self.counters = counters
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if let address = context.channel.remoteAddress { remote = "\(address)" }
    }

    func channelActive(context: ChannelHandlerContext) {
        if let address = context.channel.remoteAddress { remote = "\(address)" }
        logger.debug("accepted connection", metadata: ["remote": "\(remote)"])
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        peerID = message.from
        if let faults, faults.dropsInbound(from: message.from) { return }
        guard message.to == localID else {
            counters.droppedMisrouted.add(1)
            logger.debug("dropping message addressed to another node", metadata: [
                "remote": "\(remote)", "from": "\(message.from)", "to": "\(message.to)",
            ])
            return
        }
        receive(message)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if failed { return }  // ByteToMessageHandler reports data arriving after the first error
        failed = true
        let peer = peerID.map { "node \($0)" } ?? "unidentified peer"
        if let codecError = error as? MessageCodecError {
            counters.decodeErrors.add(1)
            logger.error("closing connection from \(peer) at \(remote): \(codecError)", metadata: [
                "remote": "\(remote)", "raft.peer": "\(peerID.map(String.init) ?? "unknown")",
                "error": "\(codecError)",
            ])
        } else {
            logger.debug("closing connection from \(peer) at \(remote) after an error", metadata: [
                "remote": "\(remote)", "error": "\(error)",
            ])
        }
        context.close(promise: nil)
    }
}
