import NIOSSL
import X509

/// How a certificate names a RaftLab node: a DNS subject alternative name
/// `node-<id>` (as `raftlab certs init` writes). A Raft peer is accepted only
/// when its certificate, signed by the cluster's CA, names exactly one node,
/// and that node is a member; the messages it sends must come from that node.
public enum NodeIdentity {
    public static func name(of id: UInt64) -> String { "node-\(id)" }

    /// The node id a certificate names, or nil when it names none or several.
    public static func nodeID(in certificate: NIOSSLCertificate) -> UInt64? {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
        return nodeID(in: parsed)
    }

    public static func nodeID(in certificate: Certificate) -> UInt64? {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return nil }
        var found: Set<UInt64> = []
        for name in names {
            if case .dnsName(let dns) = name, let id = nodeID(named: dns) { found.insert(id) }
        }
        return found.count == 1 ? found.first : nil
    }

    /// `node-7` → 7.
    public static func nodeID(named name: String) -> UInt64? {
        guard name.hasPrefix("node-"), let id = UInt64(name.dropFirst(5)), id > 0, name == "node-\(id)" else { return nil }
        return id
    }
}
