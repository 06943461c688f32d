#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The machine a run measured, written into every report: a latency means
/// little without the cores, memory and OS it was measured on, and
/// `raftlab report` shows it so a reader can tell whether two runs compare.
public struct MachineInfo: Codable, Sendable, Equatable {
    /// Online processors (sysconf).
    public var cores: Int
    /// Total physical memory (/proc/meminfo MemTotal).
    public var memoryBytes: UInt64
    /// Distribution and kernel, e.g. "Debian GNU/Linux 12 (bookworm); Linux 6.1.0-18-amd64 x86_64".
    public var os: String

    public init(cores: Int, memoryBytes: UInt64, os: String) {
        self.cores = cores
        self.memoryBytes = memoryBytes
        self.os = os
    }

    enum CodingKeys: String, CodingKey {
        case cores
        case memoryBytes = "memory_bytes"
        case os
    }

    /// The machine this process runs on.
    public static func current() -> MachineInfo {
        MachineInfo(cores: onlineCores(), memoryBytes: totalMemory(), os: operatingSystem())
    }

    static func onlineCores() -> Int {
        Swift.max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// MemTotal from /proc/meminfo; where that is missing, pages × page size.
    static func totalMemory(meminfo path: String = "/proc/meminfo") -> UInt64 {
        if let text = try? String(contentsOfFile: path, encoding: .utf8), let bytes = memTotal(in: text) {
            return bytes
        }
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && size > 0 ? UInt64(pages) * UInt64(size) : 0
    }

    /// Parses the "MemTotal:  16318412 kB" line.
    static func memTotal(in meminfo: String) -> UInt64? {
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let value = UInt64(fields[1]) else { return nil }
            let unit = fields.count >= 3 ? fields[2].lowercased() : ""
            return unit == "kb" ? value * 1024 : value
        }
        return nil
    }

    /// "PRETTY_NAME; sysname release machine" from /etc/os-release and uname.
    static func operatingSystem(osRelease path: String = "/etc/os-release") -> String {
        var name = utsname()
        uname(&name)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        let kernel = [field(name.sysname), field(name.release), field(name.machine)]
            .filter { !$0.isEmpty }.joined(separator: " ")
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        guard let pretty = prettyName(in: text) else { return kernel }
        return "\(pretty); \(kernel)"
    }

    /// PRETTY_NAME from os-release text, unquoted.
    static func prettyName(in osRelease: String) -> String? {
        for line in osRelease.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            var value = line.dropFirst("PRETTY_NAME=".count)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = value.dropFirst().dropLast()
            }
            return value.isEmpty ? nil : String(value)
        }
        return nil
    }
}
