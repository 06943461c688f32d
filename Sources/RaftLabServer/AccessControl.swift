import Crypto
import HTTPTypes
import Hummingbird
import RaftLabNode

/// The role each route needs: one table for the whole API. A route added
/// later declares its role here with one line; a route missing from it
/// needs `admin` (fail closed), so forgetting it never opens anything.
///
/// `*` in a pattern matches exactly one path segment.
public enum RouteRoles {
    public typealias Role = ClusterConfig.Role

    public struct Rule: Sendable {
        public var method: HTTPRequest.Method
        public var pattern: [Substring]
        public var role: Role

        public init(_ method: HTTPRequest.Method, _ pattern: String, _ role: Role) {
            self.method = method
            self.pattern = pattern.split(separator: "/")
            self.role = role
        }

        func matches(_ method: HTTPRequest.Method, _ segments: [Substring]) -> Bool {
            guard method == self.method, segments.count == pattern.count else { return false }
            return zip(pattern, segments).allSatisfy { $0 == "*" || $0 == $1 }
        }
    }

    public static let rules: [Rule] = [
        Rule(.get, "/status", .read),
        Rule(.get, "/metrics", .read),
        Rule(.get, "/tables", .read),
        Rule(.get, "/tables/*", .read),
        Rule(.get, "/tables/*/items", .read),
        Rule(.get, "/tables/*/query", .read),
        Rule(.put, "/tables/*/items", .write),
        Rule(.delete, "/tables/*/items", .write),
        Rule(.post, "/tables/*/items/rollback", .write),
        Rule(.post, "/tables", .admin),
        Rule(.delete, "/tables/*", .admin),
        // Membership, backup, fault injection: admin, like every route not listed.
    ]

    /// The role `method path` needs.
    public static func required(_ method: HTTPRequest.Method, _ path: String) -> Role {
        let segments = path.split(separator: "/")
        return rules.first { $0.matches(method, segments) }?.role ?? .admin
    }
}

/// Bearer-token access control over the API (`[auth]` with `[[auth.tokens]]`).
///
/// Tokens are kept as SHA-256 digests and compared in constant time, every
/// configured token every time; neither a token nor its digest is ever
/// logged or echoed. A request without a valid token gets 401 (with
/// `WWW-Authenticate: Bearer`), one whose token's role is below the route's
/// gets 403, both with the API's JSON error shape.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    private let tokens: [(digest: [UInt8], role: ClusterConfig.Role)]
    private let openStatusAndMetrics: Bool
    /// DynamoDB API requests (`POST /` with `X-Amz-Target`) are authenticated
    /// by their Signature Version 4 against `[[auth.access_keys]]` instead;
    /// without access keys they need a bearer token like any request.
    private let dynamoDBSigned: Bool

    init(_ auth: ClusterConfig.Auth, dynamoDBSigned: Bool = false) {
        tokens = auth.tokens.map { (Array(SHA256.hash(data: Array($0.token.utf8))), $0.role) }
        openStatusAndMetrics = auth.openStatusAndMetrics
        self.dynamoDBSigned = dynamoDBSigned
    }

    private static var amazonTarget: HTTPField.Name { HTTPField.Name("X-Amz-Target")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if openStatusAndMetrics, request.method == .get, path == "/status" || path == "/metrics" {
            return try await next(request, context)
        }
        if dynamoDBSigned, request.method == .post, path == "/", request.headers[Self.amazonTarget] != nil {
            return try await next(request, context)
        }
        let required = RouteRoles.required(request.method, path)
        guard let header = request.headers[.authorization] else {
            throw Self.unauthorized("this node requires a bearer token: send Authorization: Bearer TOKEN (raftlab: --token)")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Self.unauthorized("the Authorization header must be \"Bearer TOKEN\"")
        }
        let token = parts[1].drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed()
        guard let role = role(of: String(token)) else {
            throw Self.unauthorized("the bearer token is not valid on this node")
        }
        guard role >= required else {
            throw APIError(
                status: 403, code: APIError.Code.forbidden,
                message: "a \(role) token may not \(request.method) \(path): that needs the \(required) role")
        }
        return try await next(request, context)
    }

    /// The role of `token`, comparing its digest with every configured one
    /// without stopping early, so timing tells nothing about near misses.
    private func role(of token: String) -> ClusterConfig.Role? {
        let digest = Array(SHA256.hash(data: Array(token.utf8)))
        var found: ClusterConfig.Role?
        for entry in tokens {
            var difference: UInt8 = 0
            for i in 0..<digest.count { difference |= digest[i] ^ entry.digest[i] }
            if difference == 0 { found = entry.role }
        }
        return found
    }

    private static func unauthorized(_ message: String) -> APIError {
        APIError(
            status: 401, code: APIError.Code.unauthorized, message: message,
            headers: [(.wwwAuthenticate, "Bearer realm=\"raftlab\"")])
    }
}
