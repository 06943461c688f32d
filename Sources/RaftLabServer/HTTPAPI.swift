import DynamoDBAPI
import HTTPTypes
import Hummingbird
import NIOCore
import Logging
import Metrics
import NoSQL
import NIOSSL
import Prometheus
import RaftLabAPI
import RaftLabHTTPClient
import RaftLabNode
import RaftLabTLS
import RaftTCPTransport

/// How the HTTP layer behaves beyond the endpoints themselves.
public struct HTTPAPIOptions: Sendable {
    /// A follower asked to write relays the request to the leader and the
    /// answer back (`true`), instead of answering 307 with the leader's
    /// address for the client to follow (`false`, the default, as the
    /// original simulator's client-side redirect).
    public var forwardWritesToLeader: Bool
    /// Time limit of one forwarded request.
    public var forwardTimeout: Duration
    /// Largest request body; nil for twice the node's `maxItemBytes` plus 64 KiB
    /// (room for an item at the limit written with whitespace).
    public var maxBodyBytes: Int?
    /// Bearer tokens and their roles; with none configured the API is open.
    public var auth = ClusterConfig.Auth()
    /// Serve HTTPS with this node's certificate (nil: plain HTTP).
    public var tls: TLSContexts?
    /// How a forwarding follower reaches the leader over HTTPS (trusting the
    /// cluster's CA); nil for plain HTTP.
    public var clientTLS: NIOSSLContext?

    /// What proves a relayed request came from a member: derived from the
    /// credentials above, which every member of a cluster shares.
    public var memberProof: MemberProof { MemberProof(auth: auth, accessKeys: accessKeys) }

    /// "https" when the API is served over TLS.
    public var scheme: String { tls == nil ? "http" : "https" }
    /// Access keys the DynamoDB API requires Signature Version 4 with
    /// (`[[auth.access_keys]]`); empty accepts any credentials.
    public var accessKeys: [ClusterConfig.Auth.AccessKey]
    /// The node's injectable network faults, served at `/admin/faults`; nil
    /// (the default) refuses fault injection there with 403.
    public var networkFaults: NetworkFaults?
    /// A deliberately broken node, for showing that `raftlab chaos` catches
    /// stale reads: `consistency=strong` reads are served from local state
    /// without a ReadIndex round. Never set outside that test.
    public var unsafeStrongReadsWithoutReadIndex = false
    /// Served at `POST /admin/power-cut` on a node started with
    /// `--power-cut-model`: saves what the node's stores made durable and
    /// ends the process at once. Nil (the default) refuses with 403.
    public var powerCut: (@Sendable () throws -> Void)?

    public init(
        forwardWritesToLeader: Bool = false, forwardTimeout: Duration = .seconds(10), maxBodyBytes: Int? = nil,
        accessKeys: [ClusterConfig.Auth.AccessKey] = [], networkFaults: NetworkFaults? = nil
    ) {
        self.forwardWritesToLeader = forwardWritesToLeader
        self.forwardTimeout = forwardTimeout
        self.maxBodyBytes = maxBodyBytes
        self.accessKeys = accessKeys
        self.networkFaults = networkFaults
    }
}

/// The router of the RaftLab HTTP JSON API over one node.
///
/// | Method | Path | Query | Body | Success |
/// |---|---|---|---|---|
/// | GET | /status | | | 200 NodeStatus |
/// | GET | /metrics | | | 200 Prometheus text |
/// | GET | /tables | consistency | | 200 `{"tables": [...]}` |
/// | POST | /tables | | `{"table_name","partition_key_name","sort_key_name"?}` | 201 table + index |
/// | GET | /tables/{table} | consistency | | 200 table |
/// | DELETE | /tables/{table} | | | 200 `{"table_name","items_deleted","index"}` |
/// | PUT | /tables/{table}/items | expected_version | the item | 200 item + index |
/// | GET | /tables/{table}/items | key, consistency | | 200 item |
/// | DELETE | /tables/{table}/items | key, expected_version | | 200 `{"deleted_item",...}` |
/// | POST | /tables/{table}/items/rollback | key, expected_version | | 200 item + index |
/// | GET | /tables/{table}/query | partition_key(_type), sort_key_prefix, limit, continuation_token, consistency | | 200 page |
/// | GET, POST, DELETE | /admin/... | (see `AdminRoutes`) | | when the service is a node |
/// | GET, PUT, DELETE | /admin/faults, /admin/state-digest | (see `ChaosRoutes`) | | |
///
/// "key" is `partition_key` and `sort_key`; values are strings unless
/// `partition_key_type=number` / `sort_key_type=number` says they are JSON
/// numbers. Errors are `{"error": CODE, "message": TEXT}` (see `APIError`).
///
/// `POST /` with `X-Amz-Target: DynamoDB_20120810.<Operation>` is the
/// DynamoDB API (see `DynamoDBRoutes`), with DynamoDB's own errors.
///
/// - Parameters:
///   - registry: served at `/metrics`; nil answers 404 there.
///   - metricsFactory: where HTTP request metrics go; nil for a
///     `PrometheusMetricsFactory` over `registry`, or `MetricsSystem.factory`
///     when there is no registry.
public func makeRouter<Service: NoSQLService>(
    service: Service,
    metrics registry: PrometheusCollectorRegistry?,
    options: HTTPAPIOptions = HTTPAPIOptions(),
    metricsFactory: (any MetricsFactory)? = nil
) -> Router<BasicRequestContext> {
    let router = Router()
    let factory: any MetricsFactory =
        metricsFactory ?? registry.map { PrometheusMetricsFactory(registry: $0) } ?? MetricsSystem.factory
    router.add(middleware: HTTPMetricsMiddleware(factory: factory))
    router.add(middleware: JSONErrorMiddleware(scheme: options.scheme))
    if options.auth.isEnabled {
        router.add(middleware: BearerAuthMiddleware(options.auth, dynamoDBSigned: !options.accessKeys.isEmpty))
    }
    NoSQLRoutes(service: service, registry: registry, options: options).register(on: router)
    AdminRoutes(instruments: service as? any NodeInstrumentation, membership: service as? any NodeMembership)
        .register(on: router)
    DynamoDBRoutes(
        handler: DynamoDBHandler(service: service, accessKeys: options.accessKeys),
        forwarder: LeaderForwarder(
            client: SimpleHTTPClient(userAgent: "raftlab-forwarder", tlsContext: options.clientTLS), timeout: options.forwardTimeout,
            proof: options.memberProof)
    ).register(on: router)
    ChaosRoutes(service: service, faults: options.networkFaults, powerCut: options.powerCut).register(on: router)
    return router
}

/// A Hummingbird application serving `makeRouter` on `address` (port 0 picks
/// a free port; `onListening` gets the address actually bound). It is a
/// swift-service-lifecycle `Service`: run it in the node's `ServiceGroup`.
public func makeApplication<Service: NoSQLService>(
    service: Service,
    address: HostPort,
    registry: PrometheusCollectorRegistry?,
    options: HTTPAPIOptions = HTTPAPIOptions(),
    logger: Logger,
    onListening: @escaping @Sendable (HostPort) async -> Void = { _ in }
) -> Application<RouterResponder<BasicRequestContext>> {
    Application(
        router: makeRouter(service: service, metrics: registry, options: options),
        server: options.tls.map { tls in .https(context: { tls.httpServer }) } ?? .http1(),
        configuration: ApplicationConfiguration(
            address: .hostname(address.host, port: address.port), serverName: "raftlab"),
        onServerRunning: { channel in
            await onListening(HostPort(host: address.host, port: channel.localAddress?.port ?? address.port))
        },
        logger: logger)
}

/// Turns whatever a handler throws into the JSON error response, logging
/// server-side failures (5xx other than 503/504, which are expected states).
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The scheme of redirects to the leader.
    var scheme = "http"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let answer = APIError.from(error, request: request, scheme: scheme)
            if answer.status >= 500 && answer.status != 503 && answer.status != 504 {
                context.logger.error(
                    "request failed", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
            } else if answer.status == 307 {
                context.logger.debug("redirecting to the leader", metadata: ["location": "\(answer.headers.first?.1 ?? "")"])
            }
            return answer.response
        }
    }
}

/// The endpoints, each a few lines: parse, call the service, render.
struct NoSQLRoutes<Service: NoSQLService>: Sendable {
    let service: Service
    let registry: PrometheusCollectorRegistry?
    let options: HTTPAPIOptions
    let forwarder: LeaderForwarder?

    init(service: Service, registry: PrometheusCollectorRegistry?, options: HTTPAPIOptions) {
        self.service = service
        self.registry = registry
        self.options = options
        forwarder =
            options.forwardWritesToLeader
            ? LeaderForwarder(
                client: SimpleHTTPClient(userAgent: "raftlab-forwarder", tlsContext: options.clientTLS),
                timeout: options.forwardTimeout, proof: options.memberProof) : nil
    }

    var maxBodyBytes: Int {
        options.maxBodyBytes ?? (service.limits.maxItemBytes * 2 + 64 * 1024)
    }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/status") { request, _ in try await status(request) }
        router.get("/metrics") { request, _ in try metrics(request) }
        router.get("/tables") { request, _ in try await listTables(request) }
        router.post("/tables") { request, _ in try await createTable(request) }
        router.get("/tables/{table}") { request, context in try await describeTable(request, table(context)) }
        router.delete("/tables/{table}") { request, context in try await deleteTable(request, table(context)) }
        router.put("/tables/{table}/items") { request, context in try await putItem(request, table(context)) }
        router.get("/tables/{table}/items") { request, context in try await getItem(request, table(context)) }
        router.delete("/tables/{table}/items") { request, context in try await deleteItem(request, table(context)) }
        router.post("/tables/{table}/items/rollback") { request, context in
            try await rollbackItem(request, table(context))
        }
        router.get("/tables/{table}/query") { request, context in try await query(request, table(context)) }
        if let admin = service as? any ClusterAdministration {
            ClusterRoutes(admin: admin, service: service, proof: options.memberProof).register(on: router)
        }
    }

    /// The consistency a read is served at: as asked, except on the
    /// deliberately broken test node, which skips ReadIndex.
    private func served(_ asked: ReadConsistency) -> ReadConsistency {
        options.unsafeStrongReadsWithoutReadIndex ? .local : asked
    }

    private func table(_ context: BasicRequestContext) -> String {
        context.parameters.get("table") ?? ""
    }

    // MARK: Node

    func status(_ request: Request) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        return jsonResponse(try APIDocuments.status(try await service.status()))
    }

    func metrics(_ request: Request) throws -> Response {
        guard let registry else {
            throw APIError(status: 404, code: APIError.Code.notFound, message: "this node serves no metrics registry")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }

    // MARK: Tables

    func listTables(_ request: Request) async throws -> Response {
        let consistency = served(try QueryParameters(request.uri.query, allowed: QueryNames.consistency).consistency())
        let tables = try await service.read(consistency) { machine, store in try machine.listTables(in: store) }
        return jsonResponse(.object(from: [("tables", .array(tables.map { .object(from: APIDocuments.table($0)) }))]))
    }

    func createTable(_ request: Request) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        let body = try await readBody(request)
        return try await write(.createTable(try parseCreateTable(body)), request: request, body: body)
    }

    func describeTable(_ request: Request, _ name: String) async throws -> Response {
        let consistency = served(try QueryParameters(request.uri.query, allowed: QueryNames.consistency).consistency())
        let info = try await service.read(consistency) { machine, store in try machine.describeTable(name, in: store) }
        return jsonResponse(.object(from: APIDocuments.table(info)))
    }

    func deleteTable(_ request: Request, _ name: String) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        return try await write(.deleteTable(name: name), request: request, body: [])
    }

    // MARK: Items

    func putItem(_ request: Request, _ table: String) async throws -> Response {
        let parameters = try QueryParameters(request.uri.query, allowed: QueryNames.putItem)
        let expected = try parameters.unsigned("expected_version")
        let body = try await readBody(request)
        // The parser recurses per level: never deeper than the state machine can read back.
        let depth = min(service.limits.maxNestingDepth, NoSQLLimits.maxSupportedNestingDepth)
        let item = try JSONValue.parse(body, maxDepth: depth)
        return try await write(
            .putItem(table: table, item: Item(json: item), expectedVersion: expected), request: request, body: body)
    }

    func getItem(_ request: Request, _ table: String) async throws -> Response {
        let parameters = try QueryParameters(request.uri.query, allowed: QueryNames.getItem)
        let key = try parameters.itemKey()
        let stored = try await service.read(served(try parameters.consistency())) { machine, store in
            try machine.getItem(table: table, key: key, in: store)
        }
        return jsonResponse(.object(from: [("table", .string(table))] + APIDocuments.item(stored)))
    }

    func deleteItem(_ request: Request, _ table: String) async throws -> Response {
        let parameters = try QueryParameters(request.uri.query, allowed: QueryNames.writeItem)
        let command = NoSQLCommand.deleteItem(
            table: table, key: try parameters.itemKey(), expectedVersion: try parameters.unsigned("expected_version"))
        return try await write(command, request: request, body: [])
    }

    func rollbackItem(_ request: Request, _ table: String) async throws -> Response {
        let parameters = try QueryParameters(request.uri.query, allowed: QueryNames.writeItem)
        let command = NoSQLCommand.rollbackItem(
            table: table, key: try parameters.itemKey(), expectedVersion: try parameters.unsigned("expected_version"))
        return try await write(command, request: request, body: [])
    }

    func query(_ request: Request, _ table: String) async throws -> Response {
        let parameters = try QueryParameters(request.uri.query, allowed: QueryNames.query)
        guard let partition = try parameters.keyValue("partition_key") else {
            throw APIError.invalidArgument("missing query parameter partition_key")
        }
        let query = ItemQuery(
            table: table, partitionKey: partition, sortKeyPrefix: parameters["sort_key_prefix"],
            limit: try parameters.int("limit") ?? 100,
            continuationToken: parameters["continuation_token"].flatMap { $0.isEmpty ? nil : $0 })
        let page = try await service.read(served(try parameters.consistency())) { machine, store in
            try machine.query(query, in: store)
        }
        return jsonResponse(APIDocuments.query(table: table, page))
    }

    // MARK: Plumbing

    /// The request body, refused with 413 past `maxBodyBytes`.
    private func readBody(_ request: Request) async throws -> [UInt8] {
        let limit = maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw APIError(
                status: 413, code: APIError.Code.requestTooLarge,
                message: "the request body is \(declared) bytes; the limit is \(limit)")
        }
        do {
            var buffer = try await request.body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw APIError(
                status: 413, code: APIError.Code.requestTooLarge, message: "the request body is over the limit of \(limit) bytes")
        }
    }

    /// Validates `command`, proposes it, and renders the acknowledgement. On
    /// a follower the `notLeader` error becomes a 307 (in the error
    /// middleware), or with forwarding on, the leader's own answer.
    private func write(_ command: NoSQLCommand, request: Request, body: [UInt8]) async throws -> Response {
        try command.validate(limits: service.limits)
        let idempotencyKey = request.headers[LeaderForwarder.idempotencyKey]
        var keyIssuedAt: UInt64?
        if let text = request.headers[LeaderForwarder.idempotencyKeyTime] {
            guard let value = UInt64(text), value > 0 else {
                throw APIError.invalidArgument(
                    "Idempotency-Key-Time must be the time the key was first sent, in milliseconds since the Unix epoch; got '\(text.prefix(40))'")
            }
            keyIssuedAt = value
        }
        do {
            let (status, json) = APIDocuments.write(
                try await service.write(command, idempotencyKey: idempotencyKey, keyIssuedAt: keyIssuedAt))
            return jsonResponse(json, status: status)
        } catch NodeError.notLeader(let leaderID, let address) {
            guard let forwarder, !forwarder.isForwarded(request, body: body) else {
                throw NodeError.notLeader(leaderID: leaderID, leaderHTTPAddress: address)
            }
            return try await forwarder.forward(request, body: body, to: address, leaderID: leaderID)
        }
    }
}
