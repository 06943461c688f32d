import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NoSQL
import RaftLabAPI
import RaftLabHTTPClient
import RaftLabNode
import RaftLabServer
import RaftLabTestSupport
import RaftLabTLS
import Synchronization
import Testing

@Suite("HTTP API: bearer tokens and roles")
struct AuthTests {
    static let reader = "read-token-0123456789abcdef"
    static let writer = "write-token-0123456789abcdef"
    static let admin = "admin-token-0123456789abcdef"

    static func options(openStatusAndMetrics: Bool = false) -> HTTPAPIOptions {
        var options = HTTPAPIOptions()
        options.auth.tokens = [
            ClusterConfig.Token(token: reader, role: .read), ClusterConfig.Token(token: writer, role: .write),
            ClusterConfig.Token(token: admin, role: .admin),
        ]
        options.auth.openStatusAndMetrics = openStatusAndMetrics
        return options
    }

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    func status(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, token: String?) async throws -> (Int, JSONValue?) {
        let response = try await client.send(method, uri, body, headers: token.map(Self.bearer) ?? [:])
        return (Int(response.status.code), try? response.json())
    }

    @Test("a read token cannot write, a write token cannot delete a table, an admin token can; 401/403 in the JSON error shape")
    func roles() async throws {
        try await withAPI(try InMemoryService(), options: Self.options()) { client in
            // No token, a malformed header, an unknown token: 401 with WWW-Authenticate.
            let none = try await client.send(.get, "/tables")
            #expect(none.status.code == 401)
            #expect(none.headers[.wwwAuthenticate] == "Bearer realm=\"raftlab\"")
            #expect(try none.json()["error"] == "unauthorized")
            #expect(try await status(client, .get, "/tables", token: "not-a-token-of-this-cluster").0 == 401)
            let basic = try await client.send(.get, "/tables", headers: [.authorization: "Basic YWRtaW46YWRtaW4="])
            #expect(basic.status.code == 401)

            // Tables are admin's.
            let (created, _) = try await status(client, .post, "/tables", Demo.createMusic, token: Self.admin)
            #expect(created == 201)
            let (writerCreates, body) = try await status(client, .post, "/tables", #"{"table_name":"Other","partition_key_name":"k"}"#, token: Self.writer)
            #expect(writerCreates == 403)
            #expect(body?["error"] == "forbidden")
            #expect(body?["message"]?.stringValue?.contains("needs the admin role") == true)

            // A read token reads but cannot write.
            #expect(try await status(client, .put, "/tables/Music/items", Demo.letItBe, token: Self.reader).0 == 403)
            #expect(try await status(client, .put, "/tables/Music/items", Demo.letItBe, token: Self.writer).0 == 200)
            #expect(try await status(client, .get, "/tables/Music/items?partition_key=The%20Beatles&sort_key=Let%20It%20Be", token: Self.reader).0 == 200)
            #expect(try await status(client, .get, "/tables/Music/query?partition_key=The%20Beatles", token: Self.reader).0 == 200)
            #expect(try await status(client, .get, "/status", token: Self.reader).0 == 200)
            #expect(try await status(client, .delete, "/tables/Music/items?partition_key=The%20Beatles&sort_key=Let%20It%20Be", token: Self.reader).0 == 403)
            #expect(try await status(client, .post, "/tables/Music/items/rollback?partition_key=The%20Beatles&sort_key=Let%20It%20Be", token: Self.reader).0 == 403)

            // A write token cannot delete a table; admin can.
            let (writerDeletes, denied) = try await status(client, .delete, "/tables/Music", token: Self.writer)
            #expect(writerDeletes == 403)
            #expect(denied?["error"] == "forbidden")
            #expect(try await status(client, .get, "/tables/Music", token: Self.reader).0 == 200)
            #expect(try await status(client, .delete, "/tables/Music", token: Self.admin).0 == 200)
            // Status and metrics need a token unless the config leaves them open.
            #expect(try await status(client, .get, "/metrics", token: nil).0 == 401)
        }
    }

    @Test("open_status_and_metrics leaves GET /status and /metrics open, and nothing else")
    func openMonitoring() async throws {
        try await withAPI(try InMemoryService(), options: Self.options(openStatusAndMetrics: true)) { client in
            let (statusCode, _) = try await self.status(client, .get, "/status", token: nil)
            #expect(statusCode == 200)
            #expect(try await self.status(client, .get, "/metrics", token: nil).0 == 200)
            #expect(try await self.status(client, .get, "/tables", token: nil).0 == 401)
            #expect(try await self.status(client, .post, "/status", token: nil).0 != 200)
        }
    }

    @Test("DynamoDB requests: with access keys their signature authenticates them; without, they need an admin token")
    func dynamoDBRequests() async throws {
        let target: HTTPFields = [HTTPField.Name("X-Amz-Target")!: "DynamoDB_20120810.ListTables", .contentType: "application/x-amz-json-1.0"]
        // Tokens only: an unsigned DynamoDB request is refused like any request without a token.
        try await withAPI(try InMemoryService(), options: Self.options()) { client in
            let refused = try await client.send(.post, "/", "{}", headers: target)
            #expect(refused.status.code == 401)
            var withAdmin = target
            withAdmin[.authorization] = "Bearer \(Self.admin)"
            let allowed = try await client.send(.post, "/", "{}", headers: withAdmin)
            #expect(allowed.status.code == 200)
        }
        // Tokens and access keys: the bearer check steps aside and SigV4 decides.
        var options = Self.options()
        options.accessKeys = [ClusterConfig.Auth.AccessKey(accessKeyID: "AKIDRAFTLAB", secretAccessKey: "raftlab-secret-key")]
        try await withAPI(try InMemoryService(), options: options) { client in
            let unsigned = try await client.send(.post, "/", "{}", headers: target)
            #expect(unsigned.status.code == 400)
            #expect(String(buffer: unsigned.body).contains("MissingAuthenticationToken"))
        }
    }

    @Test("every route of the table has a role, and routes nobody declared need admin")
    func routeTable() {
        #expect(RouteRoles.required(.get, "/tables/Music/items") == .read)
        #expect(RouteRoles.required(.put, "/tables/Music/items") == .write)
        #expect(RouteRoles.required(.delete, "/tables/Music") == .admin)
        #expect(RouteRoles.required(.post, "/admin/membership") == .admin)
        #expect(RouteRoles.required(.get, "/backup") == .admin)
    }

    @Test("tokens never appear in the server's logs, even at trace level and on failures")
    func tokensNotLogged() async throws {
        let captured = Lines()
        let logger = Logger(label: "auth-test") { _ in LineHandler(lines: captured) }
        let service = try InMemoryService()
        var options = Self.options()
        options.forwardWritesToLeader = true
        let app = Application(router: makeRouter(service: service, metrics: nil, options: options), logger: logger)
        try await app.test(.router) { client in
            _ = try await client.send(.post, "/tables", Demo.createMusic, headers: Self.bearer(Self.admin))
            _ = try await client.send(.put, "/tables/Music/items", Demo.letItBe, headers: Self.bearer(Self.reader))
            _ = try await client.send(.get, "/tables", headers: Self.bearer("wrong-token-0123456789abcdef"))
            _ = try await client.send(.get, "/tables/Nope", headers: Self.bearer(Self.writer))
            _ = try await client.send(.put, "/tables/Music/items", "{broken", headers: Self.bearer(Self.writer))
            // Server-side failures are what the API logs.
            service.mode = .broken
            _ = try await client.send(.put, "/tables/Music/items", Demo.letItBe, headers: Self.bearer(Self.writer))
            service.mode = .diskFailing
            _ = try await client.send(.get, "/tables/Music", headers: Self.bearer(Self.reader))
        }
        let text = captured.all.joined(separator: "\n")
        #expect(!captured.all.isEmpty, "nothing was logged: the check would prove nothing")
        for token in [Self.reader, Self.writer, Self.admin, "wrong-token-0123456789abcdef"] {
            #expect(!text.contains(token), "a token appeared in the logs")
        }
    }

    @Test("HTTPS: the API over TLS with a certificate from `raftlab certs`, verified against the CA; plain HTTP is refused")
    func https() async throws {
        let directory = NSTemporaryDirectory() + "raftlab-https-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try CertificateFactory.initialize(directory: directory, nodes: 1)
        let other = directory + "/other"
        _ = try CertificateFactory.initialize(directory: other, nodes: 1)
        var options = Self.options()
        options.tls = try TLSContexts(
            files: TLSFiles(caFile: directory + "/ca.pem", certificateFile: directory + "/node-1.pem", keyFile: directory + "/node-1-key.pem"),
            nodeID: 1)
        try await withLiveServer(try InMemoryService(), options: options) { address in
            let https = SimpleHTTPClient(tlsContext: try TLSContexts.httpsClient(caFile: directory + "/ca.pem"))
            let answer = try await https.execute(
                SimpleHTTPRequest(method: "GET", path: "/status", headers: [("Authorization", "Bearer \(Self.reader)")]),
                to: address, timeout: .seconds(10))
            #expect(answer.status == 200)
            // By name too: the certificate names localhost.
            let byName = try await https.execute(
                SimpleHTTPRequest(method: "GET", path: "/tables", headers: [("Authorization", "Bearer \(Self.reader)")]),
                to: HostPort(host: "localhost", port: address.port), timeout: .seconds(10))
            #expect(byName.status == 200)
            let unauthenticated = try await https.execute(SimpleHTTPRequest(method: "GET", path: "/tables"), to: address, timeout: .seconds(10))
            #expect(unauthenticated.status == 401)

            // A client trusting another CA refuses the server: nothing is sent.
            let distrustful = SimpleHTTPClient(tlsContext: try TLSContexts.httpsClient(caFile: other + "/ca.pem"))
            do {
                _ = try await distrustful.execute(SimpleHTTPRequest(method: "GET", path: "/status"), to: address, timeout: .seconds(10))
                Issue.record("a client trusting another CA accepted the server")
            } catch let error as SimpleHTTPClientError {
                guard case .tlsFailed = error else { Issue.record("expected tlsFailed, got \(error)"); return }
                #expect(!error.requestMayHaveBeenSent)
            }
            // Plain HTTP to the HTTPS port gets no answer.
            do {
                let plain = try await SimpleHTTPClient().execute(SimpleHTTPRequest(method: "GET", path: "/status"), to: address, timeout: .seconds(5))
                Issue.record("plain HTTP was answered: \(plain.status)")
            } catch is SimpleHTTPClientError {}
        }
    }
}

final class Lines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

struct LineHandler: LogHandler {
    let lines: Lines
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.append("\(event.level) \(event.message) \(merged)")
    }
}
