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
    public func matches(_ name: some StringProtocol) -> Bool {
        if isLiteral { return name.utf8.elementsEqual(literalPrefix) }
        guard name.utf8.starts(with: literalPrefix) else { return false }
        if tokens.count == literalPrefix.count + 1, tokens.last == .globstar { return true }
        let text = Array(name.utf8)
        let slash = UInt8(ascii: "/")
        // memo[t * (n + 1) + i]: 0 unknown, 1 no, 2 yes — whether tokens[t...] match text[i...]. Bounded by
        // tokens × name length, so no pattern can make matching exponential.
        let n = text.count
        var memo = [UInt8](repeating: 0, count: (tokens.count + 1) * (n + 1))
        func match(_ t: Int, _ i: Int) -> Bool {
            if t == tokens.count { return i == n }
            let key = t * (n + 1) + i
            if memo[key] != 0 { return memo[key] == 2 }
            let result: Bool
            switch tokens[t] {
            case .byte(let b):
                result = i < n && text[i] == b && match(t + 1, i + 1)
            case .question:
                result = i < n && text[i] != slash && match(t + 1, i + 1)
            case .star:
                var j = i, found = match(t + 1, j)
                while !found && j < n && text[j] != slash {
                    j += 1
                    found = match(t + 1, j)
                }
                result = found
            case .globstar:
                result = (i...n).contains { match(t + 1, $0) }
            case .componentsThenSlash:
                // Nothing, or a run ending right after a `/`; the run must start at a component boundary, which
                // the pattern guarantees (it follows a `/` or starts the pattern).
                result = match(t + 1, i) || (i..<n).contains { text[$0] == slash && match(t + 1, $0 + 1) }
            case .slashThenComponents:
                result = match(t + 1, i) || (i < n && text[i] == slash && (i + 1...n).contains { match(t + 1, $0) })
            }
            memo[key] = result ? 2 : 1
            return result
        }
        return match(0, 0)
    }
}
