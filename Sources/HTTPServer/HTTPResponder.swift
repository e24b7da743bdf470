/// What the server calls for each request.
///
/// The call runs on the event loop that owns the connection (the task prefers that loop as its executor), so a
/// handler that does not block costs no thread hop. Blocking work belongs on a `BlockingPool`.
public protocol HTTPResponder: Sendable {
    /// Answers one request. The body, if any, streams from `body`; whatever the handler leaves unread is drained
    /// or the connection closed before the next request.
    /// - Throws: anything; the server answers 500 and logs it (an `HTTPParseError` or `BodyError` maps to its status).
    func respond(to request: Request, body: RequestBody) async throws -> Response
}
