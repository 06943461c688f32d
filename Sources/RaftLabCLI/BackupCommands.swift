import ArgumentParser
import EncryptedStorage
import Foundation
import Raft
import RaftLabAPI
import RaftLabBackends
import RaftLabNode
import StorageCore

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Stream a consistent snapshot of a live node's state to a file.",
        discussion: """
            The node first confirms with the leader that it has applied every write acknowledged \
            before the request (a ReadIndex round), then streams a point-in-time snapshot of its \
            state store: every table and item, the cluster membership and the member records, with \
            the applied index and term, and a CRC-32C over the whole file. The file is written as \
            FILE.partial, read back and verified, synced, and only then renamed to FILE. Any member \
            can serve it; the cluster keeps serving meanwhile.

            Restore it with `raftlab restore FILE --config NEW.toml`, on any backend.

            Encryption: when the cluster encrypts at rest ([storage] encryption), the node seals \
            every pair of the backup (keys and values, AES-256-GCM) under a key derived from its \
            own encryption key, so the file holds no table name, key or item in the clear; restore \
            needs that key. Without --key-file the CLI checks such a file's framing, count and \
            checksum only; with --key-file (the cluster's key) it opens every pair too, and a wrong \
            key is refused. A backup of a cluster that does not encrypt at rest is written in the \
            clear, as before.

            Example:
              raftlab backup --target-addr localhost:8101 --out backup.rlb

            Exit codes: 0 written and verified; 4 the node did not answer or has no leader; 5 the \
            download did not verify; 64 --key-file is unreadable or not the backup's key; 73 the \
            file cannot be written.
            """)

    @Option(help: ArgumentHelp("The node to back up, as host:port.", valueName: "host:port")) var targetAddr = "localhost:8100"
    @Option(help: ArgumentHelp("Where to write the backup.", valueName: "file")) var out: String
    @Option(help: ArgumentHelp("Give up after this many seconds.", valueName: "seconds")) var timeout: Double = 600
    @Option(
        name: .customLong("key-file"),
        help: ArgumentHelp("The cluster's encryption key: open every pair of an encrypted backup to verify it.", valueName: "file"))
    var keyFile: String?

    func run() async throws {
        let key: EncryptionKey?
        do { key = try keyFile.map { try EncryptionKey.load(path: $0) } } catch {
            throw exitWithMessage("backup failed: \(error)", code: 64)
        }
        let address: HostPort
        do { address = try HostPort(parsing: targetAddr.replacingOccurrences(of: "http://", with: "")) } catch {
            throw ValidationError("--target-addr must be host:port, got \"\(targetAddr)\"")
        }
        let partial = out + ".partial"
        let result: (status: Int, bytes: UInt64, errorBody: String)
        do {
            result = try await StreamingDownload.get(
                "/cluster/backup", from: address, to: partial, timeout: .milliseconds(Int64(timeout * 1000)))
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw exitWithMessage("backup failed: \(error)", code: 4)
        }
        guard result.status == 200 else {
            try? FileManager.default.removeItem(atPath: partial)
            throw exitWithMessage("backup failed: \(address) answered HTTP \(result.status): \(result.errorBody.trimmingCharacters(in: .whitespacesAndNewlines))", code: result.status == 503 || result.status == 504 ? 4 : 5)
        }
        let summary: BackupReader.Summary
        do {
            summary = try BackupReader.verify(path: partial, key: key)
            try FileSystem.syncFile(partial)
            try FileSystem.rename(partial, to: out)
            try FileSystem.syncDirectory(FileSystem.parentDirectory(of: out))
        } catch let error as BackupError {
            if case .wrongKey = error {
                try? FileManager.default.removeItem(atPath: partial)
                throw exitWithMessage("backup failed: \(error)", code: 64)
            }
            try? FileManager.default.removeItem(atPath: partial)
            throw exitWithMessage("backup failed: the download does not verify: \(error)", code: 5)
        } catch {
            throw exitWithMessage("backup failed: cannot write \(out): \(error)", code: 73)
        }
        print(BackupOutput.describe(summary, file: out))
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Create a new cluster's data directories from a backup, on any backend.",
        discussion: """
            Like `etcdctl snapshot restore`: reads and verifies the whole backup first (a truncated \
            or corrupted file is refused and nothing is written), then creates, for every node in \
            --config (or only --node-id), its log and state stores on the config's backends under \
            data_dir/node-N: the state holds the backup's tables and items at the backup's index, \
            the log starts right after it. Each data directory must not exist yet or be empty.

            The new cluster's members are the config's [[nodes]], all voters; it gets a new cluster \
            ID (derived from the config and the backup), so it never exchanges messages with the \
            cluster the backup came from. Then start it: `raftlab server --config FILE` (one \
            process) or `--node-id N` per node.

            An encrypted backup (of a cluster that encrypts at rest) is opened with --key-file, or \
            else with the key of the config's [storage] encryption_key_file; without the right key \
            it is refused and nothing is written. The new stores are encrypted as --config says. A \
            backup of an unencrypted cluster needs no key.

            Example:
              raftlab restore backup.rlb --config examples/cluster.toml

            Exit codes: 0 restored; 64 bad config or unreadable --key-file; 65 the backup is \
            truncated or corrupted, or encrypted with another key (or no key given); 73 a data \
            directory is not empty or cannot be written.
            """)

    @Argument(help: "The backup file (from `raftlab backup`).") var file: String
    @Option(help: "The new cluster's TOML config.") var config: String
    @Option(name: .customLong("node-id"), help: "Restore only this node of --config (one host per node).") var nodeID: UInt64?
    @Option(
        name: .customLong("key-file"),
        help: ArgumentHelp("The key an encrypted backup was sealed with (default: the config's encryption_key_file).", valueName: "file"))
    var keyFile: String?

    func run() async throws {
        let cluster: ClusterConfig
        do {
            cluster = try ClusterConfig.load(path: config)
            try cluster.validate(registry: .standard)
            if let nodeID { _ = try cluster.node(nodeID) }
        } catch let error as ConfigError {
            throw exitWithMessage(error.description, code: 64)
        }
        let key: EncryptionKey?
        do { key = try keyFile.map { try EncryptionKey.load(path: $0) } } catch {
            throw exitWithMessage("restore refused: \(error)", code: 64)
        }
        do {
            let summary = try BackupRestore.restore(backup: file, config: cluster, nodes: nodeID.map { [$0] }, registry: .standard, backupKey: key)
            print(BackupOutput.describe(summary.backup, file: file))
            print("restored into a new cluster \(String(summary.clusterID, radix: 16)): voters \(summary.voters), log=\(cluster.storage.log) state=\(cluster.storage.state)")
            for (id, directory) in summary.directories.sorted(by: { $0.key < $1.key }) {
                print("  node \(id): \(directory)")
            }
            print("start it with: raftlab server --config \(config)\(cluster.nodes.count > 1 && nodeID != nil ? " --node-id N" : "")")
        } catch let error as BackupError {
            throw exitWithMessage("restore refused: \(error)", code: 65)
        } catch let error as ConfigError {
            throw exitWithMessage("restore refused: \(error.description)", code: 73)
        } catch let error as StorageError {
            throw exitWithMessage("restore failed: \(error.description)", code: 73)
        }
    }
}

struct MigrateStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Convert a stopped node's stores to another backend, offline, and verify the copy.",
        discussion: """
            --from is a node's data directory (data_dir/node-N, holding log/ and state/); the source \
            backends are read from the stores' markers. The log is copied entry by entry with its \
            hard state and compaction point, the state through a snapshot at its applied position. \
            Both copies are then read back: every log entry and a full scan of the state must be \
            byte-identical, or the command fails. Stop the node first (LevelDB refuses a store \
            another process holds; an LMDB copy of a running node may miss its last writes).

            To run the node on the copy, point its data_dir at the copy's parent (or move the copy \
            into place) and set [storage] log/state to the new backends; the node corrects its \
            member record when it starts.

            Example:
              raftlab migrate-store --from data/cluster-3proc/node-2 --to-backend leveldb --out data/converted/node-2
            """)

    @Option(help: ArgumentHelp("The stopped node's data directory.", valueName: "dir")) var from: String
    @Option(help: "The backend for both stores (memory is refused: it would not outlive the command).") var toBackend: String?
    @Option(help: "The log store's backend (default: --to-backend).") var toLog: String?
    @Option(help: "The state store's backend (default: --to-backend).") var toState: String?
    @Option(help: ArgumentHelp("An empty or new directory for the converted stores.", valueName: "dir")) var out: String

    func validate() throws {
        guard toBackend != nil || (toLog != nil && toState != nil) else {
            throw ValidationError("name the new backend with --to-backend (or --to-log and --to-state)")
        }
    }

    func run() async throws {
        let log = toLog ?? toBackend ?? ""
        let state = toState ?? toBackend ?? ""
        for name in [log, state] {
            guard let backend = try? BackendRegistry.standard.backend(named: name) else {
                throw exitWithMessage("unknown backend '\(name)'; known: \(BackendRegistry.standard.names.joined(separator: ", "))", code: 64)
            }
            guard backend.isPersistent else { throw exitWithMessage("backend '\(name)' keeps nothing after the command ends", code: 64) }
        }
        do {
            let summary = try StoreConversion.convert(from: from, to: out, toLog: log, toState: state, registry: .standard)
            print("converted \(from) (log=\(summary.fromLog) state=\(summary.fromState)) to \(out) (log=\(summary.toLog) state=\(summary.toState))")
            print("  log: \(summary.logEntries) entries, indexes \(summary.firstIndex)...\(summary.lastIndex), hard state copied")
            print("  state: \(summary.statePairs) pairs, \(summary.stateBytes) bytes, applied through index \(summary.applied.index) (term \(summary.applied.term))")
            print("  verified: every log entry and a full scan of the state are byte-identical to the originals")
        } catch let error as StoreConversion.ConversionError {
            throw exitWithMessage("migrate-store failed: \(error)", code: 65)
        } catch let error as StorageError {
            throw exitWithMessage("migrate-store failed: \(error.description)", code: 74)
        }
    }
}

enum BackupOutput {
    static func describe(_ summary: BackupReader.Summary, file: String) -> String {
        let header = summary.header
        var lines = [
            "backup \(file): node \(header.nodeID) of cluster \(String(header.clusterID, radix: 16)) (log=\(header.logBackend) state=\(header.stateBackend)) at index \(header.index), term \(header.term)",
        ]
        if summary.contentsChecked {
            lines.append("  \(summary.pairs) pairs (\(summary.dataPairs) of tables and items), \(summary.bytes) bytes, crc32c \(String(summary.checksum, radix: 16)), verified")
        } else {
            lines.append("  \(summary.pairs) pairs, \(summary.bytes) bytes, crc32c \(String(summary.checksum, radix: 16)), framing and checksum verified (contents sealed: give --key-file to open them)")
        }
        if let encryption = header.encryption {
            lines.append("  encrypted: \(encryption.algorithm), sealed under key \(encryption.keyID)")
        }
        if let configuration = summary.configuration {
            lines.append("  membership: voters \(configuration.voters.sorted()), learners \(configuration.learners.sorted())")
        }
        for record in summary.records.sorted(by: { $0.id < $1.id }) {
            lines.append("  member \(record.id): raft \(record.raftAddress), http \(record.httpAddress), log=\(record.logBackend) state=\(record.stateBackend)")
        }
        return lines.joined(separator: "\n")
    }
}
