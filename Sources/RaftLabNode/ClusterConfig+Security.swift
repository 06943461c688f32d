import EncryptedStorage
import NIOSSL
import Raft
import RaftLabTLS
import RaftTCPTransport
import StorageCore

// MARK: The security parts of a config: [storage] encryption, [tls], [auth]

extension ClusterConfig {
    /// `[storage] encryption = "aes-256-gcm"` with `encryption_key_file`.
    public struct Encryption: Sendable, Hashable {
        public var algorithm: String
        /// 32 bytes; relative paths are relative to the working directory.
        public var keyFile: String

        public init(algorithm: String = EncryptedBackend.algorithm, keyFile: String) {
            self.algorithm = algorithm
            self.keyFile = keyFile
        }
    }

    /// `[tls]`: mutual TLS between nodes and, unless `https = false`, HTTPS
    /// for the client API, from the same certificates. In `cert_file` and
    /// `key_file`, `{id}` stands for the node's id, so one file serves a
    /// whole cluster.
    public struct TLS: Sendable, Hashable {
        public var caFile: String
        public var certificateFile: String
        public var keyFile: String
        /// Serve the client API over HTTPS too (default true).
        public var https: Bool

        public init(caFile: String, certificateFile: String, keyFile: String, https: Bool = true) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.https = https
        }

        /// The files of node `id`.
        public func files(forNode id: UInt64) -> TLSFiles {
            TLSFiles(
                caFile: caFile, certificateFile: certificateFile.replacingIDPlaceholder(id),
                keyFile: keyFile.replacingIDPlaceholder(id))
        }
    }

    /// What a bearer token may do; each role includes the ones before it.
    public enum Role: String, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
        /// Reads and status.
        case read
        /// Plus item writes.
        case write
        /// Plus tables, membership, backup and fault injection.
        case admin

        public static func < (a: Self, b: Self) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }

        public var description: String { rawValue }
    }

    /// One `[[auth.tokens]]` entry.
    public struct Token: Sendable, Hashable, CustomStringConvertible {
        public var token: String
        public var role: Role

        public init(token: String, role: Role) {
            self.token = token
            self.role = role
        }

        /// Never the token itself: configs get printed and logged.
        public var description: String { "token (\(role))" }

        /// Tokens this short are refused: they can be guessed.
        public static let minimumLength = 16
    }

    /// Checks the security tables: what a parser cannot.
    func validateSecurity() throws {
        if let encryption = storage.encryption {
            guard encryption.algorithm == EncryptedBackend.algorithm else {
                throw ConfigError.invalid(
                    "storage.encryption must be \"\(EncryptedBackend.algorithm)\" (or absent), got \"\(encryption.algorithm)\"")
            }
            guard !encryption.keyFile.isEmpty else { throw ConfigError.invalid("storage.encryption_key_file must not be empty") }
        }
        if let tls {
            for (name, value) in [("ca_file", tls.caFile), ("cert_file", tls.certificateFile), ("key_file", tls.keyFile)] where value.isEmpty {
                throw ConfigError.invalid("tls.\(name) must not be empty")
            }
        }
        var seen: Set<String> = []
        for (i, token) in auth.tokens.enumerated() {
            guard token.token.count >= Token.minimumLength else {
                throw ConfigError.invalid("auth.tokens[\(i)]: a token must have at least \(Token.minimumLength) characters")
            }
            guard token.token.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else {
                throw ConfigError.invalid("auth.tokens[\(i)]: a token must be printable ASCII without spaces")
            }
            guard seen.insert(token.token).inserted else {
                throw ConfigError.invalid("auth.tokens[\(i)]: the same token is listed twice")
            }
        }
    }

    // MARK: Opening what the config names

    /// The registry a node opens its stores through: `registry` itself, or
    /// with `[storage] encryption`, every backend of it wrapped in encryption
    /// at rest with the key from `encryption_key_file`.
    public func storeRegistry(_ registry: BackendRegistry) throws -> BackendRegistry {
        guard let key = try encryptionKey() else { return registry }
        return try registry.encrypted(with: key)
    }

    /// The key of `[storage] encryption_key_file`, nil without encryption.
    public func encryptionKey() throws -> EncryptionKey? {
        guard let encryption = storage.encryption else { return nil }
        do {
            return try EncryptionKey.load(path: encryption.keyFile)
        } catch {
            throw ConfigError.invalid("[storage] \(error.description)")
        }
    }

    /// Node `id`'s TLS contexts, when the config has `[tls]`.
    public func tlsContexts(forNode id: UInt64) throws -> TLSContexts? {
        guard let tls else { return nil }
        do {
            return try TLSContexts(files: tls.files(forNode: id), nodeID: id)
        } catch {
            throw ConfigError.invalid("[tls] for node \(id): \(error.description)")
        }
    }
}

extension TransportTLS {
    /// Mutual TLS from a node's contexts: peers are identified by the node
    /// their certificate names (`NodeIdentity`).
    public init(_ contexts: TLSContexts) {
        self.init(
            serverContext: { contexts.raftServer }, clientContext: { contexts.raftClient },
            identify: { NodeIdentity.nodeID(in: $0) })
    }
}

extension String {
    func replacingIDPlaceholder(_ id: UInt64) -> String {
        var out = ""
        var rest = Substring(self)
        while let range = rest.range(of: "{id}") {
            out += rest[..<range.lowerBound] + String(id)
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}
