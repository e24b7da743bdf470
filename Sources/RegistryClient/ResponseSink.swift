/// Takes a response body as it arrives instead of collecting it in memory (blob downloads).
///
/// The engine calls a sink on its own thread only, one call at a time, and never after the transfer completes;
/// the awaiting caller reads the sink's state once the transfer is done.
protocol ResponseSink: AnyObject {
    /// Decides what to do with the body of a response, before its first byte (or at completion for an empty
    /// body). Called again if the transfer starts over (a new response).
    func begin(status: Int, headers: [(name: String, value: String)]) -> SinkDecision

    /// Consumes a piece of the body.
    /// - Returns: false to abort the transfer (the sink records why).
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool
}

/// What a sink wants done with a response body.
enum SinkDecision {
    /// The body goes to ``ResponseSink/write(_:)``.
    case accept
    /// Not the content (an error answer, a redirect): the body is collected in memory like any other.
    case decline
    /// Stop the transfer now; the sink has recorded why.
    case abort
}
