/// A glob over repository names, as zot's `accessControl.repositories` keys are written (zot matches them with
/// doublestar):
///
/// - `*` matches any run of characters within one path component (never a `/`);
/// - `?` matches exactly one character other than `/`;
/// - `**` as a whole component matches zero or more whole components: `team/**` matches `team`, `team/app` and
///   `team/a/b`; `**/app` matches `app` and `x/y/app`; `a/**/b` matches `a/b` and `a/x/b`; `**` alone matches
///   every name. Inside a component (`team**`) it matches any run of characters, `/` included;
/// - every other character stands for itself (repository names have no other special characters).
///
/// Matching is over the whole name, byte by byte, case-sensitively (repository names are lowercase).
public struct RepositoryPattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written in the configuration.
    public let text: String
    private let tokens: [Token]

    private enum Token: Hashable {
        case byte(UInt8)
        /// `*`: any run without `/`.
        case star
        /// `?`: one byte other than `/`.
        case question
        /// `**` inside a component: any run, `/` included.
        case globstar
        /// A leading or middle `**/`: nothing, or any run that ends with `/` (whole components).
        case componentsThenSlash
        /// A trailing `/**`: nothing, or `/` followed by any run (whole components).
        case slashThenComponents
    }

    /// The bytes every match starts with (the pattern up to its first wildcard): most patterns are rejected on
    /// them alone, with no allocation, on the per-request path.
    private let literalPrefix: [UInt8]
    private let isLiteral: Bool

    public init(_ text: String) {
        self.text = text
        tokens = Self.compile(text)
        var prefix: [UInt8] = []
        for token in tokens {
            guard case .byte(let b) = token else { break }
            prefix.append(b)
        }
        literalPrefix = prefix
        isLiteral = prefix.count == tokens.count
    }

    public var description: String { text }

    /// How specific the pattern is: when several patterns match a repository, the one with the highest
    /// specificity decides. This is zot's documented rule, "authorization is granted based on the longest path
    /// matched" (its length in characters, `pkg/api/authz.go`), kept as is so that a zot configuration means the
    /// same here: `team/app` beats `team/**`, and `**` loses to every other pattern. Note what follows from
    /// it, as in zot: `team/**` (7 characters) beats `team/*` (6). Ties are broken by the order of the
    /// configuration file (the first one wins), where zot's map order is random.
    public var specificity: Int { text.utf8.count }

    private static func compile(_ text: String) -> [Token] {
        let components = text.split(separator: "/", omittingEmptySubsequences: false)
        if components.count == 1 && components[0] == "**" { return [.globstar] }
        var tokens: [Token] = []
        for (i, component) in components.enumerated() {
            let isLast = i == components.count - 1
            if component == "**" {
                if isLast, tokens.last == .byte(UInt8(ascii: "/")) {
                    // `a/**`: the `/` already emitted belongs to the optional tail.
                    tokens.removeLast()
                    tokens.append(.slashThenComponents)
                } else if isLast {
                    // `**/**`: after an optional run of components, anything.
                    tokens.append(.globstar)
                } else {
                    // `**/b` or `a/**/b`: the `/` after `**` is part of the optional run, so none is emitted.
                    tokens.append(.componentsThenSlash)
                }
                continue
            }
            var bytes = Array(component.utf8)[...]
            while let b = bytes.first {
                if b == UInt8(ascii: "*") {
                    let run = bytes.prefix { $0 == UInt8(ascii: "*") }.count
                    tokens.append(run >= 2 ? .globstar : .star)
                    bytes = bytes.dropFirst(run)
                } else {
                    tokens.append(b == UInt8(ascii: "?") ? .question : .byte(b))
                    bytes = bytes.dropFirst()
                }
            }
            if !isLast { tokens.append(.byte(UInt8(ascii: "/"))) }
        }
        return tokens
    }

    /// Whether `name` matches the whole pattern.
    public func matches(_ name: String) -> Bool {
        var name = name
        return name.withUTF8(matches)
    }

    /// Runs on every request that needs a policy decision: no generics, no allocation for names up to a few
    /// hundred bytes (repository names are at most 255 in practice).
    private func matches(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = text.count
        if isLiteral && n != literalPrefix.count { return false }
        guard n >= literalPrefix.count else { return false }
        for i in 0..<literalPrefix.count where text[i] != literalPrefix[i] { return false }
        if isLiteral { return true }
        if tokens.count == literalPrefix.count + 1, tokens.last == .globstar { return true }
        return withUnsafeTemporaryAllocation(of: Bool.self, capacity: 2 * (n + 1)) { rows in
            Self.dynamicMatch(tokens, text, next: UnsafeMutableBufferPointer(rebasing: rows[0...n]),
                              current: UnsafeMutableBufferPointer(rebasing: rows[(n + 1)...]))
        }
    }

    /// Dynamic programming over (token, position), from the ends backwards: after the step for token `t`,
    /// `next[i]` tells whether `tokens[t...]` match `text[i...]`. O(tokens × length) time, whatever the pattern,
    /// so no pattern makes matching exponential.
    private static func dynamicMatch(_ tokens: [Token], _ text: UnsafeBufferPointer<UInt8>,
                                     next: UnsafeMutableBufferPointer<Bool>, current: UnsafeMutableBufferPointer<Bool>) -> Bool {
        let n = text.count
        let slash = UInt8(ascii: "/")
        var next = next, current = current
        // No tokens left: only the end of the text matches.
        for i in 0...n { next[i] = i == n }
        for token in tokens.reversed() {
            switch token {
            case .byte(let b):
                current[n] = false
                for i in 0..<n { current[i] = text[i] == b && next[i + 1] }
            case .question:
                current[n] = false
                for i in 0..<n { current[i] = text[i] != slash && next[i + 1] }
            case .star:
                current[n] = next[n]
                for i in stride(from: n - 1, through: 0, by: -1) { current[i] = next[i] || (text[i] != slash && current[i + 1]) }
            case .globstar:
                current[n] = next[n]
                for i in stride(from: n - 1, through: 0, by: -1) { current[i] = next[i] || current[i + 1] }
            case .componentsThenSlash:
                // Nothing, or a run ending with `/`: some j ≥ i with text[j] == "/" and the rest matching at j + 1.
                var slashAhead = false
                current[n] = next[n]
                for i in stride(from: n - 1, through: 0, by: -1) {
                    slashAhead = slashAhead || (text[i] == slash && next[i + 1])
                    current[i] = next[i] || slashAhead
                }
            case .slashThenComponents:
                // Nothing, or `/` followed by a run: text[i] == "/" and the rest matching somewhere after it.
                var matchAhead = next[n]
                current[n] = next[n]
                for i in stride(from: n - 1, through: 0, by: -1) {
                    current[i] = next[i] || (text[i] == slash && matchAhead)
                    matchAhead = matchAhead || next[i]
                }
            }
            swap(&next, &current)
        }
        return next[0]
    }
}
