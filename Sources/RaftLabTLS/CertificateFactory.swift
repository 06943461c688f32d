import Crypto
import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#endif

/// `raftlab certs`: a certificate authority for one cluster and a
/// certificate per node, made in-process (swift-certificates and
/// swift-crypto, ECDSA P-256), no openssl needed.
///
/// Files, all PEM, private keys readable by their owner only (0600):
///
///     ca.pem, ca-key.pem            the cluster's CA (10 years)
///     node-N.pem, node-N-key.pem    node N: names `node-N` (its identity
///                                   among peers) and every --host (for
///                                   HTTPS clients); server and client auth
///     storage.key                   32 random bytes for [storage]
///                                   encryption_key_file (certs init only)
public enum CertificateFactory {
    public static let caCertificateFile = "ca.pem"
    public static let caKeyFile = "ca-key.pem"
    public static let storageKeyFile = "storage.key"
    public static func nodeCertificateFile(_ id: UInt64) -> String { "node-\(id).pem" }
    public static func nodeKeyFile(_ id: UInt64) -> String { "node-\(id)-key.pem" }

    /// Names every node certificate carries unless told otherwise, so a
    /// cluster on one machine works as is.
    public static let defaultHosts = ["localhost", "127.0.0.1", "::1"]

    /// Creates `directory` with a new CA, certificates for nodes 1...`nodes`
    /// and a storage key. Refuses to overwrite any file.
    /// - Returns: the paths written, in order.
    public static func initialize(
        directory: String, nodes: Int, hosts: [String] = defaultHosts, days: Int = 825, now: Date = Date()
    ) throws(CertificateError) -> [String] {
        guard (1...1000).contains(nodes) else { throw .invalid("--nodes must be between 1 and 1000, got \(nodes)") }
        let names = [caCertificateFile, caKeyFile, storageKeyFile] + (1...UInt64(nodes)).flatMap { [nodeCertificateFile($0), nodeKeyFile($0)] }
        try refuseOverwrite(directory: directory, names: names)
        try makeDirectory(directory)

        let caKey = P256.Signing.PrivateKey()
        let caName: DistinguishedName
        let ca: Certificate
        do {
            caName = try DistinguishedName {
                OrganizationName("RaftLab")
                CommonName("RaftLab cluster CA \(String(UInt32.random(in: 0...UInt32.max), radix: 16))")
            }
            let publicKey = Certificate.PublicKey(caKey.publicKey)
            ca = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
                notValidBefore: now - 300, notValidAfter: now + 3650 * 86_400, issuer: caName, subject: caName,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: publicKey)
                },
                issuerPrivateKey: Certificate.PrivateKey(caKey))
        } catch {
            throw .invalid("cannot make the CA certificate: \(error)")
        }
        var written: [String] = []
        written.append(try write(pem(ca), to: directory + "/" + caCertificateFile, secret: false))
        written.append(try write(pem(Certificate.PrivateKey(caKey)), to: directory + "/" + caKeyFile, secret: true))
        for id in 1...UInt64(nodes) {
            written += try issue(id: id, ca: ca, caKey: caKey, directory: directory, hosts: hosts, days: days, now: now)
        }
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        written.append(try write(key, to: directory + "/" + storageKeyFile, secret: true))
        return written
    }

    /// Issues a certificate for node `id` from the CA in `directory` (a node
    /// joining later). Refuses to overwrite its files.
    public static func issueNode(
        directory: String, id: UInt64, hosts: [String] = defaultHosts, days: Int = 825, now: Date = Date()
    ) throws(CertificateError) -> [String] {
        guard id > 0 else { throw .invalid("node ids start at 1") }
        try refuseOverwrite(directory: directory, names: [nodeCertificateFile(id), nodeKeyFile(id)])
        let ca: Certificate
        let caKey: P256.Signing.PrivateKey
        do {
            let caPEM = try String(contentsOfFile: directory + "/" + caCertificateFile, encoding: .utf8)
            ca = try Certificate(pemEncoded: caPEM)
            let keyPEM = try String(contentsOfFile: directory + "/" + caKeyFile, encoding: .utf8)
            caKey = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        } catch {
            throw .invalid("cannot read the CA in \(directory) (\(caCertificateFile), \(caKeyFile)): \(error)")
        }
        return try issue(id: id, ca: ca, caKey: caKey, directory: directory, hosts: hosts, days: days, now: now)
    }

    private static func issue(
        id: UInt64, ca: Certificate, caKey: P256.Signing.PrivateKey, directory: String, hosts: [String], days: Int, now: Date
    ) throws(CertificateError) -> [String] {
        guard (1...36_500).contains(days) else { throw .invalid("--days must be between 1 and 36500") }
        let key = P256.Signing.PrivateKey()
        let certificate: Certificate
        do {
            var names: [GeneralName] = [.dnsName(NodeIdentity.name(of: id))]
            for host in hosts {
                if let address = ipAddressBytes(host) {
                    names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))))
                } else {
                    names.append(.dnsName(host))
                }
            }
            let subject = try DistinguishedName {
                OrganizationName("RaftLab")
                CommonName(NodeIdentity.name(of: id))
            }
            let caPublicKey = ca.publicKey
            certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
                notValidBefore: now - 300, notValidAfter: now + Double(days) * 86_400, issuer: ca.subject, subject: subject,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([.serverAuth, .clientAuth])
                    SubjectAlternativeNames(names)
                    AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: caPublicKey).keyIdentifier)
                },
                issuerPrivateKey: Certificate.PrivateKey(caKey))
        } catch {
            throw .invalid("cannot make node \(id)'s certificate: \(error)")
        }
        return [
            try write(pem(certificate), to: directory + "/" + nodeCertificateFile(id), secret: false),
            try write(pem(Certificate.PrivateKey(key)), to: directory + "/" + nodeKeyFile(id), secret: true),
        ]
    }

    // MARK: Files

    private static func pem(_ value: some PEMSerializable) throws(CertificateError) -> [UInt8] {
        do { return Array(try value.serializeAsPEM().pemString.utf8) + [0x0A] } catch {
            throw .invalid("cannot encode PEM: \(error)")
        }
    }

    private static func pem(_ key: Certificate.PrivateKey) throws(CertificateError) -> [UInt8] {
        do { return Array(try key.serializeAsPEM().pemString.utf8) + [0x0A] } catch {
            throw .invalid("cannot encode PEM: \(error)")
        }
    }

    private static func refuseOverwrite(directory: String, names: [String]) throws(CertificateError) {
        let existing = names.filter { FileManager.default.fileExists(atPath: directory + "/" + $0) }
        guard existing.isEmpty else {
            throw .exists("\(directory)/\(existing[0])" + (existing.count > 1 ? " and \(existing.count - 1) more" : ""))
        }
    }

    private static func makeDirectory(_ directory: String) throws(CertificateError) {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw .io(path: directory, reason: "\(error)")
        }
    }

    /// Writes a new file (never an existing one), 0600 for secrets, and syncs it.
    private static func write(_ bytes: [UInt8], to path: String, secret: Bool) throws(CertificateError) -> String {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, secret ? 0o600 : 0o644)
        guard descriptor >= 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, bytes.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: String(cString: strerror(errno)))
            }
            offset += count
        }
        guard fsync(descriptor) == 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
        return path
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 literal, nil for a host name.
    static func ipAddressBytes(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

public enum CertificateError: Error, Sendable, Equatable, CustomStringConvertible {
    case exists(String)
    case io(path: String, reason: String)
    case invalid(String)

    public var description: String {
        switch self {
        case .exists(let path): "\(path) exists; refusing to overwrite it (choose another --out or remove it)"
        case let .io(path, reason): "cannot write \(path): \(reason)"
        case .invalid(let reason): reason
        }
    }
}
