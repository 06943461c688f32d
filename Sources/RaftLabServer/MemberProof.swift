import Crypto
import HTTPTypes
import Hummingbird
import Logging
import RaftLabNode

/// Proof that a request carrying the member-only headers
/// (`X-RaftLab-Forwarded`, `X-RaftLab-Signed-Host`) was relayed by a cluster
/// member, not made up by a client.
///
/// A relaying node adds `X-RaftLab-Member-Proof`: HMAC-SHA256, under a key
/// derived from every client credential of the config (`[[auth.tokens]]`
/// and `[[auth.access_keys]]`), of the request's method, target, the signed
/// host it claims and the SHA-256 of its body. The receiver recomputes it
/// and compares in constant time; without a valid proof both headers are
/// ignored and the request is an ordinary client request (its signature is
/// checked against the Host it was sent to, and it may be forwarded once).
///
/// Why this key: members already share the config's credentials (a leader
/// must accept every token and access key a follower accepts, or forwarding
/// fails anyway), so no new setting is needed; and only whoever holds *all*
/// of them can make a proof, i.e. someone who could already act as any
/// client with any role. With no credentials configured the API is open,
/// and the headers grant nothing a client does not already have. The
/// cluster ID is left out: it is public (`GET /status`) and adds no secret.
/// The proof binds the body and signed host, so one seen on the wire (plain
/// HTTP) cannot vouch for a different request.
public struct MemberProof: Sendable {
    public static let header = HTTPField.Name("X-RaftLab-Member-Proof")!

    private let key: SymmetricKey

    public init(auth: ClusterConfig.Auth, accessKeys: [ClusterConfig.Auth.AccessKey]) {
        var material = Array("raftlab/member-proof/v1".utf8)
        func add(_ text: String) {
            let bytes = Array(text.utf8)
            for shift in stride(from: 24, through: 0, by: -8) { material.append(UInt8(truncatingIfNeeded: bytes.count >> shift)) }
            material += bytes
        }
        for token in auth.tokens.map(\.token).sorted() { add("token"); add(token) }
        let keys = (auth.accessKeys + accessKeys).map { "\($0.accessKeyID)\u{0}\($0.secretAccessKey)" }
        for key in Set(keys).sorted() { add("access-key"); add(key) }
        key = SymmetricKey(data: SHA256.hash(data: material))
    }

    /// The proof for a relayed request (hex).
    public func proof(method: String, target: String, signedHost: String?, body: [UInt8]) -> String {
        code(method: method, target: target, signedHost: signedHost, body: body).map { hex($0) }.joined()
    }

    /// Whether `request` carries a valid proof for itself and `body`.
    func verifies(_ request: Request, body: [UInt8], signedHost: String?) -> Bool {
        guard let sent = request.headers[Self.header], let bytes = Self.bytes(hex: sent) else { return false }
        let expected = code(method: request.method.rawValue, target: request.uri.string, signedHost: signedHost, body: body)
        guard bytes.count == expected.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<bytes.count { difference |= bytes[i] ^ expected[i] }
        return difference == 0
    }

    /// Whether `request` was relayed by a member: it says so
    /// (`X-RaftLab-Forwarded`) and proves it. Member-only headers without a
    /// valid proof are ignored, with a warning: either a client trying them,
    /// or a member whose `[auth]` differs from this node's.
    func isMemberRelay(_ request: Request, body: [UInt8], signedHost: String?, logger: Logger?) -> Bool {
        guard request.headers[LeaderForwarder.header] != nil || signedHost != nil else { return false }
        if request.headers[LeaderForwarder.header] != nil, verifies(request, body: body, signedHost: signedHost) { return true }
        logger?.warning(
            "ignored member-only headers (X-RaftLab-Forwarded / X-RaftLab-Signed-Host) without a valid member proof: treated as a client request (a client, or a member whose [auth] differs from this node's)",
            metadata: ["method": "\(request.method)", "path": "\(request.uri.path)"])
        return false
    }

    private func code(method: String, target: String, signedHost: String?, body: [UInt8]) -> [UInt8] {
        var message = Array("\(method)\n\(target)\n".utf8)
        if let signedHost { message += Array("signed-host:\(signedHost)".utf8) }
        message += Array("\n".utf8) + Array(SHA256.hash(data: body))
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
    }

    private func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }

    private static func bytes(hex: String) -> [UInt8]? {
        let characters = Array(hex.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(characters.count / 2)
        var i = 0
        while i < characters.count {
            guard let high = nibble(characters[i]), let low = nibble(characters[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
