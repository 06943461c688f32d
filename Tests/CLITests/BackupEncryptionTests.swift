import ArgumentParser
import Foundation
import NoSQL
import RaftLabAPI
import RaftLabBackends
import RaftLabNode
import RaftLabServer
import StorageCore
import Testing

@testable import RaftLabCLI

/// `raftlab backup` of a cluster that encrypts at rest writes a sealed file;
/// `raftlab restore` opens it with the right key only.
@Suite("Backups of encrypted clusters", .serialized)
struct BackupEncryptionTests {
    static let secret = "zq-backup-plaintext-5521"

    static func config(_ directory: String, keyFile: String?) -> ClusterConfig {
        var config = ClusterConfig.standard
        config.storage.log = "lmdb"
        config.storage.state = "lmdb"
        config.storage.dataDirectory = directory
        config.engine.tickMilliseconds = 10
        config.engine.electionTicks = 20
        if let keyFile { config.storage.encryption = ClusterConfig.Encryption(keyFile: keyFile) }
        return config
    }

    static func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let needle = Array(needle.utf8)
        guard haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    /// Runs `raftlab ARGUMENTS` in-process; the exit code (0 when it returns).
    static func raftlab(_ arguments: [String]) async throws -> Int32 {
        var command = try RaftLabCommand.parseAsRoot(arguments)
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch let exit as ExitCode {
            return exit.rawValue
        }
    }

    @Test("the backup file holds no value in the clear; restore opens it with the right key and refuses a wrong one", .timeLimit(.minutes(3)))
    func encryptedBackup() async throws {
        let directory = NSTemporaryDirectory() + "raftlab-backup-encryption-\(UUID().uuidString)"
        try FileSystem.createDirectory(directory, sync: false)
        defer { try? FileSystem.removeTree(directory) }
        let keyFile = directory + "/storage.key"
        let wrongKeyFile = directory + "/other.key"
        try FileSystem.writeFile(keyFile, Array(repeating: 7, count: 32), sync: false)
        try FileSystem.writeFile(wrongKeyFile, Array(repeating: 9, count: 32), sync: false)

        let config = Self.config(directory + "/data", keyFile: keyFile)
        let cluster = try await LocalCluster(config: config, registry: .standard, seed: 3, logger: quietLogger)
        let backupPath = directory + "/backup.rlb"
        do {
            let leader = try await cluster.leader(within: .seconds(20))
            _ = try await leader.write(.createTable(TableSchema(name: "EncryptedTable", partitionKey: "pk", sortKey: nil)))
            _ = try await leader.write(.putItem(
                table: "EncryptedTable", item: ["pk": .string("a"), "secret": .string(Self.secret)], expectedVersion: nil))
            let (addresses, continuation) = AsyncStream.makeStream(of: HostPort.self)
            let app = makeApplication(
                service: leader, address: HostPort(host: "127.0.0.1", port: 0), registry: nil, logger: quietLogger,
                onListening: { continuation.yield($0) })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.run() }
                var iterator = addresses.makeAsyncIterator()
                let address = try #require(await iterator.next())
                let code = try await Self.raftlab(["backup", "--target-addr", address.description, "--out", backupPath])
                #expect(code == 0)
                group.cancelAll()
            }
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()

        let file = try #require(try FileSystem.readFile(backupPath))
        #expect(!file.isEmpty)
        #expect(!Self.contains(file, Self.secret), "the backup of an encrypting cluster holds an item's value in the clear")
        #expect(!Self.contains(file, "EncryptedTable"), "the backup of an encrypting cluster holds a table name in the clear")

        // A wrong key: refused with a message naming both keys, nothing written, a non-zero exit.
        let wrong = Self.config(directory + "/wrong", keyFile: wrongKeyFile)
        #expect {
            _ = try BackupRestore.restore(backup: backupPath, config: wrong, registry: .standard)
        } throws: { error in
            "\(error)".contains("wrong key for backup") && "\(error)".contains("it is encrypted with key")
        }
        #expect(!FileSystem.exists(directory + "/wrong/node-1"))
        let wrongConfigPath = directory + "/wrong.toml"
        try FileSystem.writeFile(wrongConfigPath, Array(wrong.renderTOML().utf8), sync: false)
        #expect(try await Self.raftlab(["restore", backupPath, "--config", wrongConfigPath]) == 65)
        // No key at all (an unencrypted target config, no --key-file): refused too.
        let plain = Self.config(directory + "/plain", keyFile: nil)
        let plainConfigPath = directory + "/plain.toml"
        try FileSystem.writeFile(plainConfigPath, Array(plain.renderTOML().utf8), sync: false)
        #expect(try await Self.raftlab(["restore", backupPath, "--config", plainConfigPath]) == 65)
        // With --key-file it opens, and the new stores are in the clear as that config says.
        #expect(try await Self.raftlab(["restore", backupPath, "--config", plainConfigPath, "--key-file", keyFile]) == 0)

        // The right key (the config's own): the data comes back.
        let restoredConfig = Self.config(directory + "/restored", keyFile: keyFile)
        _ = try BackupRestore.restore(backup: backupPath, config: restoredConfig, registry: .standard)
        let restored = try await LocalCluster(config: restoredConfig, registry: .standard, seed: 4, logger: quietLogger)
        do {
            let leader = try await restored.leader(within: .seconds(20))
            let item = try await leader.read(.strong) { machine, store in
                try machine.getItem(table: "EncryptedTable", key: ItemKey("a"), in: store)
            }
            #expect(item.item["secret"] == .string(Self.secret))
        } catch {
            await restored.stop()
            throw error
        }
        await restored.stop()
    }
}
