import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import RaftLabAPI
import RaftLabNode

/// Downloads `GET path` from `address` straight into a file, a body part at
/// a time, so a backup of any size needs no more memory than one part.
enum StreamingDownload {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Returns the HTTP status and the bytes written; a non-200 answer's body
    /// is returned as text instead of being written.
    static func get(_ path: String, from address: HostPort, to file: String, timeout: Duration) async throws
        -> (status: Int, bytes: UInt64, errorBody: String)
    {
        guard FileManager.default.createFile(atPath: file, contents: nil),
            let handle = FileHandle(forWritingAtPath: file)
        else { throw Failure(description: "cannot create \(file)") }
        defer { try? handle.close() }
        let group = MultiThreadedEventLoopGroup.singleton
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: (Int, UInt64, String).self)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: address.description)
        headers.add(name: "User-Agent", value: "raftlab/\(RaftLabVersion.current)")
        headers.add(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        let sink = FileSink(handle: handle)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(DownloadHandler(head: head, sink: sink, promise: promise))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: address.host, port: address.port).get()
        } catch {
            promise.fail(error)
            throw Failure(description: "cannot connect to \(address): \(error)")
        }
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            promise.fail(Failure(description: "the download from \(address) did not finish within \(timeout)"))
            channel.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in
            timer.cancel()
            channel.close(promise: nil)
        }
        let (status, bytes, body) = try await promise.futureResult.get()
        return (status, bytes, body)
    }

    /// Writes body parts to the file (on the event loop: a CLI has nothing else to do).
    final class FileSink: @unchecked Sendable {
        let handle: FileHandle
        var written: UInt64 = 0
        init(handle: FileHandle) { self.handle = handle }
        func write(_ buffer: ByteBuffer) throws {
            try handle.write(contentsOf: Data(buffer.readableBytesView))
            written += UInt64(buffer.readableBytes)
        }
    }

    private final class DownloadHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        let head: HTTPRequestHead
        let sink: FileSink
        let promise: EventLoopPromise<(Int, UInt64, String)>
        var status: Int?
        var errorBody: [UInt8] = []

        init(head: HTTPRequestHead, sink: FileSink, promise: EventLoopPromise<(Int, UInt64, String)>) {
            self.head = head
            self.sink = sink
            self.promise = promise
        }

        func channelActive(context: ChannelHandlerContext) {
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                guard head.status.code >= 200 else { return }
                status = Int(head.status.code)
            case .body(let buffer):
                if status == 200 {
                    do { try sink.write(buffer) } catch {
                        promise.fail(Failure(description: "cannot write the download: \(error)"))
                        context.close(promise: nil)
                    }
                } else if errorBody.count < 64 * 1024 {
                    errorBody += buffer.readableBytesView
                }
            case .end:
                promise.succeed((status ?? 0, sink.written, String(decoding: errorBody, as: UTF8.self)))
                context.close(promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(Failure(description: "the download broke off: \(error)"))
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(Failure(description: "the server closed the connection before the download was complete"))
            context.fireChannelInactive()
        }
    }
}
