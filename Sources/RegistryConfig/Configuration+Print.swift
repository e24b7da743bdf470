import RegistryAuth
import SystemIO
import RegistryNotifications
import StoreMaintenance

extension Configuration {
    static let redacted = "<redacted>"

    /// The effective configuration as YAML that `swregistry config check` accepts, each value followed by its source
    /// as a comment; keys without a value are shown commented out with what happens instead. Secrets are redacted
    /// (paths are not secrets: the files they name are read, never printed).
    public func rendered() -> String {
        var lines = ["# swregistry configuration in effect; after each value, where it came from"]
        var openSections: [String] = []
        let keys = ConfigKey.all
        for (position, key) in keys.enumerated() {
            let parts = key.path.split(separator: ".").map(String.init)
            // A structured list of a section (gc.retention, notifications.endpoints) closes that section.
            defer {
                if position + 1 == keys.count || !keys[position + 1].path.hasPrefix(parts[0] + ".") {
                    lines += structuredLines(of: parts[0])
                }
            }
            let sections = Array(parts.dropLast())
            // Open the sections this key lives in that are not open yet.
            var common = 0
            while common < min(sections.count, openSections.count) && sections[common] == openSections[common] { common += 1 }
            for depth in common..<sections.count {
                lines.append(String(repeating: "  ", count: depth) + sections[depth] + ":")
            }
            openSections = sections
            let indent = String(repeating: "  ", count: sections.count)
            guard let entry = entries[key.path] else {
                lines.append(indent + "# \(parts.last!):  (not set\(key.defaultText.map { ": " + $0 } ?? ""))")
                continue
            }
            let text = Self.yaml(entry.value, secret: key.secret)
            lines.append(Self.withComment(indent + parts.last! + ": " + text, entry.source.description))
        }
        lines = Self.commentingOutEmptySections(lines)
        if let accessControl {
            lines.append(Self.withComment("accesscontrol:", accessControlSource?.description ?? "file"))
            lines += Self.yaml(accessControl).map { "  " + $0 }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The lines of the structured lists read from the file only, one level into `section`.
    private func structuredLines(of section: String) -> [String] {
        switch section {
        case "gc" where !retention.isEmpty:
            return [Self.withComment("  retention:", retentionSource?.description ?? "file")]
                + retention.flatMap(Self.yaml).map { "    " + $0 }
        case "notifications" where !notificationEndpoints.isEmpty:
            return [Self.withComment("  endpoints:", notificationEndpointsSource?.description ?? "file")]
                + Self.yaml(notificationEndpoints).map { "    " + $0 }
        default:
            return []
        }
    }

    /// `lines` with each section header whose keys are all commented out (unset) commented out too: `debug:` with
    /// nothing under it would read back as an empty value, which the loader refuses where a section belongs.
    static func commentingOutEmptySections(_ lines: [String]) -> [String] {
        var lines = lines
        // From the end, so that a section holding only empty sections is seen after them.
        for index in lines.indices.reversed() {
            let text = lines[index].drop { $0 == " " }
            guard text.hasSuffix(":"), !text.hasPrefix("#") else { continue }
            let indent = lines[index].count - text.count
            let holdsValue = lines[(index + 1)...].lazy
                .map { line in (line.count - line.drop { $0 == " " }.count, line.drop { $0 == " " }.hasPrefix("#")) }
                .prefix { $0.0 > indent }
                .contains { !$0.1 }
            if !holdsValue { lines[index] = String(repeating: " ", count: indent) + "# " + text }
        }
        return lines
    }

    /// A key's value for a log line, redacted as `rendered()` redacts it; `(not set)` when it has none.
    public func displayValue(_ key: ConfigKey) -> String {
        entries[key.path].map { Self.yaml($0.value, secret: key.secret) } ?? "(not set)"
    }

    static func withComment(_ line: String, _ comment: String) -> String {
        line + String(repeating: " ", count: max(1, 44 - line.count)) + "# " + comment
    }

    static func yaml(_ value: ConfigValue, secret: Bool) -> String {
        if secret { return quoted(redacted) }
        switch value {
        case .string(let text): return scalar(redactingUserInfo(text))
        case .list(let items): return "[" + items.map(scalar).joined(separator: ", ") + "]"
        case .bool, .int, .number, .duration: return value.description
        }
    }

    /// Credentials and queries can hide in any URL (see `URLRedaction`).
    static func redactingUserInfo(_ text: String) -> String {
        URLRedaction.redacted(text, marker: redacted)
    }

    /// A string as a YAML scalar: plain when YAML would read it back as the same string, else double-quoted.
    static func scalar(_ text: String) -> String {
        let safe = text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._/-:@+*".contains($0)) }
        let first = text.first
        let startsPlain = first.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "/" } ?? false
        let lower = text.lowercased()
        let readsAsOther = Double(text) != nil || Int(text) != nil
            || ["true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"].contains(lower)
        if safe && startsPlain && !readsAsOther && !text.hasSuffix(":") { return text }
        return quoted(text)
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for character in text.unicodeScalars {
            switch character {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if character.value < 0x20 || character.value == 0x7f {
                    out += "\\x" + (character.value < 0x10 ? "0" : "") + String(character.value, radix: 16)
                } else {
                    out.unicodeScalars.append(character)
                }
            }
        }
        return out + "\""
    }

    /// The endpoints as the file writes them; header values are redacted (they often carry credentials).
    static func yaml(_ endpoints: [EndpointConfiguration]) -> [String] {
        func list(_ items: [String]) -> String { "[" + items.map(scalar).joined(separator: ", ") + "]" }
        var lines: [String] = []
        for endpoint in endpoints {
            lines.append("- name: " + scalar(endpoint.name))
            lines.append("  url: " + scalar(redactingUserInfo(endpoint.url)))
            if !endpoint.headers.isEmpty {
                let headers = endpoint.headers.keys.sorted().map { name in
                    scalar(name) + ": " + list(endpoint.headers[name]!.map { _ in redacted })
                }
                lines.append("  headers: {" + headers.joined(separator: ", ") + "}")
            }
            lines.append("  timeout: " + ConfigValue.durationText(endpoint.timeout))
            lines.append("  threshold: \(endpoint.threshold)")
            lines.append("  backoff: " + ConfigValue.durationText(endpoint.backoff))
            if !endpoint.ignoredMediaTypes.isEmpty { lines.append("  ignoredmediatypes: " + list(endpoint.ignoredMediaTypes)) }
            if !endpoint.ignoreMediaTypes.isEmpty || !endpoint.ignoreActions.isEmpty {
                lines.append("  ignore: {mediatypes: \(list(endpoint.ignoreMediaTypes)), actions: \(list(endpoint.ignoreActions.map(\.rawValue)))}")
            }
            lines.append("  disabled: \(endpoint.disabled)")
        }
        return lines
    }

    static func yaml(_ accessControl: AccessControlConfiguration) -> [String] {
        func list(_ items: [String]) -> String { "[" + items.map(scalar).joined(separator: ", ") + "]" }
        func actions(_ set: Set<Action>) -> String { list(set.sorted().map(\.rawValue)) }
        func rule(_ rule: AccessControlConfiguration.Rule) -> String {
            "{users: \(list(rule.users)), groups: \(list(rule.groups)), actions: \(actions(rule.actions))}"
        }
        var lines: [String] = []
        if !accessControl.groups.isEmpty {
            lines.append("groups:")
            for name in accessControl.groups.keys.sorted() {
                lines.append("  \(scalar(name)): \(list(accessControl.groups[name]!))")
            }
        }
        if let admin = accessControl.adminPolicy { lines.append("adminpolicy: " + rule(admin)) }
        if !accessControl.repositories.isEmpty {
            lines.append("repositories:")
            for repository in accessControl.repositories {
                lines.append("  \(scalar(repository.pattern)):")
                lines.append("    policies:" + (repository.policies.isEmpty ? " []" : ""))
                lines += repository.policies.map { "      - " + rule($0) }
                lines.append("    defaultpolicy: " + actions(repository.defaultPolicy))
                lines.append("    anonymouspolicy: " + actions(repository.anonymousPolicy))
            }
        }
        return lines
    }

    /// One retention rule as a YAML list item.
    static func yaml(_ rule: RetentionRule) -> [String] {
        var lines = ["- repositories: [" + rule.repositories.map(scalar).joined(separator: ", ") + "]"]
        if rule.limitsTags {
            var fields: [String] = []
            if let n = rule.keepMostRecent { fields.append("mostrecent: \(n)") }
            if !rule.keepPatterns.isEmpty { fields.append("patterns: [" + rule.keepPatterns.map(quoted).joined(separator: ", ") + "]") }
            lines.append("  keeptags: { " + fields.joined(separator: ", ") + " }")
        }
        if let age = rule.deleteUntaggedAfter { lines.append("  deleteuntagged: \(ConfigValue.duration(age).description)") }
        return lines
    }
}
