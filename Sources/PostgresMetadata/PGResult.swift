import CPostgres

/// The rows of one statement, owned until the last reference goes (`PQclear`).
///
/// Values are read by column index and decoded from either wire format by the column's type OID: binary results
/// give `bytea` bytes as they are stored (no hex decoding), integers and timestamps without parsing text.
public final class PGResult: @unchecked Sendable {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        PQclear(handle)
    }

    public var count: Int { Int(PQntuples(handle)) }
    public var columnCount: Int { Int(PQnfields(handle)) }
    public var isEmpty: Bool { count == 0 }

    /// Rows changed by an INSERT, UPDATE or DELETE (`PQcmdTuples`), 0 for other statements.
    public var affectedRows: Int {
        Int(String(cString: PQcmdTuples(handle))) ?? 0
    }

    /// The command tag (`INSERT 0 1`, `COMMIT`, `ROLLBACK`).
    public var commandTag: String { String(cString: PQcmdStatus(handle)) }

    public subscript(row: Int) -> PGRow { PGRow(result: self, row: Int32(row)) }

    public var rows: [PGRow] { (0..<count).map { self[$0] } }

    /// The first row, if any.
    public var first: PGRow? { isEmpty ? nil : self[0] }
}

/// One row of a `PGResult`.
public struct PGRow: @unchecked Sendable {
    let result: PGResult
    let row: Int32

    private var handle: OpaquePointer { result.handle }

    public func isNull(_ column: Int) -> Bool {
        PQgetisnull(handle, row, Int32(column)) == 1
    }

    private func raw(_ column: Int) -> UnsafeRawBufferPointer? {
        let c = Int32(column)
        if PQgetisnull(handle, row, c) == 1 { return nil }
        let length = Int(PQgetlength(handle, row, c))
        guard let base = PQgetvalue(handle, row, c) else { return nil }
        return UnsafeRawBufferPointer(start: base, count: length)
    }

    private func isBinary(_ column: Int) -> Bool { PQfformat(handle, Int32(column)) == 1 }
    private func type(_ column: Int) -> UInt32 { PQftype(handle, Int32(column)) }

    private func mismatch(_ column: Int, _ wanted: String) -> PGError {
        let name = String(cString: PQfname(handle, Int32(column)))
        return PGError(.protocolViolation, message: "column \(name) (type \(type(column))) is not \(wanted)")
    }

    /// A text-like column (text, varchar, name, char) as a string; nil for NULL.
    public func string(_ column: Int) throws(PGError) -> String? {
        guard let bytes = raw(column) else { return nil }
        if isBinary(column) {
            switch type(column) {
            case PGType.text, PGType.varchar, PGType.name, PGType.char: break
            default: throw mismatch(column, "text")
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An integer column (int2, int4, int8, oid); nil for NULL.
    public func int(_ column: Int) throws(PGError) -> Int64? {
        guard let bytes = raw(column) else { return nil }
        guard isBinary(column) else {
            guard let value = Int64(String(decoding: bytes, as: UTF8.self)) else { throw mismatch(column, "an integer") }
            return value
        }
        switch (type(column), bytes.count) {
        case (PGType.int8, 8): return Self.bigEndian(bytes)
        case (PGType.int4, 4): return Int64(Int32(truncatingIfNeeded: Self.bigEndian(bytes)))
        case (PGType.oid, 4): return Int64(UInt32(truncatingIfNeeded: Self.bigEndian(bytes)))
        case (PGType.int2, 2): return Int64(Int16(truncatingIfNeeded: Self.bigEndian(bytes)))
        default: throw mismatch(column, "an integer")
        }
    }

    /// A boolean column; nil for NULL.
    public func bool(_ column: Int) throws(PGError) -> Bool? {
        guard let bytes = raw(column) else { return nil }
        if isBinary(column) {
            guard type(column) == PGType.bool, bytes.count == 1 else { throw mismatch(column, "a boolean") }
            return bytes[0] != 0
        }
        return bytes.first == UInt8(ascii: "t")
    }

    /// A `bytea` column's bytes; nil for NULL. Binary results carry them as stored; text results are hex (`\x…`).
    public func bytes(_ column: Int) throws(PGError) -> [UInt8]? {
        guard let bytes = raw(column) else { return nil }
        if isBinary(column) { return Array(bytes) }
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "\\"), bytes[1] == UInt8(ascii: "x"), bytes.count % 2 == 0
        else { throw mismatch(column, "hex bytea") }
        var out = [UInt8]()
        out.reserveCapacity((bytes.count - 2) / 2)
        var index = 2
        while index < bytes.count {
            guard let high = Self.hexValue(bytes[index]), let low = Self.hexValue(bytes[index + 1]) else {
                throw mismatch(column, "hex bytea")
            }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    /// A `timestamptz` column as microseconds since the Unix epoch; nil for NULL. Binary only: text timestamps
    /// depend on the session's DateStyle and time zone.
    public func timestampMicroseconds(_ column: Int) throws(PGError) -> Int64? {
        guard let bytes = raw(column) else { return nil }
        guard isBinary(column), [PGType.timestamptz, PGType.timestamp].contains(type(column)), bytes.count == 8 else {
            throw mismatch(column, "a binary timestamp")
        }
        // PostgreSQL counts microseconds from 2000-01-01 00:00:00 UTC, 946,684,800 s after the Unix epoch.
        return Self.bigEndian(bytes) &+ 946_684_800_000_000
    }

    /// A non-NULL column, or a protocol error naming it.
    public func required<T>(_ read: (Int) throws(PGError) -> T?, _ column: Int) throws(PGError) -> T {
        guard let value = try read(column) else { throw mismatch(column, "non-NULL") }
        return value
    }

    private static func bigEndian(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        var value: UInt64 = 0
        for byte in bytes { value = value << 8 | UInt64(byte) }
        return Int64(bitPattern: value)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
