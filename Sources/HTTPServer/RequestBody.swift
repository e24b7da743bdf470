/// A request body as a stream of chunks, with back-pressure: while the handler does not take chunks, the
/// connection stops reading from its socket once `ServerConfiguration.bodyHighWater` bytes are buffered.
///
/// Confined to the connection's event loop: use it from the handler's task (which runs there), not from a task
/// of its own.
public final class RequestBody: AsyncSequence, @unchecked Sendable {
    public typealias Element = [UInt8]

    /// The declared length, or nil for a chunked body.
    public let declaredLength: Int64?
    /// The largest body the handler accepts; set it before reading. Larger fails with `BodyError.tooLarge`.
    public var limit: Int64 = .max

    private weak var connection: Connection?
    private var chunks: [[UInt8]] = []
    private var head = 0
    private(set) var bufferedBytes = 0
    /// Bytes handed to the handler so far.
    public private(set) var consumedBytes: Int64 = 0
    private(set) var receivedBytes: Int64 = 0
    private(set) var isFinished = false
    private var failure: BodyError?
    private var waiter: CheckedContinuation<[UInt8]?, Error>?
    /// Set when the handler has responded: bytes still arriving are dropped.
    var isDiscarding = false
    /// Empty buffers with at least `chunkCapacity` bytes of capacity, for the next chunks (see `recycle`).
    private var spare: [[UInt8]] = []
    /// The capacity of a chunk buffer: one read of the event loop.
    static let chunkCapacity = EventLoop.readBufferSize
    /// Spare buffers kept at most.
    static let maxSpare = 8
    /// Spare buffers held now.
    var spareCount: Int { spare.count }

    init(connection: Connection?, framing: BodyFraming) {
        self.connection = connection
        switch framing {
        case .none:
            declaredLength = 0
            isFinished = true
        case .length(let n): declaredLength = n
        case .chunked: declaredLength = nil
        }
    }

    /// A body that is already complete, for tests and internal callers.
    public convenience init(bytes: [UInt8]) {
        self.init(connection: nil, framing: bytes.isEmpty ? .none : .length(Int64(bytes.count)))
        if !bytes.isEmpty {
            append(bytes)
            finish()
        }
    }

    /// True when the body has been read to its end.
    public var isComplete: Bool { isFinished && head == chunks.count }

    /// The next chunk, or nil at the end.
    /// - Throws: `BodyError`.
    public func next() async throws -> [UInt8]? {
        if let declaredLength, declaredLength > limit { throw BodyError.tooLarge(limit: limit) }
        if head < chunks.count {
            let chunk = chunks[head]
            chunks[head] = []
            head += 1
            if head == chunks.count {
                chunks.removeAll(keepingCapacity: true)
                head = 0
            }
            bufferedBytes -= chunk.count
            consumedBytes += Int64(chunk.count)
            connection?.bodyDidDrain(self)
            // Bytes may have been buffered before the handler set its limit: check as they are handed over.
            if consumedBytes > limit {
                fail(.tooLarge(limit: limit))
                throw BodyError.tooLarge(limit: limit)
            }
            return chunk
        }
        if let failure { throw failure }
        if isFinished { return nil }
        connection?.bodyWantsData(self)
        return try await withCheckedThrowingContinuation { continuation in
            waiter = continuation
        }
    }

    /// Gives back chunks this body handed out, once the handler is done with them, so that the chunks that follow
    /// are copied into them instead of into new allocations. Buffers too small to hold a whole read are dropped.
    public func recycle(_ buffers: [[UInt8]]) {
        for var buffer in buffers where spare.count < Self.maxSpare && buffer.capacity >= Self.chunkCapacity {
            buffer.removeAll(keepingCapacity: true)
            spare.append(buffer)
        }
    }

    /// Reads the whole body into memory; for small documents only (manifests, tokens).
    /// - Throws: `BodyError.tooLarge` past `maxBytes`, or any other `BodyError`.
    public func collect(upTo maxBytes: Int) async throws -> [UInt8] {
        limit = Swift.min(limit, Int64(maxBytes))
        var all: [UInt8] = []
        if let declaredLength { all.reserveCapacity(Int(Swift.min(declaredLength, Int64(maxBytes)))) }
        while let chunk = try await next() {
            all.append(contentsOf: chunk)
        }
        return all
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let body: RequestBody
        public mutating func next() async throws -> [UInt8]? { try await body.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }

    // MARK: - Fed by the connection

    /// Copies received bytes into a chunk: a recycled buffer when there is one; a new one sized for a whole
    /// read when more of the body is to come, or sized to fit when this is all of it.
    func makeChunk(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        if var buffer = spare.popLast() {
            buffer.append(contentsOf: bytes)
            return buffer
        }
        let more = declaredLength.map { receivedBytes + Int64(bytes.count) < $0 } ?? true
        guard more else { return Array(bytes) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(Swift.max(Self.chunkCapacity, bytes.count))
        buffer.append(contentsOf: bytes)
        return buffer
    }

    /// An empty buffer to read the next chunk into: a recycled one, or a new one with room for a whole read.
    func takeBuffer() -> [UInt8] {
        if let buffer = spare.popLast() { return buffer }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(Self.chunkCapacity)
        return buffer
    }

    func append(_ bytes: [UInt8]) {
        receivedBytes += Int64(bytes.count)
        if isDiscarding { return }
        if receivedBytes > limit {
            fail(.tooLarge(limit: limit))
            return
        }
        if let waiter {
            self.waiter = nil
            consumedBytes += Int64(bytes.count)
            waiter.resume(returning: bytes)
            return
        }
        chunks.append(bytes)
        bufferedBytes += bytes.count
    }

    func finish() {
        isFinished = true
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: nil)
        }
    }

    func fail(_ error: BodyError) {
        if failure == nil { failure = error }
        isFinished = true
        if let waiter {
            self.waiter = nil
            waiter.resume(throwing: error)
        }
    }

    /// Drops what is buffered; later bytes are dropped as they come.
    func discard() {
        isDiscarding = true
        chunks = []
        head = 0
        bufferedBytes = 0
    }

    var isWaiting: Bool { waiter != nil }
}
