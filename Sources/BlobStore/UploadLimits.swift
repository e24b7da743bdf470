/// How many upload sessions may exist and how long they live: a bound on the disk and memory that clients can
/// hold without finishing anything, shared fairly among them.
public struct UploadLimits: Sendable, Equatable {
    /// Sessions open at once, all clients together; more get TOOMANYREQUESTS.
    public var maxOpen: Int
    /// Sessions open at once for one owner (a client address, later a user), so that one client cannot take
    /// every session and lock the others out.
    public var maxPerOwner: Int
    /// Seconds a session may go without receiving a byte before it is deleted. Short, because a session that
    /// receives nothing only holds a slot (a flood of empty sessions holds the cap this long at most); a client
    /// that is sending is never cut off, since a session in use never expires.
    public var idleTimeout: Int
    /// Seconds a session may live at all, from its start, however active.
    public var maxAge: Int

    /// - Parameter maxPerOwner: nil for the default, a tenth of `maxOpen` (at least 1).
    public init(maxOpen: Int = 1000, maxPerOwner: Int? = nil, idleTimeout: Int = 15 * 60, maxAge: Int = 24 * 3600) {
        self.maxOpen = maxOpen
        self.maxPerOwner = maxPerOwner ?? Self.defaultMaxPerOwner(maxOpen: maxOpen)
        self.idleTimeout = idleTimeout
        self.maxAge = maxAge
    }

    /// A tenth of the global cap: ten clients at their limit still leave room, and one client pushing many
    /// layers in parallel (clients use 3 to 6 at once) is far from it with the default cap of 1000.
    public static func defaultMaxPerOwner(maxOpen: Int) -> Int { max(1, maxOpen / 10) }
}
