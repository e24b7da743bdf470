extension Configuration {
    /// `SWREGISTRY_` variables that are not configuration (the benchmark scripts' binary); `SWREGISTRY_TEST_…`
    /// belong to the test suite.
    static let notConfiguration: Set<String> = ["SWREGISTRY_BIN"]

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
            } else if rest.hasPrefix("GC_RETENTION") {
                errors.append(ConfigError(key: ConfigKey.gcRetentionPath, source: .environment(name),
                                          problem: "is read from the configuration file only (structured)"))
            } else if !Self.notConfiguration.contains(name) && !name.hasPrefix("SWREGISTRY_TEST_") {
                // Every other SWREGISTRY_ variable is a mistake: a misspelt one (SWREGISTRY_ATUH_HTPASSWD_PATH) that
                // were ignored would start the server without what it was meant to turn on.
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
