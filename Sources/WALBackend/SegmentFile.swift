#if canImport(Glibc)
import Glibc
#endif
import StorageCore

/// One segment file: a fixed-size, preallocated file of frames.
///
///     magic "RLWALSEG" (8) | format (4) | zero (4) | segment id (8) | crc32c of the 24 bytes before (4) | zero (4)
///     frames from offset 32, then zeros to the end of the file
///
/// The file is created at its full size with `posix_fallocate`, so appends
/// never change its size, and zero-filled ahead of the writer (`zeroAhead`),
/// so the blocks an append overwrites are already allocated *and* written:
/// on ext4 and XFS a write into fallocated-but-unwritten extents would make
/// the next fdatasync also commit the extent conversion.
///
/// Every write is issued page by page (`pageSize` pieces on page
/// boundaries) and reads are advised random: the page cache then holds this
/// file in single pages. Linux builds large folios from large writes and
/// from readahead, and dirtying one byte of a 1 MiB folio makes fdatasync
/// write the whole MiB back; measured here, a 1 MiB zero-fill in one write
/// turned each later 100-byte append into 1 MiB of disk writes.
///
/// `read` may run on any thread at any time (it is one `pread`); everything
/// else, the write position above all, belongs to the log store's writer,
/// which is one at a time. That is the whole of its thread safety, hence
/// `@unchecked Sendable`. The descriptor closes when the last reference goes.
final class SegmentFile: @unchecked Sendable {
    static let headerSize = 32
    static let magic = Bytes("RLWALSEG".utf8)
    static let formatVersion: UInt32 = 1
    /// How far ahead of the writer the file is zero-filled at a time.
    static let zeroFillStep = 1 << 20
    static let pageSize = 4096

    let id: UInt64
    let path: String
    let capacity: Int
    private(set) var descriptor: Int32
    /// Where the next frame goes (the end of the data).
    var writeOffset: Int
    /// Everything before this offset is known to be written (data or zeros).
    private(set) var zeroedThrough: Int
    /// The highest log index any frame in this segment wrote, live or since
    /// replaced; the segment may be deleted once the log is compacted past it.
    var maxIndex: UInt64 = 0

    static func name(_ id: UInt64) -> String {
        let digits = String(id, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits + ".seg"
    }

    /// The id in a segment file name, nil for any other name.
    static func id(fromName name: String) -> UInt64? {
        guard name.hasSuffix(".seg"), name.count == 20 else { return nil }
        return UInt64(name.prefix(16), radix: 16)
    }

    private init(id: UInt64, path: String, descriptor: Int32, capacity: Int, writeOffset: Int) {
        self.id = id
        self.path = path
        self.descriptor = descriptor
        self.capacity = capacity
        self.writeOffset = writeOffset
        self.zeroedThrough = writeOffset
    }

    /// Creates segment `id` of `capacity` bytes in `directory`: allocated,
    /// headed, its first stretch zero-filled, and (with `sync`) durable with
    /// its directory entry before it returns.
    static func create(id: UInt64, directory: String, capacity: Int, sync: Bool, syncs: SyncCounter) throws -> SegmentFile {
        let path = directory + "/" + name(id)
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        let segment = SegmentFile(id: id, path: path, descriptor: fd, capacity: capacity, writeOffset: headerSize)
        do {
            segment.adviseRandomReads()
            let result = posix_fallocate(fd, 0, off_t(capacity))
            guard result == 0 else { throw StorageError.io(operation: "posix_fallocate", path: path, errno: result) }
            var header = BinaryWriter(capacity: headerSize)
            header.write(raw: magic)
            header.write(formatVersion)
            header.write(UInt32(0))
            header.write(id)
            header.write(CRC32C.checksum(header.bytes))
            header.write(UInt32(0))
            segment.zeroedThrough = 0
            try segment.zeroAhead(covering: min(capacity, zeroFillStep))
            try segment.write(header.bytes, at: 0)
            if sync {
                try segment.sync(syncs)
                try FileSystem.syncDirectory(directory, counter: syncs)
            }
            return segment
        } catch {
            segment.close()
            try? FileSystem.removeFile(path)
            throw error
        }
    }

    /// Opens an existing segment and checks its header; the caller scans its frames.
    static func open(id: UInt64, directory: String) throws -> SegmentFile {
        let path = directory + "/" + name(id)
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw StorageError.io(operation: "fstat", path: path, errno: code)
        }
        let segment = SegmentFile(id: id, path: path, descriptor: fd, capacity: Int(info.st_size), writeOffset: headerSize)
        segment.adviseRandomReads()
        return segment
    }

    /// No readahead: a read brings in just the pages it asks for, as single
    /// pages, never a large folio reaching into where appends will go.
    private func adviseRandomReads() {
        _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_RANDOM)
    }

    /// The header's verdict: valid, all zeros (creation never finished), or damaged.
    enum HeaderState { case valid, blank, damaged(String) }

    func checkHeader() throws -> HeaderState {
        guard capacity >= Self.headerSize else { return .damaged("file of \(capacity) bytes is shorter than a segment header") }
        let header = try read(at: 0, count: Self.headerSize)
        if header.allSatisfy({ $0 == 0 }) { return .blank }
        var reader = BinaryReader(header)
        let magic = try reader.readBytes(8)
        let version = try reader.readUInt32()
        _ = try reader.readUInt32()
        let id = try reader.readUInt64()
        let crc = try reader.readUInt32()
        guard magic == Self.magic else { return .damaged("not a wal segment (bad magic)") }
        guard crc == CRC32C.checksum(header[0..<24]) else { return .damaged("segment header checksum mismatch") }
        guard version == Self.formatVersion else { return .damaged("unsupported segment format \(version)") }
        guard id == self.id else { return .damaged("header names segment \(id), the file name \(self.id)") }
        return .valid
    }

    /// Makes sure `[zeroedThrough, end)` is written with zeros (in steps of
    /// `zeroFillStep`), so the frames that go there overwrite allocated,
    /// written blocks. Not synced here: the next sync carries it.
    func zeroAhead(covering end: Int) throws {
        guard end > zeroedThrough else { return }
        let target = min(capacity, max(end, zeroedThrough + Self.zeroFillStep))
        let zeros = Bytes(repeating: 0, count: target - zeroedThrough)
        try write(zeros, at: zeroedThrough)
        zeroedThrough = target
    }

    /// After open: the data ends at `offset` and everything after it is
    /// zeros (checked by the scan). The zeros the writer had already written
    /// ahead of itself run to the next hole the file system reports; the
    /// writer goes on zero-filling from there instead of redoing that stretch
    /// (one MiB written and synced again on the first append after a restart).
    func markData(through offset: Int) {
        writeOffset = offset
        let seekHole: Int32 = 4  // SEEK_HOLE, as in `SegmentCursor`
        let hole = lseek(descriptor, off_t(offset), seekHole)
        zeroedThrough = hole < 0 ? offset : min(capacity, max(offset, Int(hole)))
    }

    /// Writes `bytes` at `offset`, one `pwrite` per page it touches (see the type's doc).
    func write(_ bytes: Bytes, at offset: Int) throws {
        var done = 0
        try bytes.withUnsafeBytes { buffer in
            while done < buffer.count {
                let position = offset + done
                let piece = min(buffer.count - done, Self.pageSize - position % Self.pageSize)
                let n = pwrite(descriptor, buffer.baseAddress! + done, piece, off_t(position))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StorageError.io(operation: "pwrite", path: path, errno: errno)
                }
                done += n
            }
        }
    }

    /// Reads exactly `count` bytes at `offset`.
    func read(at offset: Int, count: Int) throws -> Bytes {
        var bytes = Bytes(repeating: 0, count: count)
        var done = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while done < count {
                let n = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StorageError.io(operation: "pread", path: path, errno: errno)
                }
                if n == 0 {
                    throw StorageError.corrupted(path: path, reason: "segment ends at \(offset + done), expected \(offset + count) bytes")
                }
                done += n
            }
        }
        return bytes
    }

    func sync(_ syncs: SyncCounter) throws {
        guard fdatasync(descriptor) == 0 else { throw StorageError.io(operation: "fdatasync", path: path, errno: errno) }
        syncs.record()
    }

    func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    deinit { close() }
}

/// Reads a segment front to back through a window, so scanning a segment at
/// open costs one `pread` per window rather than two per frame.
struct SegmentCursor {
    let segment: SegmentFile
    private var window: Bytes = []
    private var windowStart = 0
    static let windowSize = 1 << 20

    init(_ segment: SegmentFile) { self.segment = segment }

    /// `count` bytes at `offset` (inside the file).
    mutating func bytes(at offset: Int, count: Int) throws -> ArraySlice<UInt8> {
        if offset < windowStart || offset + count > windowStart + window.count {
            let length = min(segment.capacity - offset, max(count, Self.windowSize))
            window = try segment.read(at: offset, count: length)
            windowStart = offset
        }
        return window[(offset - windowStart)..<(offset - windowStart + count)]
    }

    /// True when every byte from `offset` to the end of the file is zero.
    ///
    /// Asks the file system where data lies (`SEEK_DATA`, `SEEK_HOLE`) and
    /// reads only that: holes and preallocated, never-written extents read as
    /// zeros by definition, so opening a mostly empty segment reads just the
    /// stretch the writer zero-filled, not all 16 MiB.
    mutating func isZero(from offset: Int) throws -> Bool {
        var at = offset
        while at < segment.capacity {
            let (data, hole) = try nextData(from: at)
            guard let data else { return true }
            var position = data
            while position < hole {
                // Exactly the data stretch: reading past it would bring pages
                // of the never-written extent into the cache, which SEEK_DATA
                // then reports as data.
                let count = min(Self.windowSize, hole - position)
                if try !segment.read(at: position, count: count).allSatisfy({ $0 == 0 }) { return false }
                position += count
            }
            at = hole
        }
        return true
    }

    /// The next stretch of data at or after `offset` as (start, end), or nil
    /// when only holes follow. A file system without SEEK_DATA reports it all as data.
    private func nextData(from offset: Int) throws -> (Int?, Int) {
        // SEEK_DATA and SEEK_HOLE (Linux values; the Glibc module does not export them).
        let seekData: Int32 = 3
        let seekHole: Int32 = 4
        let data = lseek(segment.descriptor, off_t(offset), seekData)
        if data < 0 {
            if errno == ENXIO { return (nil, segment.capacity) }
            if errno == EINVAL { return (offset, segment.capacity) }
            throw StorageError.io(operation: "lseek(SEEK_DATA)", path: segment.path, errno: errno)
        }
        let hole = lseek(segment.descriptor, data, seekHole)
        return (Int(data), hole < 0 ? segment.capacity : min(segment.capacity, Int(hole)))
    }
}
