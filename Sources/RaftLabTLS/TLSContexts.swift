import Logging
import NIOCore
import NIOSSL
import Synchronization
import X509

/// Where a node's TLS material lives: the cluster CA's certificate, this
/// node's certificate (which must name the node and be issued by that CA)
/// and its private key, all PEM.
public struct TLSFiles: Sendable, Hashable {
    public var caFile: String
    public var certificateFile: String
    public var keyFile: String

    public init(caFile: String, certificateFile: String, keyFile: String) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }
}

/// The TLS contexts of one node, built from its `TLSFiles` and rebuilt by
/// `reload()` (on SIGHUP) without a restart: connections made after a
/// reload use the new certificates, established ones keep theirs.
///
/// - `raftServer` / `raftClient`: mutual TLS between nodes (TLS 1.3). Both
///   sides present their certificate and accept only a chain to the
///   cluster's CA (no system roots); names are checked by `NodeIdentity`.
/// - `httpServer`: HTTPS for the client API (TLS 1.2 or later); clients are
///   not asked for a certificate (they authenticate with bearer tokens).
public final class TLSContexts: Sendable {
    public struct Contexts: Sendable {
        public var raftServer: NIOSSLContext
        public var raftClient: NIOSSLContext
        public var httpServer: NIOSSLContext
        /// The node id this node's certificate names.
        public var nodeID: UInt64
        /// When this node's certificate expires.
        public var notValidAfter: String
    }

    public let files: TLSFiles
    public let nodeID: UInt64
    private let current: Mutex<Contexts>

    /// Loads and checks the files: a missing file, a key that does not match
    /// the certificate, a certificate not issued by the CA or naming another
    /// node are errors that say which.
    public init(files: TLSFiles, nodeID: UInt64) throws(TLSSetupError) {
        self.files = files
        self.nodeID = nodeID
        current = Mutex(try Self.load(files, nodeID: nodeID))
    }

    public var contexts: Contexts { current.withLock { $0 } }
    public var raftServer: NIOSSLContext { contexts.raftServer }
    public var raftClient: NIOSSLContext { contexts.raftClient }
    public var httpServer: NIOSSLContext { contexts.httpServer }

    /// Reads the files again; on any error the previous contexts stay.
    @discardableResult
    public func reload() throws(TLSSetupError) -> Contexts {
        let fresh = try Self.load(files, nodeID: nodeID)
        current.withLock { $0 = fresh }
        return fresh
    }

    static func load(_ files: TLSFiles, nodeID: UInt64) throws(TLSSetupError) -> Contexts {
        let cas = try PEMFiles.certificates(files.caFile, what: "CA certificate")
        let chain = try PEMFiles.certificates(files.certificateFile, what: "node certificate")
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: files.keyFile, format: .pem) } catch {
            throw .unreadable(path: files.keyFile, what: "private key", reason: "\(error)")
        }
        let leaf = try PEMFiles.parse(chain[0], path: files.certificateFile)
        var authorities: [Certificate] = []
        for ca in cas { authorities.append(try PEMFiles.parse(ca, path: files.caFile)) }
        guard authorities.contains(where: { $0.subject == leaf.issuer }) else {
            throw .invalid(
                "\(files.certificateFile) was issued by \"\(leaf.issuer)\", not by the CA in \(files.caFile) (\"\(authorities.map { "\($0.subject)" }.joined(separator: "\", \""))\")")
        }
        guard let named = NodeIdentity.nodeID(in: leaf) else {
            throw .invalid("\(files.certificateFile) names no node (a DNS name node-<id>); make one with `raftlab certs init` or `raftlab certs node`")
        }
        guard named == nodeID else {
            throw .invalid("\(files.certificateFile) is node \(named)'s certificate, not node \(nodeID)'s")
        }
        let certificateChain = chain.map { NIOSSLCertificateSource.certificate($0) }

        var server = TLSConfiguration.makeServerConfiguration(certificateChain: certificateChain, privateKey: .privateKey(key))
        server.trustRoots = .certificates(cas)
        server.certificateVerification = .noHostnameVerification
        server.minimumTLSVersion = .tlsv13

        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = certificateChain
        client.privateKey = .privateKey(key)
        client.trustRoots = .certificates(cas)
        client.certificateVerification = .noHostnameVerification
        client.minimumTLSVersion = .tlsv13

        var http = TLSConfiguration.makeServerConfiguration(certificateChain: certificateChain, privateKey: .privateKey(key))
        http.certificateVerification = .none
        http.minimumTLSVersion = .tlsv12
        do {
            return Contexts(
                raftServer: try NIOSSLContext(configuration: server), raftClient: try NIOSSLContext(configuration: client),
                httpServer: try NIOSSLContext(configuration: http), nodeID: named,
                notValidAfter: "\(leaf.notValidAfter)")
        } catch {
            throw .invalid("cannot use \(files.certificateFile) with \(files.keyFile): \(error) (does the key belong to the certificate?)")
        }
    }

    /// A client context for HTTPS (the CLI, a forwarding follower, the
    /// benchmark): trusts the CA in `caFile`, or the system's roots when nil,
    /// and checks the server's name or address.
    public static func httpsClient(caFile: String?) throws(TLSSetupError) -> NIOSSLContext {
        var client = TLSConfiguration.makeClientConfiguration()
        if let caFile { client.trustRoots = .certificates(try PEMFiles.certificates(caFile, what: "CA certificate")) }
        client.certificateVerification = .fullVerification
        client.minimumTLSVersion = .tlsv12
        do { return try NIOSSLContext(configuration: client) } catch {
            throw .invalid("cannot set up TLS with \(caFile ?? "the system's trust roots"): \(error)")
        }
    }
}

public enum TLSSetupError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(path: String, what: String, reason: String)
    case invalid(String)

    public var description: String {
        switch self {
        case let .unreadable(path, what, reason): "cannot read the \(what) \(path): \(reason)"
        case let .invalid(reason): reason
        }
    }
}

enum PEMFiles {
    static func certificates(_ path: String, what: String) throws(TLSSetupError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do { certificates = try NIOSSLCertificate.fromPEMFile(path) } catch {
            throw .unreadable(path: path, what: what, reason: "\(error)")
        }
        guard !certificates.isEmpty else { throw .unreadable(path: path, what: what, reason: "no PEM certificate in it") }
        return certificates
    }

    static func parse(_ certificate: NIOSSLCertificate, path: String) throws(TLSSetupError) -> Certificate {
        do { return try Certificate(derEncoded: try certificate.toDERBytes()) } catch {
            throw .unreadable(path: path, what: "certificate", reason: "\(error)")
        }
    }
}
