import Foundation

/// The parts of an HTTP request that AWS Signature Version 4 covers.
public struct SignedRequest: Sendable {
    public var method: String
    /// The path as received (percent-encoded), e.g. `/`.
    public var path: String
    /// The query string as received, without `?`.
    public var query: String
    /// Every header, names in any case; `host` included.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, path: String, query: String, headers: [(name: String, value: String)], body: [UInt8]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The values of header `name` (case-insensitive), in order.
    func values(of name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name }.map(\.value)
    }
}

/// Checks AWS Signature Version 4 (`Authorization: AWS4-HMAC-SHA256
/// Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders=...,
/// Signature=...`) against the access keys of the cluster config, as
/// DynamoDB does: the signature must be over the request's method, path,
/// query, the headers it names (`host` among them) and the SHA-256 of the
/// body, with the key derived from the secret, the date, the region and the
/// service; the date must be within 15 minutes of this node's clock.
///
/// The region and service in the credential are taken as given (any
/// region and service name sign a valid request), so SDKs configured for
/// any region work.
public struct SigV4Verifier: Sendable {
    /// Access key id → secret access key.
    let secrets: [String: String]
    /// Largest difference between the request's date and this clock.
    public var allowedSkew: TimeInterval = 15 * 60

    public init(accessKeys: [(id: String, secret: String)]) {
        var secrets: [String: String] = [:]
        for key in accessKeys { secrets[key.id] = key.secret }
        self.secrets = secrets
    }

    /// What a verified request is signed for.
    public struct Credential: Sendable, Hashable {
        public var accessKeyID: String
        public var region: String
    }

    /// The credential of a correctly signed request; throws the DynamoDB
    /// error for anything else. `host` overrides the Host header (a request
    /// a follower relays to the leader keeps the host the client signed).
    public func verify(_ request: SignedRequest, host: String? = nil, now: Date = Date()) throws(DynamoDBError) -> Credential {
        guard let authorization = request.values(of: "authorization").first else { throw .missingAuthenticationToken() }
        let parsed = try Self.parse(authorization)
        let scope = parsed.credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard scope.count == 5, scope[4] == "aws4_request" else {
            throw .incompleteSignature("Credential should be scoped to a valid region, service and aws4_request terminator.")
        }
        let (keyID, date, region, service) = (scope[0], scope[1], scope[2], scope[3])
        guard let secret = secrets[keyID] else { throw .unrecognizedClient() }
        guard let amzDate = request.values(of: "x-amz-date").first else {
            throw .incompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        }
        guard let signedAt = Self.parseDate(amzDate) else {
            throw .incompleteSignature("X-Amz-Date must be in the ISO 8601 basic format yyyyMMdd'T'HHmmss'Z'")
        }
        guard amzDate.hasPrefix(date) else {
            throw .invalidSignature("Credential should be scoped to a valid date: \(date) does not match X-Amz-Date \(amzDate)")
        }
        if abs(signedAt.timeIntervalSince(now)) > allowedSkew {
            throw .invalidSignature("Signature expired: \(amzDate) is now earlier or later than 15 minutes from this server's time.")
        }
        let signedHeaders = parsed.signedHeaders.split(separator: ";").map { $0.lowercased() }
        guard signedHeaders.contains("host") else {
            throw .invalidSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
        }
        let expected = Self.signature(
            request, host: host, signedHeaders: signedHeaders, secret: secret, amzDate: amzDate,
            scope: (date: date, region: region, service: service))
        guard Self.constantTimeEqual(expected, parsed.signature.lowercased()) else {
            throw .invalidSignature(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
        }
        return Credential(accessKeyID: keyID, region: region)
    }

    /// The hex signature of `request` over `signedHeaders` (lowercase names),
    /// with `host` in place of the Host header when given.
    static func signature(
        _ request: SignedRequest, host: String?, signedHeaders: [String], secret: String, amzDate: String,
        scope: (date: String, region: String, service: String)
    ) -> String {
        var canonicalHeaders = ""
        for name in signedHeaders {
            let values: [String] = name == "host" ? [host ?? request.values(of: "host").first ?? ""] : request.values(of: name)
            canonicalHeaders += name + ":" + values.map(Self.trimmed).joined(separator: ",") + "\n"
        }
        let canonicalRequest = [
            request.method.uppercased(),
            Self.canonicalPath(request.path),
            Self.canonicalQuery(request.query),
            canonicalHeaders,
            signedHeaders.joined(separator: ";"),
            SHA256.hex(SHA256.hash(request.body)),
        ].joined(separator: "\n")
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, "\(scope.date)/\(scope.region)/\(scope.service)/aws4_request",
            SHA256.hex(SHA256.hash(Array(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        var key = SHA256.hmac(key: Array("AWS4\(secret)".utf8), Array(scope.date.utf8))
        for part in [scope.region, scope.service, "aws4_request"] { key = SHA256.hmac(key: key, Array(part.utf8)) }
        return SHA256.hex(SHA256.hmac(key: key, Array(stringToSign.utf8)))
    }

    /// Signs `request` as an AWS SDK would (for tests and tools): adds
    /// `X-Amz-Date` and an `Authorization` header over every header the
    /// request has (its Host header included, which it must have).
    public static func sign(
        _ request: inout SignedRequest, accessKeyID: String, secret: String, region: String = "us-east-1",
        service: String = "dynamodb", now: Date = Date()
    ) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = formatter.string(from: now)
        let date = String(amzDate.prefix(8))
        request.headers.removeAll { ["x-amz-date", "authorization"].contains($0.name.lowercased()) }
        request.headers.append((name: "x-amz-date", value: amzDate))
        let signedHeaders = Set(request.headers.map { $0.name.lowercased() }).sorted()
        let signature = signature(
            request, host: nil, signedHeaders: signedHeaders, secret: secret, amzDate: amzDate,
            scope: (date: date, region: region, service: service))
        request.headers.append((
            name: "authorization",
            value: "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(date)/\(region)/\(service)/aws4_request, "
                + "SignedHeaders=\(signedHeaders.joined(separator: ";")), Signature=\(signature)"))
    }

    /// The region a request's credential names, if it has a well-formed
    /// `Authorization` header (for ARNs, even without authentication).
    public static func region(of request: SignedRequest) -> String? {
        guard let authorization = request.values(of: "authorization").first,
            let parsed = try? parse(authorization)
        else { return nil }
        let scope = parsed.credential.split(separator: "/", omittingEmptySubsequences: false)
        return scope.count == 5 && !scope[2].isEmpty ? String(scope[2]) : nil
    }

    private struct Authorization {
        var credential: String
        var signedHeaders: String
        var signature: String
    }

    private static func parse(_ header: String) throws(DynamoDBError) -> Authorization {
        let trimmedHeader = header.trimmingCharacters(in: .whitespaces)
        guard trimmedHeader.hasPrefix("AWS4-HMAC-SHA256 ") else {
            throw .incompleteSignature("Authorization header requires the AWS4-HMAC-SHA256 algorithm")
        }
        var fields: [String: String] = [:]
        for part in trimmedHeader.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"],
            let signature = fields["Signature"]
        else {
            throw .incompleteSignature(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=\(header)")
        }
        return Authorization(credential: credential, signedHeaders: signedHeaders, signature: signature)
    }

    private static func parseDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            guard bytes[range].allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            return Int(String(decoding: bytes[range], as: UTF8.self))
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
            let minute = number(11..<13), let second = number(13..<15)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))
    }

    /// Header values as SigV4 canonicalizes them: outer spaces trimmed,
    /// inner runs of spaces collapsed to one.
    static func trimmed(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            .trimmingCharacters(in: .whitespaces)
    }

    /// The URI-encoded path (every byte but unreserved characters and `/`),
    /// as the AWS SDKs sign it for services other than S3.
    static func canonicalPath(_ path: String) -> String {
        path.isEmpty ? "/" : uriEncode(path, keepSlash: true)
    }

    /// Parameters sorted by name then value, names and values URI-encoded.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&").map { part -> (String, String) in
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0]).removingPercentEncoding ?? String(pair[0])
            let value = pair.count > 1 ? (String(pair[1]).removingPercentEncoding ?? String(pair[1])) : ""
            return (uriEncode(name, keepSlash: false), uriEncode(value, keepSlash: false))
        }
        return pairs.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out += "/"
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for (p, q) in zip(x, y) { difference |= p ^ q }
        return difference == 0
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}
