import EncryptedStorage
import Raft
import StorageCore

/// Creates the data directories of a new cluster from a backup, on whatever
/// backends the new config names (as `etcdctl snapshot restore` does).
///
/// Each node's state store receives the backup's pairs at the backup's
/// applied position, and its log starts right after it (compacted through
/// that position, commit index there), so the nodes start as if they had
/// installed the same snapshot: identical state, nothing to replay.
///
/// Membership and identity: the new cluster's members are the config's
/// `[[nodes]]` (every one a voter, with a member record of its addresses and
/// backends), replacing what the backup recorded, because a restored cluster
/// runs where its config says. It gets a cluster ID of its own, derived from
/// the config's bootstrap ID and the backup's checksum: the restored cluster
/// shares the old one's history up to the backup and then diverges, and if
/// it kept the old ID, nodes of the two (say, an old node started again on
/// a reused address) would accept each other's messages and count each
/// other's votes over logs that disagree. With its own ID they refuse each
/// other. The ID is the same on every node restored from the same backup
/// with the same config, so nodes can be restored on different hosts.
public enum BackupRestore {
    public struct Summary: Sendable, Hashable {
        public var backup: BackupReader.Summary
        public var clusterID: UInt64
        public var voters: [UInt64]
        /// The data directory of each restored node.
        public var directories: [UInt64: String]
    }

    /// Restores `nodes` (every node in `config` when nil) from the backup at
    /// `path`. An encrypted backup is opened with `backupKey`, or else the
    /// key of `config`'s `[storage] encryption_key_file`; the new stores are
    /// encrypted as `config` says (with its key), whatever the backup was.
    public static func restore(
        backup path: String, config: ClusterConfig, nodes: [UInt64]? = nil, registry: BackendRegistry,
        backupKey: EncryptionKey? = nil
    ) throws -> Summary {
        try config.validate(registry: registry)
        let key = try backupKey ?? config.encryptionKey()
        let summary = try BackupReader.verify(path: path, key: key)
        if !summary.contentsChecked {
            throw BackupError.keyRequired(path: path, keyID: summary.header.encryption?.keyID ?? "unknown")
        }
        let targets = try (nodes ?? config.nodes.map(\.id)).map { try config.node($0).id }
        for id in targets {
            let directory = config.storage.storageConfig(forNode: id).dataDirectory
            if FileSystem.isDirectory(directory), !(try FileSystem.listDirectory(directory)).isEmpty {
                throw ConfigError.invalid(
                    "node \(id)'s data directory \(directory) is not empty: a restore creates a new cluster's directories; move it away first")
            }
        }
        let clusterID = restoredClusterID(config: config, backup: summary)
        let configuration = ClusterConfiguration(voters: Set(config.nodes.map(\.id)), clusterID: clusterID)
        var replacements = config.nodes.map { node in
            MemberRegistry.pair(MemberRecord(
                id: node.id, raftAddress: node.raftAddress, httpAddress: node.httpAddress,
                logBackend: config.storage.log, stateBackend: config.storage.state))
        }
        replacements.append(KeyValue(key: ClusterConfiguration.stateKey, value: configuration.encoded()))
        replacements.sort { $0.key.sortsBefore($1.key) }
        let position = AppliedPosition(index: summary.header.index, term: summary.header.term)
        var directories: [UInt64: String] = [:]
        for id in targets {
            let storage = config.storage.storageConfig(forNode: id)
            let stores = try config.storeRegistry(registry).openStores(storage)
            do {
                var source = ReplacingSource(reader: try BackupReader(path: path, key: key), replacements: replacements)
                try stores.state.restore(from: &source, position: position)
                try stores.log.compact(through: position.index, term: position.term)
                try stores.log.saveHardState(HardState(term: position.term, votedFor: nil, commit: position.index))
                try stores.log.close()
                try stores.state.close()
            } catch {
                try? stores.log.close()
                try? stores.state.close()
                throw error
            }
            directories[id] = storage.dataDirectory
        }
        return Summary(backup: summary, clusterID: clusterID, voters: config.nodes.map(\.id).sorted(), directories: directories)
    }

    /// The restored cluster's ID: a hash of the config's bootstrap ID, the
    /// backup's position and its checksum (never the old cluster's, never 0).
    public static func restoredClusterID(config: ClusterConfig, backup: BackupReader.Summary) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        var bytes = Array("restored".utf8) + config.bootstrapClusterID.bigEndianBytes + backup.header.index.bigEndianBytes
        bytes += UInt64(backup.checksum).bigEndianBytes
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01B3
        }
        if hash == backup.header.clusterID { hash ^= 1 }
        return hash == 0 ? 1 : hash
    }
}

/// The backup's pairs with the membership and member records swapped for
/// the new cluster's, still in key order.
struct ReplacingSource: KeyValueSource {
    let reader: BackupReader
    var replacements: [KeyValue]
    private var pending: KeyValue?
    private var readerDone = false

    init(reader: BackupReader, replacements: [KeyValue]) {
        self.reader = reader
        self.replacements = replacements
    }

    mutating func next() throws -> KeyValue? {
        if pending == nil && !readerDone {
            while let pair = try reader.next() {
                if pair.key == ClusterConfiguration.stateKey || MemberRegistry.isRecordKey(pair.key) { continue }
                pending = pair
                break
            }
            if pending == nil { readerDone = true }
        }
        if let first = replacements.first, pending.map({ first.key.sortsBefore($0.key) }) ?? true {
            replacements.removeFirst()
            return first
        }
        defer { pending = nil }
        return pending
    }
}
