import Foundation
import NIOSSL
import NoSQL
import RaftLabAPI
import RaftLabNode
import RaftLabHTTPClient
import RaftLabServer

/// The client side of the HTTP API: sends one API request to a node and
/// gets a 2xx JSON answer back, whatever the cluster is doing meanwhile.
///
/// - A 307/308 is followed to the `Location` (or the body's `leader_addr`),
///   method and body kept, at most `maxRedirects` hops in a row.
/// - A 503 (no leader yet, shutting down), a 502 (a forwarding follower could
///   not reach the leader) or a connection that cannot be made is retried
///   after a backoff of 100 ms doubling to 1 s, from the node the user named.
/// - Everything happens within `timeout`; then the last problem is reported.
/// - Every write carries an `Idempotency-Key` (a fresh UUID per command), so
///   a write whose outcome is unknown (its connection broke after it was
///   sent, or a 504 `outcome_unknown`) is retried with the same key: the
///   cluster applies it at most once and answers with the first result.
struct APIClient: Sendable {
    var target: HostPort
    var timeout: Duration
    var http: SimpleHTTPClient
    /// Called with a line per redirect and retry (`--verbose`).
    var trace: (@Sendable (String) -> Void)?
    var maxRedirects = 8

    /// Sent as `Authorization: Bearer` with every request (never printed).
    var token: String?

    init(
        target: HostPort, timeout: Duration, trace: (@Sendable (String) -> Void)? = nil,
        tls: NIOSSLContext? = nil, token: String? = nil
    ) {
        self.target = target
        self.timeout = timeout
        self.trace = trace
        self.token = token
        http = SimpleHTTPClient(userAgent: "raftlab/\(RaftLabVersion.current)", tlsContext: tls)
    }

    /// A successful answer.
    struct Answer: Sendable {
        var status: Int
        var body: [UInt8]
        var json: JSONValue
        /// The node that answered (the leader, after a redirect).
        var node: HostPort

        /// The body as the server sent it, without the trailing newline.
        var text: String {
            var text = String(decoding: body, as: UTF8.self)
            while text.last?.isNewline == true { text.removeLast() }
            return text
        }
    }

    /// Sends `method path?query` with `body` and returns the 2xx answer;
    /// any other outcome is a `ClientFailure`.
    func call(_ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8] = []) async throws(ClientFailure)
        -> Answer
    {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var headers: [(String, String)] = body.isEmpty ? [] : [("Content-Type", "application/json")]
        if method != "GET" {
            // One key per command, with when it was first sent: a retry the
            // cluster no longer remembers is refused, never applied twice.
            headers.append(("Idempotency-Key", UUID().uuidString))
            headers.append(("Idempotency-Key-Time", String(UInt64(Date().timeIntervalSince1970 * 1000))))
        }
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        var request = SimpleHTTPRequest(method: method, path: path + Self.queryString(query), headers: headers, body: body)
        let originalPath = request.path
        var node = target
        var redirects = 0
        var backoff = Duration.milliseconds(100)
        var lastProblem = "no attempt was made"

        /// Waits before the next attempt and starts over from the named node; false when time is up.
        func pause(_ problem: String) async throws(ClientFailure) {
            lastProblem = problem
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else { throw .unavailable(Self.gaveUp(lastProblem, timeout)) }
            let wait = min(backoff, remaining)
            trace?("\(problem); retrying in \(Self.milliseconds(wait)) ms")
            do { try await Task.sleep(for: wait) } catch { throw .unavailable("cancelled: \(problem)") }
            backoff = min(backoff * 2, .seconds(1))
            node = target
            request.path = originalPath
            redirects = 0
        }

        while true {
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else { throw .unavailable(Self.gaveUp(lastProblem, timeout)) }
            trace?("\(method) \(http.scheme)://\(node)\(request.path)")
            let response: SimpleHTTPResponse
            do {
                response = try await http.execute(request, to: node, timeout: remaining)
            } catch SimpleHTTPClientError.tlsFailed(let address, let reason) {
                // A certificate problem does not go away by waiting.
                throw .unavailable("TLS with \(address) failed: \(reason)")
            } catch let error as SimpleHTTPClientError {
                // An attempt cut short by our own deadline says less than the
                // answer before it (say, "no leader"): report that one.
                if case .timedOut = error, clock.now >= deadline, lastProblem != "no attempt was made" {
                    throw .unavailable(Self.gaveUp(lastProblem + "; the last attempt got no answer in time", timeout))
                }
                // Safe to repeat: a read, or a write under the same Idempotency-Key.
                try await pause(error.requestMayHaveBeenSent && method != "GET"
                    ? "\(error) (outcome unknown; retrying with the same Idempotency-Key)" : error.description)
                continue
            } catch {
                throw .unavailable("cancelled")
            }

            let json = try? JSONValue.parse(response.body)
            switch response.status {
            case 200..<300:
                guard let json else { throw .badResponse("HTTP \(response.status) with a body that is not JSON") }
                return Answer(status: response.status, body: response.body, json: json, node: node)
            case 301, 302, 303, 307, 308:
                guard let next = Self.redirectTarget(response, json: json, from: node, path: request.path) else {
                    throw .badResponse("HTTP \(response.status) without a Location or leader_addr")
                }
                redirects += 1
                if redirects > maxRedirects {
                    try await pause("more than \(maxRedirects) redirects in a row (a leader change?)")
                    continue
                }
                trace?("\(json?["error"]?.stringValue ?? "redirect"): following to \(next.node)")
                (node, request.path) = next
            case 502, 503:
                let problem = Self.failure(response, json: json).description
                try await pause(problem)
            case 504 where json?["error"]?.stringValue == "outcome_unknown":
                try await pause(Self.failure(response, json: json).description + " (retrying with the same Idempotency-Key)")
            default:
                throw Self.failure(response, json: json)
            }
        }
    }

    /// The server's error answer as a failure; a body that is not the API's
    /// error document still gives the status and text.
    static func failure(_ response: SimpleHTTPResponse, json: JSONValue?) -> ClientFailure {
        if let code = json?["error"]?.stringValue {
            return .rejected(status: response.status, code: code, message: json?["message"]?.stringValue ?? code)
        }
        let text = response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)
        return .rejected(
            status: response.status, code: "http_\(response.status)",
            message: text.isEmpty ? "HTTP status \(response.status)" : String(text.prefix(500)))
    }

    /// Where a redirect points: `Location` (absolute `http://host:port/path` or
    /// a path on the same node), else the body's `leader_addr` with the same path.
    static func redirectTarget(_ response: SimpleHTTPResponse, json: JSONValue?, from node: HostPort, path: String)
        -> (node: HostPort, path: String)?
    {
        if let location = response.header("Location") {
            if location.hasPrefix("/") { return (node, location) }
            let scheme = location.lowercased().hasPrefix("https://") ? "https://" : "http://"
            if location.lowercased().hasPrefix(scheme) {
                let rest = location.dropFirst(scheme.count)
                let slash = rest.firstIndex(of: "/") ?? rest.endIndex
                if let address = try? HostPort(parsing: String(rest[..<slash])) {
                    let newPath = rest[slash...]
                    return (address, newPath.isEmpty ? "/" : String(newPath))
                }
            }
        }
        if let leader = json?["leader_addr"]?.stringValue, let address = try? HostPort(parsing: leader) {
            return (address, path)
        }
        return nil
    }

    /// `?a=b&c=d`, each name and value percent-encoded (only RFC 3986
    /// unreserved characters stay as they are), or "" for no parameters.
    static func queryString(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        return "?" + query.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func gaveUp(_ problem: String, _ timeout: Duration) -> String {
        "gave up after \(seconds(timeout)) s (--timeout): \(problem)"
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    static func seconds(_ duration: Duration) -> String {
        let millis = milliseconds(duration)
        return millis % 1000 == 0 ? "\(millis / 1000)" : "\(Double(millis) / 1000)"
    }
}
