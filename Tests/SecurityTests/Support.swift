import Foundation
import MemoryBackend
import StorageCore

/// A fresh directory for one test; `remove()` deletes it and what the memory backend kept under it.
struct TestDirectory {
    let path: String

    init(_ label: String) {
        path = NSTemporaryDirectory() + "raftlab-security-\(label)-\(UUID().uuidString)"
    }

    func sub(_ name: String) -> String { path + "/" + name }

    func remove() {
        try? FileSystem.removeTree(path)
        MemoryBackend.removeAll(under: path)
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Every regular file under `root` whose bytes contain `needle`, as paths
/// relative to `root` (what `grep -r` would find).
func filesContaining(_ needle: [UInt8], under root: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
    var found: [String] = []
    while let relative = walker.nextObject() as? String {
        let path = root + "/" + relative
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
            let data = FileManager.default.contents(atPath: path)
        else { continue }
        if Array(data).firstRange(of: needle) != nil { found.append(relative) }
    }
    return found
}

/// Every regular file under `root`, for messages.
func fileCount(under root: String) -> Int {
    guard let walker = FileManager.default.enumerator(atPath: root) else { return 0 }
    var count = 0
    while let relative = walker.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
            count += 1
        }
    }
    return count
}
