/// What a `swregistry verify` run checked and found.
public struct VerifyReport: Sendable {
    public var blobs = 0
    public var bytes: Int64 = 0
    public var repositories = 0
    public var links = 0
    public var manifests = 0
    public var tags = 0
    public var referrers = 0
    public var problems: [VerifyProblem] = []
    /// The run stopped early (`VerifyOptions.shouldStop`).
    public var stopped = false

    public init() {}

    public var repaired: Int {
        problems.count { if case .done = $0.repair { true } else { false } }
    }

    /// 0 when nothing is damaged, 1 when something is (repaired or not: the run found damage), 2 when the run
    /// stopped before the end.
    public var exitStatus: Int32 {
        if stopped { return 2 }
        return problems.isEmpty ? 0 : 1
    }

    /// The closing lines of the report.
    public var summary: [String] {
        var lines = ["checked \(plural(blobs, "blob")) (\(ByteCount.human(bytes))) and "
            + "\(plural(repositories, "repository", "repositories")) (\(plural(links, "link")), "
            + "\(plural(manifests, "manifest")), \(plural(tags, "tag")), \(plural(referrers, "referrer")))"]
        if stopped { lines.append("stopped before the end") }
        if problems.isEmpty {
            lines.append(stopped ? "no problem found in what was checked" : "no problem found")
        } else {
            var counts: [VerifyProblem.Kind: Int] = [:]
            for problem in problems { counts[problem.kind, default: 0] += 1 }
            let byKind = VerifyProblem.Kind.allCases.compactMap { kind in counts[kind].map { "\($0) \(kind.rawValue)" } }
            lines.append("\(plural(problems.count, "problem")) found (\(byKind.joined(separator: ", "))), "
                + "\(repaired) repaired")
        }
        return lines
    }
}
