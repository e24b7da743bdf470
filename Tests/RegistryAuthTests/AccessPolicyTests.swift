import RegistryAuth
import Testing

@Suite struct AccessPolicyTests {
    typealias Config = AccessControlConfiguration
    let alice = Identity(user: "alice"), bob = Identity(user: "bob"), carol = Identity(user: "carol")
    let root = Identity(user: "root"), anonymous = Identity.anonymous
    let all = Set(Action.allCases)

    /// A team policy with groups, a public area, an admin and overlapping patterns.
    var teamPolicy: AccessPolicy {
        AccessPolicy(configuration: Config(
            groups: ["devs": ["alice", "bob"], "ops": ["olga"]],
            repositories: [
                .init(pattern: "**", defaultPolicy: [.pull]),
                .init(pattern: "team/**", policies: [.init(groups: ["devs"], actions: [.pull, .push])]),
                .init(pattern: "team/secret", policies: [.init(users: ["alice"], actions: [.pull])]),
                .init(pattern: "public/*", policies: [.init(users: ["bob"], actions: [.push])],
                      defaultPolicy: [.pull], anonymousPolicy: [.pull]),
            ],
            adminPolicy: .init(users: ["root"], groups: ["ops"], actions: [.pull, .push, .delete])),
            authenticationConfigured: true)
    }

    @Test func withNeitherAuthenticationNorPolicyEverythingIsOpen() {
        let policy = AccessPolicy(configuration: nil, authenticationConfigured: false)
        #expect(policy.isOpen)
        #expect(policy.actions(for: anonymous, repository: "a/b") == all)
        #expect(policy.canSeeCatalog(anonymous))
        #expect(policy.decide(anonymous, .authenticated) == .allowed)
        #expect(policy.decide(anonymous, .repository("x", [.delete])) == .allowed)
    }

    @Test func authenticationWithoutPolicyLetsEveryUserDoEverythingAndAnonymousNothing() {
        let policy = AccessPolicy(configuration: nil, authenticationConfigured: true)
        #expect(!policy.isOpen)
        #expect(policy.actions(for: carol, repository: "any/repo") == all)
        #expect(policy.actions(for: anonymous, repository: "any/repo").isEmpty)
        #expect(policy.decide(anonymous, .authenticated) == .needsCredentials)
        #expect(policy.decide(carol, .authenticated) == .allowed)
        #expect(policy.decide(anonymous, .repository("a", [.pull])) == .needsCredentials)
        #expect(policy.decide(anonymous, .catalog) == .needsCredentials)
        #expect(policy.decide(carol, .catalog) == .allowed)
        #expect(policy.catalogShows("a", to: carol))
    }

    @Test func theMostSpecificMatchingPatternDecides() {
        let policy = teamPolicy
        // team/secret (longest) beats team/**: bob, a dev, has nothing there; alice has pull only.
        #expect(policy.actions(for: bob, repository: "team/secret").isEmpty)
        #expect(policy.actions(for: alice, repository: "team/secret") == [.pull])
        // team/** beats **: carol (no group) gets no default pull under team/.
        #expect(policy.actions(for: carol, repository: "team/app").isEmpty)
        #expect(policy.actions(for: bob, repository: "team/app") == [.pull, .push])
        #expect(policy.actions(for: bob, repository: "team") == [.pull, .push], "team/** matches team itself")
        // Elsewhere ** decides: every authenticated user pulls.
        #expect(policy.actions(for: carol, repository: "misc/tool") == [.pull])
        #expect(policy.actions(for: anonymous, repository: "misc/tool").isEmpty)
    }

    @Test func equallySpecificPatternsGoByFileOrder() {
        let policy = AccessPolicy(configuration: Config(repositories: [
            .init(pattern: "a/*", defaultPolicy: [.pull]),
            .init(pattern: "*/b", defaultPolicy: [.push]),
        ]), authenticationConfigured: true)
        #expect(policy.actions(for: carol, repository: "a/b") == [.pull])
        #expect(policy.actions(for: carol, repository: "x/b") == [.push])
    }

    @Test func groupsGrantTheirRulesActions() {
        let policy = teamPolicy
        #expect(policy.actions(for: alice, repository: "team/x") == [.pull, .push])
        #expect(policy.actions(for: Identity(user: "olga"), repository: "team/x") == all, "ops is an admin group")
    }

    @Test func defaultPolicyAddsToNamedUsersAndAnonymousPolicyToEveryone() {
        let policy = teamPolicy
        #expect(policy.actions(for: bob, repository: "public/tools") == [.pull, .push])
        #expect(policy.actions(for: carol, repository: "public/tools") == [.pull])
        #expect(policy.actions(for: anonymous, repository: "public/tools") == [.pull])
        #expect(policy.decide(anonymous, .repository("public/tools", [.pull])) == .allowed)
        #expect(policy.decide(anonymous, .repository("public/tools", [.pull, .push])) == .needsCredentials)
        // Anonymous pulls somewhere, so the (filtered) catalog is open to it.
        #expect(policy.canSeeCatalog(anonymous))
        #expect(policy.catalogShows("public/tools", to: anonymous))
        #expect(!policy.catalogShows("misc/tool", to: anonymous))
    }

    @Test func adminsMayDoTheAdminActionsEverywhere() {
        let policy = teamPolicy
        #expect(policy.isAdmin(root) && !policy.isAdmin(alice) && !policy.isAdmin(anonymous))
        #expect(policy.actions(for: root, repository: "team/secret") == all)
        #expect(policy.actions(for: root, repository: "nothing/matches/this") == all)
        // A repository no pattern matches is closed to everyone else.
        let narrow = AccessPolicy(configuration: Config(repositories: [.init(pattern: "a", defaultPolicy: [.pull])],
                                                        adminPolicy: .init(users: ["root"], actions: [.pull])),
                                  authenticationConfigured: true)
        #expect(narrow.actions(for: carol, repository: "b").isEmpty)
        #expect(narrow.actions(for: root, repository: "b") == [.pull])
        #expect(narrow.decide(carol, .repository("b", [.pull])) == .denied)
    }

    @Test func bearerIdentitiesGetTheTokenIntersectedWithThePolicy() {
        let policy = teamPolicy
        let token = Identity(user: "carol", grantedScopes: [
            .repository("misc/tool", [.pull, .push]), .repository("team/app", [.pull]),
        ])
        // misc/tool: token pull,push ∩ policy pull.
        #expect(policy.actions(for: token, repository: "misc/tool") == [.pull])
        // team/app: the policy gives carol nothing there.
        #expect(policy.actions(for: token, repository: "team/app").isEmpty)
        #expect(policy.decide(token, .repository("team/app", [.pull])) == .denied)
        // The policy would let carol pull other/x, the token does not: a new token can fix that.
        #expect(policy.decide(token, .repository("other/x", [.pull])) == .insufficientScope)
        #expect(policy.decide(token, .catalog) == .insufficientScope)
        // Any verified token opens /v2/, an anonymous one too; it pulls what anonymous requests may.
        let anonymousToken = Identity(user: nil, grantedScopes: [.repository("public/x", [.pull, .push])])
        #expect(policy.decide(anonymousToken, .authenticated) == .allowed)
        #expect(policy.actions(for: anonymousToken, repository: "public/x") == [.pull])
        #expect(policy.decide(anonymousToken, .repository("public/x", [.pull, .push])) == .needsCredentials)
        // Without a policy the token decides alone.
        let noPolicy = AccessPolicy(configuration: nil, authenticationConfigured: true)
        #expect(noPolicy.actions(for: token, repository: "misc/tool") == [.pull, .push])
        #expect(noPolicy.actions(for: token, repository: "x").isEmpty)
        let wildcard = Identity(user: "u", grantedScopes: [Scope(parsing: "repository:x:*")!, .catalog])
        #expect(noPolicy.actions(for: wildcard, repository: "x") == all)
        #expect(noPolicy.canSeeCatalog(wildcard))
    }

    @Test func grantIsTheRequestCutToThePolicy() {
        let policy = teamPolicy
        let requested = [
            Scope(parsing: "repository:team/app:pull,push,delete")!,
            Scope(parsing: "repository:team/secret:pull")!,
            Scope(parsing: "repository:misc/tool:pull")!,
            Scope(parsing: "repository:misc/tool:push")!,
            Scope(parsing: "registry:catalog:*")!,
            Scope(parsing: "plugin:foo:bar")!,
        ]
        #expect(policy.grant(bob, requested: requested).map(\.description) == [
            "repository:team/app:pull,push", "repository:misc/tool:pull", "registry:catalog:*",
        ])
        #expect(policy.grant(root, requested: requested).map(\.description) == [
            "repository:team/app:pull,push,delete", "repository:team/secret:pull", "repository:misc/tool:pull,push",
            "registry:catalog:*",
        ])
        #expect(policy.grant(anonymous, requested: requested + [Scope(parsing: "repository:public/x:pull,push")!])
            .map(\.description) == ["registry:catalog:*", "repository:public/x:pull"])
        // No anonymous pull anywhere: no catalog for anonymous tokens.
        let closed = AccessPolicy(configuration: nil, authenticationConfigured: true)
        #expect(closed.grant(anonymous, requested: requested).isEmpty)
        #expect(closed.grant(carol, requested: [Scope(parsing: "repository:a:*")!]).map(\.description)
            == ["repository:a:pull,push,delete"])
    }
}
