extension Configuration {
    /// First words after `SWREGISTRY_` that make a variable look like a key: the file's sections and the words
    /// today's variables start with. A variable such as `SWREGISTRY_BIN` (used by scripts) is left alone; a typo
    /// such as `SWREGISTRY_HTTP_ADRR` or `SWREGISTRY_THREAD` is an error rather than silently ignored.
    static let keyLikeWords: Set<String> = {
        var words: Set<String> = [ConfigKey.accessControlPath.uppercased()]
        for key in ConfigKey.all {
            for name in key.variables {
                let rest = name.dropFirst(ConfigKey.variablePrefix.count)
                words.insert(String(rest.prefix { $0 != "_" }))
            }
        }
        return words
    }()

    /// A first word that is one of `keyLikeWords`, or a shortening or lengthening of one (`THREAD`, `HTTPS`).
    static func looksLikeKey(_ word: String) -> Bool {
        keyLikeWords.contains(word)
            || (word.count >= 3 && keyLikeWords.contains { $0.hasPrefix(word) || word.hasPrefix($0) })
    }

    /// Reads the `SWREGISTRY_…` variables into the entries. A key set by both its mechanical name and its older
    /// name takes the mechanical one. - Returns: what is wrong with them.
    mutating func readEnvironment(_ environment: [String: String]) -> [ConfigError] {
        var errors: [ConfigError] = []
        var chosen: [String: (name: String, text: String)] = [:]
        for (name, text) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(ConfigKey.variablePrefix) {
            if name == Self.fileVariable { continue }
            if let key = ConfigKey.byVariable[name] {
                if chosen[key.path] == nil || name == key.variable { chosen[key.path] = (name, text) }
                continue
            }
            let rest = name.dropFirst(ConfigKey.variablePrefix.count)
            let word = String(rest.prefix { $0 != "_" })
            if word == ConfigKey.accessControlPath.uppercased() {
                errors.append(ConfigError(key: ConfigKey.accessControlPath, source: .environment(name),
                                          problem: "is read from the configuration file only (structured)"))
            } else if Self.looksLikeKey(word) {
                errors.append(ConfigError(key: "", source: .environment(name),
                                          problem: "not a configuration variable (did you mean \(Self.nearest(to: name))?)",
                                          accepted: "SWREGISTRY_ and a key upper-cased with dots as underscores, see the README's Configuration"))
            }
        }
        for key in ConfigKey.all {
            guard let (name, text) = chosen[key.path] else { continue }
            errors += set(key, text: text, source: .environment(name))
        }
        return errors
    }

    /// The nearest variable names (edit distance), for a message about a misspelt one.
    static func nearest(to name: String) -> String {
        let all = Array(ConfigKey.byVariable.keys)
        let scored = all.map { (name: $0, distance: editDistance(Array(name.utf8), Array($0.utf8))) }
        let best = scored.map(\.distance).min() ?? 0
        let nearest = scored.filter { $0.distance == best }.map(\.name).sorted()
        return nearest.joined(separator: " or ")
    }

    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
