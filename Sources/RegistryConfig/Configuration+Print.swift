import RegistryAuth
import RegistryNotifications

extension Configuration {
    static let redacted = "<redacted>"

    /// The effective configuration as YAML that `swregistry config check` accepts, each value followed by its source
    /// as a comment; keys without a value are shown commented out with what happens instead. Secrets are redacted
    /// (paths are not secrets: the files they name are read, never printed).
    public func rendered() -> String {
        var lines = ["# swregistry configuration in effect; after each value, where it came from"]
        var openSections: [String] = []
        // The endpoints go inside the `notifications` section the table's notifications.* keys open, when it closes.
        var endpointsPending = !notificationEndpoints.isEmpty
        func closingNotifications(before next: String?) {
            guard endpointsPending, openSections.first == "notifications", next != "notifications" else { return }
            lines.append(Self.withComment("  endpoints:", notificationEndpointsSource?.description ?? "file"))
            lines += Self.yaml(notificationEndpoints).map { "    " + $0 }
            endpointsPending = false
        }
        for key in ConfigKey.all {
            let parts = key.path.split(separator: ".").map(String.init)
            let sections = Array(parts.dropLast())
            closingNotifications(before: sections.first)
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
        closingNotifications(before: nil)
        if let accessControl {
            lines.append(Self.withComment("accesscontrol:", accessControlSource?.description ?? "file"))
            lines += Self.yaml(accessControl).map { "  " + $0 }
        }
        return lines.joined(separator: "\n") + "\n"
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

    /// `https://user:password@host/…` → `https://<redacted>@host/…`: credentials can hide in any URL.
    static func redactingUserInfo(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return text }
        let authorityEnd = text[scheme.upperBound...].firstIndex(of: "/") ?? text.endIndex
        guard let at = text[scheme.upperBound..<authorityEnd].lastIndex(of: "@") else { return text }
        return String(text[..<scheme.upperBound]) + redacted + String(text[at...])
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
}
