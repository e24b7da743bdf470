import RegistryAuth
import Testing

@Suite struct RepositoryPatternTests {
    private func expectMatches(_ pattern: String, _ yes: [String], _ no: [String],
                               sourceLocation: SourceLocation = #_sourceLocation) {
        let p = RepositoryPattern(pattern)
        for name in yes { #expect(p.matches(name), "\(pattern) should match \(name)", sourceLocation: sourceLocation) }
        for name in no { #expect(!p.matches(name), "\(pattern) should not match \(name)", sourceLocation: sourceLocation) }
    }

    @Test func singleStarStaysWithinOneComponent() {
        expectMatches("team/*", ["team/app", "team/a", "team/"], ["team", "team/a/b", "other/app", "teamx/app"])
        expectMatches("*", ["app", "a-b.c", ""], ["a/b"])
        expectMatches("team/*-prod", ["team/app-prod", "team/-prod"], ["team/app-dev", "team/x/app-prod"])
        expectMatches("*/app", ["team/app", "x/app"], ["app", "a/b/app"])
    }

    @Test func questionMarkIsOneCharacterOtherThanSlash() {
        expectMatches("team/app?", ["team/app1", "team/appx"], ["team/app", "team/app12", "team/app/"])
        expectMatches("a?b", ["axb"], ["a/b", "ab"])
    }

    @Test func doubleStarSpansWholeComponents() {
        expectMatches("**", ["a", "a/b/c", ""], [])
        expectMatches("team/**", ["team", "team/app", "team/a/b/c"], ["teamx", "teamx/app", "other/team/app"])
        expectMatches("**/app", ["app", "x/app", "x/y/app"], ["xapp", "x/app/y", "x/myapp"])
        expectMatches("a/**/b", ["a/b", "a/x/b", "a/x/y/b"], ["ab", "a/xb", "a/x/b/c", "b"])
        expectMatches("**/**", ["a", "a/b"], [])
        expectMatches("team**", ["team", "teams", "team/a/b"], ["tea"])
    }

    @Test func literalsMatchExactly() {
        expectMatches("library/ubuntu", ["library/ubuntu"], ["library/ubuntu2", "library", "Library/ubuntu"])
    }

    @Test func matchingIsPolynomialOnHostilePatterns() {
        // Backtracking without memoisation takes exponential time on this one.
        let p = RepositoryPattern(String(repeating: "*a", count: 30) + "b")
        let name = String(repeating: "a", count: 200)
        let clock = ContinuousClock()
        let elapsed = clock.measure { #expect(!p.matches(name)) }
        #expect(elapsed < .seconds(2))
        // Long names too (the work area then comes from the heap).
        let long = String(repeating: "ab/", count: 3000) + "app"
        let results = ["**/app", "ab/**/a?/app", "ab/*/app", "ab/**/b?/app"].map { RepositoryPattern($0).matches(long) }
        #expect(results == [true, true, false, false])
    }

    /// zot's rule: the longest pattern is the most specific (so `team/**` beats `team/*`, as in zot).
    @Test func longerPatternsAreMoreSpecific() {
        let ordered = ["team/app", "team/**", "team/*", "**"].map(RepositoryPattern.init)
        for (a, b) in zip(ordered, ordered.dropFirst()) { #expect(a.specificity > b.specificity, "\(a) > \(b)") }
    }
}
