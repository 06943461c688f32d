/// Appends fixed-width big-endian integers and length-prefixed byte strings.
/// Big-endian so that encoded indexes sort in numeric order as keys.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: Bytes

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func write(_ value: UInt8) { bytes.append(value) }

    public mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(raw: some Collection<UInt8>) { bytes.append(contentsOf: raw) }

    /// A 32-bit length followed by the bytes.
    public mutating func write(lengthPrefixed data: some Collection<UInt8>) {
        write(UInt32(data.count))
        bytes.append(contentsOf: data)
    }
}

/// Reads what `BinaryWriter` wrote; every read checks bounds and throws
/// `BinaryReader.Truncated` instead of trapping on short input.
public struct BinaryReader {
    public struct Truncated: Error, Sendable {}

    public let bytes: ArraySlice<UInt8>
    public private(set) var offset: Int

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.offset = bytes.startIndex
    }

    public init(_ bytes: Bytes) { self.init(bytes[...]) }

    public var remaining: Int { bytes.endIndex - offset }
    public var isAtEnd: Bool { offset == bytes.endIndex }

    public mutating func readUInt8() throws -> UInt8 {
        guard remaining >= 1 else { throw Truncated() }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readUInt32() throws -> UInt32 {
        guard remaining >= 4 else { throw Truncated() }
        var value: UInt32 = 0
        for i in 0..<4 { value = value << 8 | UInt32(bytes[offset + i]) }
        offset += 4
        return value
    }

    public mutating func readUInt64() throws -> UInt64 {
        guard remaining >= 8 else { throw Truncated() }
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(bytes[offset + i]) }
        offset += 8
        return value
    }

    public mutating func readBytes(_ count: Int) throws -> Bytes {
        guard count >= 0, remaining >= count else { throw Truncated() }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    public mutating func readLengthPrefixed() throws -> Bytes {
        try readBytes(Int(try readUInt32()))
    }
}

extension UInt64 {
    /// Eight big-endian bytes: byte order equals numeric order.
    public var bigEndianBytes: Bytes {
        withUnsafeBytes(of: bigEndian) { Array($0) }
    }

    public init?(bigEndianBytes bytes: some Collection<UInt8>) {
        guard bytes.count == 8 else { return nil }
        self = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
