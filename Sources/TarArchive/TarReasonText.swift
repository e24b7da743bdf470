/// A failure description returned (not thrown) by parsing helpers, as an `Error` so it can sit in a `Result`; the
/// reader adds the stream offset.
struct TarReasonText: Error, ExpressibleByStringLiteral {
    let text: String
    init(stringLiteral value: String) { text = value }
    init(_ text: String) { self.text = text }
}
