/// URLs fit for logs and `config print`: what can carry a secret in a URL is hidden.
public enum URLRedaction {
    /// `https://user:password@host/path?token=…` → `https://<redacted>@host/path?<redacted>`: credentials in the
    /// authority and the whole query (tokens, signatures, API keys travel there) are replaced; anything that is no
    /// URL comes back as it is.
    public static func redacted(_ text: String, marker: String = "<redacted>") -> String {
        let characters = Array(text)
        guard let separator = schemeSeparator(characters) else { return text }
        let authorityStart = separator + 3
        var authorityEnd = authorityStart
        while authorityEnd < characters.count, !"/?#".contains(characters[authorityEnd]) { authorityEnd += 1 }
        var result = String(characters[..<authorityStart])
        let authority = characters[authorityStart..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            result += marker + String(characters[at..<authorityEnd])
        } else {
            result += String(authority)
        }
        var index = authorityEnd
        while index < characters.count, characters[index] != "?", characters[index] != "#" { index += 1 }
        result += String(characters[authorityEnd..<index])
        if index < characters.count, characters[index] == "?" {
            result += "?" + marker
            while index < characters.count, characters[index] != "#" { index += 1 }
        }
        result += String(characters[index...])
        return result
    }

    /// Where `://` starts, when `text` begins with a scheme (letters, digits, `+`, `-`, `.`).
    private static func schemeSeparator(_ characters: [Character]) -> Int? {
        var index = 0
        while index < characters.count, characters[index].isASCII,
              characters[index].isLetter || characters[index].isNumber || "+-.".contains(characters[index]) {
            index += 1
        }
        guard index > 0, index + 2 < characters.count, characters[index] == ":", characters[index + 1] == "/",
              characters[index + 2] == "/" else { return nil }
        return index
    }
}
