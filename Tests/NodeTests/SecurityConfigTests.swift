import Foundation
import RaftLabBackends
import RaftLabNode
import StorageCore
import Testing

@Suite("Cluster config: [tls], [auth], encryption")
struct SecurityConfigTests {
    static let node = "\n[[nodes]]\nid = 1\nraft_addr = \"127.0.0.1:1\"\nhttp_addr = \"127.0.0.1:2\"\n"

    @Test("the TLS example loads: certificates per node by {id}, HTTPS, encryption with the key certs init writes")
    func tlsExample() throws {
        let config = try ClusterConfig.load(path: ClusterConfigTests.packageRoot + "/examples/cluster-3proc-tls.toml")
        try config.validate(registry: .standard)
        let tls = try #require(config.tls)
        #expect(tls.https)
        #expect(tls.files(forNode: 2).certificateFile == "certs/node-2.pem")
        #expect(tls.files(forNode: 2).keyFile == "certs/node-2-key.pem")
        #expect(tls.files(forNode: 2).caFile == "certs/ca.pem")
        #expect(config.storage.encryption == ClusterConfig.Encryption(algorithm: "aes-256-gcm", keyFile: "certs/storage.key"))
        #expect(!config.auth.isEnabled)
        #expect(config.nodes.map(\.raftAddress.port) == [9100, 9101, 9102])
    }

    @Test("[auth] tokens with roles and the open switch; rendering reads back the same config")
    func authTable() throws {
        var config = try ClusterConfig.parse("""
            [auth]
            open_status_and_metrics = true
            [[auth.tokens]]
            token = "0123456789abcdef-reader"
            role = "read"
            [[auth.tokens]]
            token = "0123456789abcdef-admin"
            role = "admin"
            [tls]
            ca_file = "c/ca.pem"
            cert_file = "c/node-{id}.pem"
            key_file = "c/node-{id}-key.pem"
            https = false
            [storage]
            encryption = "aes-256-gcm"
            encryption_key_file = "k"
            """ + Self.node)
        try config.validate(registry: .standard)
        #expect(config.auth.tokens.map(\.role) == [.read, .admin])
        #expect(config.auth.openStatusAndMetrics)
        #expect(config.tls?.https == false)
        #expect(ClusterConfig.Role.read < .write && ClusterConfig.Role.write < .admin)
        // A token's description never shows the token.
        #expect(!"\(config.auth.tokens[0])".contains("0123456789"))
        #expect(try ClusterConfig.parse(config.renderTOML()) == config)
        config.auth = .init()
        #expect(try ClusterConfig.parse(config.renderTOML()) == config)
    }

    @Test("mistakes in the security tables are errors that say what is wrong")
    func mistakes() throws {
        func message(_ text: String) -> String {
            do {
                try ClusterConfig.parse(text + Self.node, path: "bad.toml").validate(registry: .standard)
                return "accepted"
            } catch {
                return String(describing: error)
            }
        }
        #expect(message("[auth]\nopen = true").contains("auth.open"))
        #expect(message("[auth]\n[[auth.tokens]]\ntoken = \"short\"\nrole = \"read\"").contains("at least 16 characters"))
        #expect(message("[auth]\n[[auth.tokens]]\ntoken = \"0123456789abcdefgh\"\nrole = \"root\"").contains("read, write or admin"))
        #expect(message("[auth]\n[[auth.tokens]]\ntoken = \"0123456789abcdefgh\"").contains("needs token and role"))
        #expect(message("[auth]\n[[auth.tokens]]\ntoken = \"0123456789abcdefgh\"\nrole = \"read\"\nexpires = 1").contains("expires"))
        let twice = "[[auth.tokens]]\ntoken = \"0123456789abcdefgh\"\nrole = \"read\"\n"
        #expect(message("[auth]\n" + twice + twice).contains("twice"))
        #expect(message("[tls]\nca_file = \"a\"").contains("needs ca_file, cert_file and key_file"))
        #expect(message("[tls]\nca_file = \"a\"\ncert_file = \"b\"\nkey_file = \"c\"\nverify = false").contains("tls.verify"))
        #expect(message("[storage]\nencryption = \"aes-256-gcm\"").contains("needs storage.encryption_key_file"))
        #expect(message("[storage]\nencryption_key_file = \"k\"").contains("storage.encryption is not"))
        #expect(message("[storage]\nencryption = \"rot13\"\nencryption_key_file = \"k\"").contains("must be \"aes-256-gcm\""))
    }
}
