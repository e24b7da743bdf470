import RegistryAuth
import Testing

@Suite struct ScopeTests {
    @Test func parsesNamesWithColonsAndWildcards() throws {
        let scope = try #require(Scope(parsing: "repository:localhost:5000/team/app:pull,push"))
        #expect(scope.type == "repository")
        #expect(scope.name == "localhost:5000/team/app")
        #expect(scope.repositoryActions == [.pull, .push])
        #expect(scope.description == "repository:localhost:5000/team/app:pull,push")
        #expect(Scope(parsing: "registry:catalog:*")?.repositoryActions == Set(Action.allCases))
    }

    @Test func refusesIncompleteScopes() {
        for text in ["", "repository", "repository:app", ":app:pull", "repository::pull"] {
            #expect(Scope(parsing: text) == nil, "\(text)")
        }
    }

    @Test func repositoryScopeListsActionsInCanonicalOrder() {
        #expect(Scope.repository("a/b", [.push, .pull]).description == "repository:a/b:pull,push")
    }
}
