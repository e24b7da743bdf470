import Registry
import RegistryNotifications
import Yams

/// Reads `notifications.endpoints` (distribution's list, with its names) into `EndpointConfiguration`s:
///
/// ```yaml
/// notifications:
///   endpoints:
///     - name: ci                      # letters, digits, . _ - (names the queue folder and the metrics)
///       url: https://ci.example.com/registry-events
///       headers: { Authorization: [Bearer s3cr3t] }
///       timeout: 1s                   # per POST (default 1s)
///       threshold: 10                 # failures in a row retried at once (default 10)
///       backoff: 1s                   # then wait this long, doubling up to a minute (default 1s)
///       ignoredmediatypes: [application/octet-stream]
///       ignore: { mediatypes: [...], actions: [pull] }
///       disabled: false
/// ```
struct NotificationsParser {
    var reader: ConfigNodeReader

    init(path: String) { reader = ConfigNodeReader(path: path) }

    var errors: [ConfigError] { reader.errors }

    static let at = ConfigKey.notificationEndpointsPath
    static let fields = ["name", "disabled", "url", "headers", "timeout", "threshold", "backoff", "ignoredmediatypes", "ignore"]
    static let actions = RegistryEvent.Action.allCases.map(\.rawValue).joined(separator: ", ")

    mutating func parse(_ node: Node) -> [EndpointConfiguration]? {
        let before = reader.errors.count
        var endpoints: [EndpointConfiguration] = []
        for item in reader.sequence(node, at: Self.at) ?? [] {
            if let endpoint = parseEndpoint(item) {
                if endpoints.contains(where: { $0.name == endpoint.name }) {
                    reader.error(Self.at, item, "two endpoints are named \"\(endpoint.name)\"")
                    continue
                }
                endpoints.append(endpoint)
            }
        }
        return reader.errors.count == before ? endpoints : nil
    }

    private mutating func parseEndpoint(_ node: Node) -> EndpointConfiguration? {
        guard let fields = reader.fields(node, at: Self.at, allowed: Self.fields) else { return nil }
        guard let nameNode = fields["name"], let name = reader.name(nameNode, at: Self.at + ".name") else {
            if fields["name"] == nil { reader.error(Self.at, node, "an endpoint needs a name") }
            return nil
        }
        let at = "\(Self.at).\(name)"
        guard EndpointConfiguration.isValidName(name) else {
            reader.error(at + ".name", nameNode, "\"\(name)\" cannot name an endpoint",
                         accepted: "up to 64 letters, digits, '.', '_' and '-', not starting with '.' or '-'")
            return nil
        }
        guard let urlNode = fields["url"] else {
            reader.error(at, node, "an endpoint needs a url")
            return nil
        }
        var endpoint = EndpointConfiguration(name: name, url: "")
        if case .string(let url)? = value(urlNode, .url, at: at + ".url") { endpoint.url = url }
        if let node = fields["headers"] { endpoint.headers = parseHeaders(node, at: at + ".headers") }
        if let node = fields["timeout"], case .duration(let seconds)? = value(node, .duration(allowZero: false), at: at + ".timeout") {
            endpoint.timeout = seconds
        }
        if let node = fields["backoff"], case .duration(let seconds)? = value(node, .duration(allowZero: false), at: at + ".backoff") {
            endpoint.backoff = seconds
        }
        if let node = fields["threshold"], case .int(let count)? = value(node, .int(0...1_000_000), at: at + ".threshold") {
            endpoint.threshold = count
        }
        if let node = fields["disabled"], case .bool(let flag)? = value(node, .bool, at: at + ".disabled") {
            endpoint.disabled = flag
        }
        if let node = fields["ignoredmediatypes"] {
            endpoint.ignoredMediaTypes = reader.names(node, at: at + ".ignoredmediatypes")
        }
        if let node = fields["ignore"], let ignore = reader.fields(node, at: at + ".ignore", allowed: ["mediatypes", "actions"]) {
            if let types = ignore["mediatypes"] { endpoint.ignoreMediaTypes = reader.names(types, at: at + ".ignore.mediatypes") }
            if let actions = ignore["actions"] {
                for item in reader.sequence(actions, at: at + ".ignore.actions") ?? [] {
                    guard case .scalar(let scalar) = item, let action = RegistryEvent.Action(rawValue: scalar.string.lowercased()) else {
                        reader.error(at + ".ignore.actions", item, "unknown action \(FileReader.describe(item))", accepted: Self.actions)
                        continue
                    }
                    endpoint.ignoreActions.append(action)
                }
            }
        }
        return endpoint
    }

    /// distribution's `http.Header`: each name with a list of values (one value alone is taken as a list of one).
    private mutating func parseHeaders(_ node: Node, at: String) -> [String: [String]] {
        guard let mapping = reader.mapping(node, at: at) else { return [:] }
        var headers: [String: [String]] = [:]
        for (nameNode, valueNode) in mapping {
            guard let name = reader.name(nameNode, at: at) else { continue }
            // RFC 9110 §5.1: a field name is a token.
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !"()<>@,;:\\\"/[]?={}".utf8.contains($0) }) else {
                reader.error(at, nameNode, "\"\(name)\" is not a header name")
                continue
            }
            let values: [String]
            if case .scalar = valueNode, !FileReader.isNull(valueNode) {
                values = reader.name(valueNode, at: at + "." + name).map { [$0] } ?? []
            } else {
                values = reader.names(valueNode, at: at + "." + name)
            }
            // A line break in a value would end the header and start another (request splitting).
            if values.contains(where: { $0.unicodeScalars.contains { $0 == "\r" || $0 == "\n" || $0 == "\0" } }) {
                reader.error(at + "." + name, valueNode, "a header value cannot hold a line break")
                continue
            }
            headers[name, default: []] += values
        }
        return headers
    }

    /// A scalar read as `kind`, or nil (with the error recorded).
    private mutating func value(_ node: Node, _ kind: ConfigKind, at: String) -> ConfigValue? {
        guard case .scalar(let scalar) = node, !FileReader.isNull(node) else {
            reader.error(at, node, "expected \(kind.accepted), got \(FileReader.describe(node))", accepted: kind.accepted)
            return nil
        }
        switch kind.parse(scalar.string) {
        case .success(let value): return value
        case .failure(let problem):
            reader.error(at, node, problem.text, accepted: kind.accepted)
            return nil
        }
    }
}
