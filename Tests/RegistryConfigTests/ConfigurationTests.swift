import HTTPServer
import Registry
import RegistryAuth
import Testing
@testable import RegistryConfig

@Suite struct ConfigurationTests {
    @Test func defaultsComeFromTheEngineAndRegistryTypes() throws {
        let config = try Configuration.load(file: nil, environment: [:])
        let server = try config.serverConfiguration()
        let registry = config.registryConfiguration()
        let engineDefaults = ServerConfiguration(address: server.address)
        let registryDefaults = RegistryConfiguration(storagePath: registry.storagePath)
        #expect(server.maxConnections == engineDefaults.maxConnections)
        #expect(server.headerTimeout == engineDefaults.headerTimeout && server.idleTimeout == engineDefaults.idleTimeout)
        #expect(server.bodyTimeout == engineDefaults.bodyTimeout && server.minBodyRate == engineDefaults.minBodyRate)
        #expect(server.shutdownGrace == engineDefaults.shutdownGrace)
        #expect(server.parser.maxRequestLine == engineDefaults.parser.maxRequestLine)
        #expect(server.parser.maxHeaderBytes == engineDefaults.parser.maxHeaderBytes)
        #expect(server.parser.maxHeaderCount == engineDefaults.parser.maxHeaderCount)
        #expect(server.eventLoopCount == ServerConfiguration.coreCount)
        #expect(server.address.port == 5000 && server.address.host == "127.0.0.1")
        #expect(registry.storagePath == "./registry-data")
        #expect(registry.uploadExpirySeconds == registryDefaults.uploadExpirySeconds)
        #expect(registry.uploadIdleTimeoutSeconds == registryDefaults.uploadIdleTimeoutSeconds)
        #expect(registry.maxOpenUploads == registryDefaults.maxOpenUploads)
        #expect(registry.maxUploadsPerClient == nil)
        #expect(registry.maxManifestBytes == registryDefaults.maxManifestBytes)
        #expect(registry.catalogMaxEntries == registryDefaults.catalogMaxEntries)
        #expect(config.logLevel == .info)
        #expect(config.security == SecuritySettings(rateLimits: .init(failuresPerMinute: 10, requestsPerSecond: 0),
                                                    deleteEnabled: true, accessControl: nil))
        #expect(config.source(of: .httpAddr) == .defaultValue)
    }

    @Test func tableIsConsistent() throws {
        #expect(Set(ConfigKey.all.map(\.path)).count == ConfigKey.all.count)
        for key in ConfigKey.all {
            #expect(key.path == key.path.lowercased(), "\(key.path)")
            if let value = key.defaultValue, key.kind != .pathList {
                // Each default reads back as itself through its own kind.
                #expect(try key.kind.parse(value.description).get() == value, "\(key.path)")
            } else {
                #expect(key.defaultText != nil || !key.help.isEmpty, "\(key.path)")
            }
        }
        #expect(ConfigKey.httpTLSVariableExample == "SWREGISTRY_HTTP_TLS_CERTIFICATE")
    }

    /// flag > environment > file > default, each value remembering where it came from.
    @Test func precedenceFlagOverEnvironmentOverFileOverDefault() throws {
        let file = writeConfigFile("""
            http:
              addr: 127.0.0.1:7001
              threads: 3
              maxconnections: 50
              idletimeout: 20s
            """)
        let environment = ["SWREGISTRY_THREADS": "5", "SWREGISTRY_HTTP_MAXCONNECTIONS": "60", "HOME": "/root"]
        let config = try Configuration.load(file: file, environment: environment, flags: [("threads", "7")])
        #expect(config.int(.httpThreads) == 7 && config.source(of: .httpThreads) == .flag("threads"))
        #expect(config.int(.httpMaxConnections) == 60)
        #expect(config.source(of: .httpMaxConnections) == .environment("SWREGISTRY_HTTP_MAXCONNECTIONS"))
        #expect(config.string(.httpAddr) == "127.0.0.1:7001" && config.source(of: .httpAddr) == .file(path: file, line: 2))
        #expect(config.duration(.httpIdleTimeout) == 20 && config.source(of: .httpIdleTimeout) == .file(path: file, line: 5))
        #expect(config.duration(.httpBodyTimeout) == 60 && config.source(of: .httpBodyTimeout) == .defaultValue)

        let fileOnly = try Configuration.load(file: file, environment: [:])
        #expect(fileOnly.int(.httpThreads) == 3)
        let envOverFile = try Configuration.load(file: file, environment: ["SWREGISTRY_HTTP_THREADS": "4"])
        #expect(envOverFile.int(.httpThreads) == 4)
    }

    /// Today's variable names still work; when both spellings are set, the mechanical one wins.
    @Test func legacyVariablesAreAliases() throws {
        let config = try Configuration.load(file: nil, environment: [
            "SWREGISTRY_ADDRESS": "127.0.0.1:6000", "SWREGISTRY_STORAGE": "/srv/data",
            "SWREGISTRY_UPLOAD_EXPIRY": "3600", "SWREGISTRY_MAX_UPLOADS_PER_CLIENT": "7",
            "SWREGISTRY_LOG_LEVEL": "debug", "SWREGISTRY_THREADS": "2", "SWREGISTRY_HTTP_THREADS": "3",
        ])
        #expect(config.string(.httpAddr) == "127.0.0.1:6000")
        #expect(config.storagePath == "/srv/data")
        #expect(config.registryConfiguration().uploadExpirySeconds == 3600)
        #expect(config.registryConfiguration().maxUploadsPerClient == 7)
        #expect(config.logLevel == .debug)
        #expect(config.int(.httpThreads) == 3 && config.source(of: .httpThreads) == .environment("SWREGISTRY_HTTP_THREADS"))
    }

    @Test func keysIgnoreCaseAndEveryMechanicalVariableWorks() throws {
        let file = writeConfigFile("""
            HTTP:
              maxConnections: 42
              TLS: { Certificate: /etc/c.pem, KEY: /etc/k.pem, clientCAs: [/etc/ca1.pem, /etc/ca2.pem], minimumTLS: TLS1.3 }
            Storage:
              Delete: { Enabled: false }
            Log: { Level: WARN }
            """)
        let config = try Configuration.load(file: file, environment: [:])
        #expect(config.int(.httpMaxConnections) == 42)
        #expect(config.security.tls == .init(certificatePath: "/etc/c.pem", keyPath: "/etc/k.pem",
                                             clientCAPaths: ["/etc/ca1.pem", "/etc/ca2.pem"], minimumVersion: .tls13))
        #expect(config.security.deleteEnabled == false)
        #expect(config.logLevel == .warning)

        let fromEnvironment = try Configuration.load(file: nil, environment: [
            "SWREGISTRY_HTTP_TLS_CERTIFICATE": "/c.pem", "SWREGISTRY_HTTP_TLS_KEY": "/k.pem",
            "SWREGISTRY_HTTP_TLS_CLIENTCAS": "/a.pem, /b.pem", "SWREGISTRY_AUTH_HTPASSWD_PATH": "/etc/htpasswd",
            "SWREGISTRY_AUTH_TOKENSERVICE_ENABLED": "true", "SWREGISTRY_AUTH_TOKENSERVICE_EXPIRATION": "10m",
            "SWREGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/var/lib/swregistry/data",
        ])
        let security = fromEnvironment.security
        #expect(security.tls?.clientCAPaths == ["/a.pem", "/b.pem"])
        #expect(security.htpasswd == .init(realm: "swregistry", path: "/etc/htpasswd"))
        #expect(security.tokenService == .init(realm: nil, service: "swregistry", issuer: "swregistry",
                                               keyPath: "/var/lib/swregistry/token-key.pem", expirationSeconds: 600))
        #expect(security.authenticationConfigured)
        // Every key of the table has a mechanical variable that sets it.
        for key in ConfigKey.all {
            #expect(ConfigKey.byVariable[key.variable] == key)
        }
    }

    @Test(arguments: [
        ("30", 30.0), ("10s", 10), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("1.5h", 5400), ("250ms", 0.25), ("2.5", 2.5),
    ])
    func durations(_ text: String, _ seconds: Double) throws {
        let config = try Configuration.load(file: nil, environment: ["SWREGISTRY_HTTP_HEADERTIMEOUT": text])
        #expect(config.duration(.httpHeaderTimeout) == seconds)
    }

    @Test func byteSizes() throws {
        let file = writeConfigFile("http: { maxheaderbytes: 32KiB, maxrequestline: 4096 }\nstorage: { maxmanifestbytes: 8MiB }\n")
        let config = try Configuration.load(file: file, environment: [:])
        #expect(config.int(.httpMaxHeaderBytes) == 32 * 1024)
        #expect(config.int(.httpMaxRequestLine) == 4096)
        #expect(config.int(.maxManifestBytes) == 8 * 1024 * 1024)
    }

    /// Every malformed value: the error names the key, the source and what is accepted.
    @Test(arguments: [
        // (environment variable, value, key, accepted fragment)
        ("SWREGISTRY_THREADS", "abc", "http.threads", "an integer from 1 to 256"),
        ("SWREGISTRY_HTTP_THREADS", "0", "http.threads", "an integer from 1 to 256"),
        ("SWREGISTRY_HTTP_THREADS", "1000", "http.threads", "an integer from 1 to 256"),
        ("SWREGISTRY_MAX_CONNECTIONS", "-1", "http.maxconnections", "an integer of 1 or more"),
        ("SWREGISTRY_HEADER_TIMEOUT", "ten", "http.headertimeout", "a duration"),
        ("SWREGISTRY_IDLE_TIMEOUT", "0", "http.idletimeout", "a duration"),
        ("SWREGISTRY_BODY_TIMEOUT", "5x", "http.bodytimeout", "a duration"),
        ("SWREGISTRY_MIN_BODY_RATE", "-3", "http.minbodyrate", "a number of 0 or more"),
        ("SWREGISTRY_MAX_HEADER_BYTES", "12 parsecs", "http.maxheaderbytes", "a number of bytes"),
        ("SWREGISTRY_ADDRESS", "nonsense", "http.addr", "host:port"),
        ("SWREGISTRY_LOG_LEVEL", "loud", "log.level", "one of trace, debug, info"),
        ("SWREGISTRY_STORAGE_DELETE_ENABLED", "maybe", "storage.delete.enabled", "true or false"),
        ("SWREGISTRY_HTTP_TLS_MINIMUMTLS", "ssl3", "http.tls.minimumtls", "one of tls1.2, tls1.3"),
        ("SWREGISTRY_AUTH_TOKEN_REALM", "auth.example.com/token", "auth.token.realm", "an http:// or https:// URL"),
        ("SWREGISTRY_UPLOAD_EXPIRY", "1w", "storage.uploads.expiry", "a duration"),
        ("SWREGISTRY_VERSION", "2", "version", "one of 0.1"),
    ])
    func malformedEnvironmentValues(_ variable: String, _ value: String, _ key: String, _ accepted: String) throws {
        let error = try #require(throws: ConfigErrors.self) {
            try Configuration.load(file: nil, environment: [variable: value])
        }
        #expect(error.errors.count == 1)
        let first = try #require(error.errors.first)
        #expect(first.key == key && first.source == .environment(variable))
        #expect(first.accepted?.contains(accepted) == true, "\(first)")
        #expect(first.description.hasPrefix("$\(variable): \(key): "), "\(first)")
    }

    @Test func malformedFlagNamesTheFlag() throws {
        let error = try #require(throws: ConfigErrors.self) {
            try Configuration.load(file: nil, environment: [:], flags: [("threads", "many"), ("header-timeout", "soon")])
        }
        #expect(error.description == """
            --threads: http.threads: "many" is not an integer (accepted: an integer from 1 to 256)
            --header-timeout: http.headertimeout: "soon" is not a duration (accepted: a duration: seconds (30) or a number with a unit ms, s, m, h or d (10s, 5m, 1h30m, 7d))
            """)
    }

    /// Every problem of a file is reported at once, each at its line.
    @Test func malformedFileValuesNameFileAndLine() throws {
        let file = writeConfigFile("""
            version: 0.1
            http:
              threads: abc
              addr: [127.0.0.1:5000]
              headertimeout:
              adrr: 127.0.0.1:5000
              tls:
                clientcas: [/a.pem, {x: 1}]
            storage: 5
            catalog:
              maxentries: 1.5
            frobnicate: true
            """)
        let error = try #require(throws: ConfigErrors.self) { try Configuration.load(file: file, environment: [:]) }
        let lines = error.errors.map(\.description)
        #expect(lines == [
            "\(file):3: http.threads: \"abc\" is not an integer (accepted: an integer from 1 to 256)",
            "\(file):4: http.addr: expected host:port, [IPv6]:port or :port, got a list (accepted: host:port, [IPv6]:port or :port)",
            "\(file):5: http.headertimeout: has no value (remove the key for its default) (accepted: a duration: seconds (30) or a number with a unit ms, s, m, h or d (10s, 5m, 1h30m, 7d))",
            "\(file):6: http.adrr: unknown key (accepted: keys under http: addr, threads, maxconnections, headertimeout, idletimeout, bodytimeout, minbodyrate, shutdowngrace, maxrequestline, maxheaderbytes, maxheadercount, debug, tls)",
            "\(file):8: http.tls.clientcas: expected a path, got a mapping (accepted: a list of paths (comma-separated in a variable or flag))",
            "\(file):9: storage: expected a mapping, got \"5\" (accepted: keys filesystem, delete, uploads, maxmanifestbytes, s3, redirect)",
            "\(file):11: catalog.maxentries: \"1.5\" is not an integer (accepted: an integer of 1 or more)",
            "\(file):12: frobnicate: unknown key (accepted: top-level keys version, log, http, storage, database, catalog, metrics, auth, notifications, gc, accesscontrol)",
        ], "\(error)")
    }

    @Test func yamlSyntaxErrorsAndDuplicateKeysNameTheLine() throws {
        let broken = writeConfigFile("http:\n  addr: 127.0.0.1:5000\n  threads: [1, 2\n")
        let syntax = try #require(throws: ConfigErrors.self) { try Configuration.load(file: broken, environment: [:]) }
        #expect(syntax.errors.count == 1 && syntax.errors[0].description.hasPrefix("\(broken):"), "\(syntax)")
        #expect(syntax.errors[0].problem.hasPrefix("invalid YAML"))

        let twice = writeConfigFile("http:\n  threads: 2\n  Threads: 3\n")
        let duplicate = try #require(throws: ConfigErrors.self) { try Configuration.load(file: twice, environment: [:]) }
        #expect(duplicate.description == "\(twice):3: http.threads: given twice (also on line 2; keys ignore case)")

        let missing = try #require(throws: ConfigErrors.self) { try Configuration.load(file: "/nonexistent/swr.yml", environment: [:]) }
        #expect(missing.description == "/nonexistent/swr.yml: no such file")

        let notMapping = writeConfigFile("- a\n- b\n")
        #expect(throws: ConfigErrors.self) { try Configuration.load(file: notMapping, environment: [:]) }
        // An empty file sets nothing.
        #expect(try Configuration.load(file: writeConfigFile(""), environment: [:]).source(of: .httpAddr) == .defaultValue)
    }

    @Test func unknownVariablesThatLookLikeKeysAreErrors() throws {
        let error = try #require(throws: ConfigErrors.self) {
            try Configuration.load(file: nil, environment: [
                "SWREGISTRY_HTTP_ADRR": "x", "SWREGISTRY_THREAD": "2", "SWREGISTRY_ACCESSCONTROL": "x",
                // Misspelt far from any key: still refused (ignored, it would start the server without TLS or auth).
                "SWREGISTRY_ATUH_HTPASSWD_PATH": "/h", "SWREGISTRY_TLS_CERTIFICATE": "/c.pem",
                // Not configuration: left alone (scripts and the test suite use them).
                "SWREGISTRY_BIN": "/usr/bin/swregistry", "SWREGISTRY_CONFIG": "", "E2E_SWREGISTRY_BIN": "x",
                "SWREGISTRY_TEST_AUTH": "token",
            ])
        }
        #expect(error.errors.map(\.source) == [
            .environment("SWREGISTRY_ACCESSCONTROL"), .environment("SWREGISTRY_ATUH_HTPASSWD_PATH"),
            .environment("SWREGISTRY_HTTP_ADRR"), .environment("SWREGISTRY_THREAD"),
            .environment("SWREGISTRY_TLS_CERTIFICATE"),
        ])
        #expect(error.errors[0].problem.contains("file only"))
        #expect(error.errors[1].problem == "not a configuration variable (did you mean SWREGISTRY_AUTH_HTPASSWD_PATH?)")
        #expect(error.errors[2].problem == "not a configuration variable (did you mean SWREGISTRY_HTTP_ADDR?)")
        #expect(error.errors[3].problem == "not a configuration variable (did you mean SWREGISTRY_THREADS?)")
        #expect(error.errors[3].accepted?.contains("upper-cased") == true)
        #expect(error.errors[4].problem.contains("SWREGISTRY_HTTP_TLS_CERTIFICATE"))
    }

    @Test func keysThatNeedEachOther() throws {
        let cases: [([String: String], String)] = [
            (["SWREGISTRY_HTTP_TLS_CERTIFICATE": "/c.pem"], "http.tls.certificate: needs http.tls.key"),
            (["SWREGISTRY_HTTP_TLS_CLIENTCAS": "/ca.pem"], "http.tls.clientcas: client certificates need TLS"),
            (["SWREGISTRY_AUTH_TOKEN_REALM": "https://a/token", "SWREGISTRY_AUTH_TOKEN_SERVICE": "s",
              "SWREGISTRY_AUTH_TOKEN_ISSUER": "i"], "auth.token.realm: needs auth.token.rootcertbundle or auth.token.jwks"),
            (["SWREGISTRY_AUTH_TOKEN_JWKS": "/j.json"], "auth.token.jwks: needs auth.token.realm"),
            (["SWREGISTRY_AUTH_TOKENSERVICE_ENABLED": "yes"], "the token service needs auth.htpasswd.path"),
            (["SWREGISTRY_AUTH_TOKENSERVICE_EXPIRATION": "30s"], "auth.tokenservice.expiration: 30.0 seconds is too short"),
        ]
        for (environment, message) in cases {
            let error = try #require(throws: ConfigErrors.self) { try Configuration.load(file: nil, environment: environment) }
            #expect(error.description.contains(message), "\(error)")
        }
    }

    /// zot's group form and the plain list form, patterns and names keeping their case, zot's action names.
    @Test func accessControlBothGroupForms() throws {
        let file = writeConfigFile("""
            accessControl:
              groups:
                devs: [alice, Bob]
                Ops: { users: [carol] }
              adminPolicy: { users: [root], actions: [pull, push, delete] }
              repositories:
                "Team/**":
                  policies:
                    - { users: [alice], groups: [devs, Ops], actions: [read, create] }
                  defaultPolicy: [pull]
                  anonymousPolicy: []
                "public/*":
                  anonymouspolicy: [pull]
            """)
        let config = try Configuration.load(file: file, environment: [:])
        let access = try #require(config.accessControl)
        #expect(access.groups == ["devs": ["alice", "Bob"], "Ops": ["carol"]])
        #expect(access.adminPolicy == .init(users: ["root"], actions: [.pull, .push, .delete]))
        #expect(access.repositories == [
            .init(pattern: "Team/**", policies: [.init(users: ["alice"], groups: ["devs", "Ops"], actions: [.pull, .push])],
                  defaultPolicy: [.pull], anonymousPolicy: []),
            .init(pattern: "public/*", anonymousPolicy: [.pull]),
        ])
        #expect(config.security.accessControl == access)
        #expect(config.accessControlSource == .file(path: file, line: 1))
    }

    @Test func accessControlErrors() throws {
        let file = writeConfigFile("""
            accesscontrol:
              groups: { devs: [alice] }
              repositories:
                "a/**":
                  policies: [ { users: [alice], groups: [dev], actions: [pull, fly] } ]
                  defaultpolicy: pull
                  anonymous: []
            """)
        let error = try #require(throws: ConfigErrors.self) { try Configuration.load(file: file, environment: [:]) }
        #expect(Set(error.errors.map(\.description)) == [
            "\(file):5: accesscontrol.repositories.a/**.policies.actions: unknown action \"fly\" (accepted: pull, push, delete (zot's read, create, update))",
            "\(file):6: accesscontrol.repositories.a/**.defaultpolicy: expected a list, got \"pull\"",
            "\(file):7: accesscontrol.repositories.a/**.anonymous: unknown key (accepted: keys under accesscontrol.repositories.a/**: policies, defaultpolicy, anonymouspolicy)",
            "\(file): accesscontrol: policy names group \"dev\" that accesscontrol.groups does not define (accepted: devs)",
        ], "\(error)")
    }

    /// Anchors and aliases are YAML, not a special case: a policy list shared by two patterns.
    @Test func anchorsAndAliasesInTheFile() throws {
        let file = writeConfigFile("""
            accesscontrol:
              repositories:
                "a/**": { policies: &team [ { users: [alice], actions: [pull, push] } ] }
                "b/**": { policies: *team }
            """)
        let access = try #require(try Configuration.load(file: file, environment: [:]).accessControl)
        #expect(access.repositories[0].policies == access.repositories[1].policies)
        #expect(access.repositories[1].policies.first?.users == ["alice"])
    }

    @Test func printShowsSourcesAndRedactsSecrets() throws {
        let file = writeConfigFile("""
            http:
              addr: 127.0.0.1:7000
              tls: { certificate: /etc/swregistry/cert.pem, key: /etc/swregistry/key.pem }
            auth:
              token:
                realm: https://robot:s3cret@auth.example.com/token
                service: registry.example.com
                issuer: auth.example.com
                jwks: /etc/swregistry/jwks.json
            accesscontrol:
              groups: { devs: { users: [alice] } }
              repositories: { "team/**": { policies: [ { groups: [devs], actions: [pull] } ] } }
            """)
        let config = try Configuration.load(file: file, environment: ["SWREGISTRY_THREADS": "3"], flags: [("log-level", "debug")])
        let text = config.rendered()
        #expect(!text.contains("s3cret") && !text.contains("robot"))
        #expect(text.contains("realm: \"https://<redacted>@auth.example.com/token\""))
        // Paths are not secrets.
        #expect(text.contains("key: /etc/swregistry/key.pem"))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("  addr: 127.0.0.1:7000 ") && $0.hasSuffix("# \(file):2") }, "\(text)")
        #expect(lines.contains { $0.hasPrefix("  threads: 3 ") && $0.hasSuffix("# $SWREGISTRY_THREADS") })
        #expect(lines.contains { $0.hasPrefix("  level: debug ") && $0.hasSuffix("# --log-level") })
        #expect(lines.contains { $0.hasPrefix("  idletimeout: 75s ") && $0.hasSuffix("# default") })
        #expect(lines.contains { $0.hasPrefix("accesscontrol: ") && $0.hasSuffix("# \(file):10") })
        #expect(lines.contains("    devs: [alice]"))
        #expect(lines.contains { $0.hasPrefix("  # debug:") }, "a section with nothing set is commented out: \(text)")

        // What is printed reads back as the same configuration (secrets aside).
        let reprinted = writeConfigFile(text)
        let again = try Configuration.load(file: reprinted, environment: [:])
        for key in ConfigKey.all where key != .tokenRealm {
            #expect(again[key] == config[key], "\(key.path)")
        }
        #expect(again.accessControl == config.accessControl)
    }

    @Test func secretKeysArePrintedRedacted() {
        #expect(Configuration.yaml(.string("hunter2"), secret: true) == "\"<redacted>\"")
        #expect(Configuration.redactingUserInfo("https://u:p@h:5000/t") == "https://<redacted>@h:5000/t")
        #expect(Configuration.redactingUserInfo("https://h/t@x") == "https://h/t@x")
        let withPassword = try? Configuration.load(file: nil, environment: [
            "SWREGISTRY_AUTH_TOKEN_REALM": "https://u:pw@auth/token", "SWREGISTRY_AUTH_TOKEN_SERVICE": "s",
            "SWREGISTRY_AUTH_TOKEN_ISSUER": "i", "SWREGISTRY_AUTH_TOKEN_JWKS": "/j.json"])
        #expect(withPassword?.displayValue(.tokenRealm) == "\"https://<redacted>@auth/token\"")
        #expect(withPassword?.displayValue(.tlsKey) == "(not set)")
    }

    @Test func changedKeysForReload() throws {
        let a = try Configuration.load(file: nil, environment: [:])
        let b = try Configuration.load(file: nil, environment: ["SWREGISTRY_LOG_LEVEL": "error", "SWREGISTRY_THREADS": "2"])
        #expect(b.changedKeys(from: a) == ["log.level", "http.threads"])
        #expect(a.changedKeys(from: a).isEmpty)
    }
}

extension ConfigKey {
    static var httpTLSVariableExample: String { tlsCertificate.variable }
}
