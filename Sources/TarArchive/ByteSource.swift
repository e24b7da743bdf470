/// A pull-based stream of bytes: a file, a decompressor, a hashing tap.
public protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes into `buffer`.
    /// - Returns: The number of bytes read; 0 only at the end of the stream.
    /// - Throws: ``TarError`` when the stream cannot be read.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteSource {
    /// Reads until `buffer` is full or the stream ends.
    /// - Returns: The number of bytes read; less than `buffer.count` only at the end of the stream.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            if n == 0 { break }
            total += n
        }
        return total
    }

    /// Reads and discards everything up to the end of the stream.
    /// - Returns: The number of bytes discarded.
    @discardableResult
    public func drain() throws -> Int64 {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { scratch.deallocate() }
        var total: Int64 = 0
        while true {
            let n = try read(into: scratch)
            if n == 0 { return total }
            total += Int64(n)
        }
    }
}
