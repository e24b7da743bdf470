import Testing
@testable import ImageTransport

@Suite struct SyncConfigurationTests {
    @Test func skopeoExampleFile() throws {
        let text = """
            # mirrored images
            registry.example.com:
                images:
                    busybox: []
                    redis:
                        - "1.0"
                        - '2.0'
                        - "sha256:0000000000000000000000000000000011111111111111111111111111111111"
                images-by-tag-regex:
                    nginx: ^1\\.13\\.[12]-alpine-perl$   # a comment
                credentials:
                    username: john
                    password: this is a secret
                tls-verify: true
                cert-dir: /home/john/certs
            quay.io:
                tls-verify: false
                images:
                    coreos/etcd:
                    - latest
                    - "v3.5"
            """
        let config = try SyncConfiguration(yaml: text)
        #expect(config.sources.count == 2)
        let example = config.sources[0]
        #expect(example.registry == "registry.example.com")
        #expect(example.repositories == [
            .init(name: "busybox", tags: .all),
            .init(name: "redis", tags: .list(["1.0", "2.0", "sha256:0000000000000000000000000000000011111111111111111111111111111111"])),
            .init(name: "nginx", tags: .regex(#"^1\.13\.[12]-alpine-perl$"#)),
        ])
        #expect(example.username == "john" && example.password == "this is a secret")
        #expect(example.tlsVerify == true && example.certDirectory == "/home/john/certs")
        #expect(config.sources[1].tlsVerify == false)
        #expect(config.sources[1].repositories == [.init(name: "coreos/etcd", tags: .list(["latest", "v3.5"]))])
    }

    @Test func flowListsAndSelection() throws {
        let config = try SyncConfiguration(yaml: "localhost:5000:\n  images:\n    a/b: [v1, \"v2\"]\n  images-by-tag-regex:\n    c: ^v[0-9]+$\n")
        #expect(config.sources[0].registry == "localhost:5000")
        #expect(config.sources[0].repositories[0].tags == .list(["v1", "v2"]))
        #expect(try SyncConfiguration.select(.regex("^v[0-9]+$"), from: ["v1", "v10", "latest", "v1-rc"]) == ["v1", "v10"])
        #expect(try SyncConfiguration.select(.all, from: ["a", "b"]) == ["a", "b"])
    }

    @Test(arguments: [
        "r:\n  images: [a]\n",                       // images must be a mapping
        "r:\n  bogus: 1\n",                          // unknown key
        "r:\n  tls-verify: maybe\n",                 // not a boolean
        "r:\n  images-by-tag-regex:\n    a: \"(\"\n", // bad regex
        "r:\n  images:\n    a:\n      - x\n     - y\n", // bad indentation
        "r:\n\timages: {}\n",                        // tab
        "r:\n  credentials:\n    username: u\n",     // no password
        "r:\n  images:\n    a: *nowhere\n",         // alias of no anchor
        "r:\n  images:\n    a: [[v1, v2]]\n",        // a list where a tag belongs (skopeo's []string refuses it)
        "r:\n  images: {a: []}\n  images: {b: []}\n", // a key given twice
    ])
    func malformedFilesAreRefused(_ text: String) {
        #expect(throws: (any Error).self) { try SyncConfiguration(yaml: text) }
    }

    /// Anchors and aliases mean what YAML says: the aliased node, not the text `*x`.
    @Test func anchorsAndAliases() throws {
        let config = try SyncConfiguration(yaml: """
            registry.example.com:
              images:
                a: &releases ["1.0", "2.0"]
                b: *releases
                c: &all []
                d: *all
              credentials: &creds {username: u, password: p}
            mirror.example.com:
              images: {e: *releases}
              credentials: *creds
            """)
        #expect(config.sources[0].repositories == [
            .init(name: "a", tags: .list(["1.0", "2.0"])), .init(name: "b", tags: .list(["1.0", "2.0"])),
            .init(name: "c", tags: .all), .init(name: "d", tags: .all),
        ])
        #expect(config.sources[1].repositories == [.init(name: "e", tags: .list(["1.0", "2.0"]))])
        #expect(config.sources[1].username == "u" && config.sources[1].password == "p")
    }

    /// Block scalars (literal `|` and folded `>`, with chomping) give their content, as skopeo's YAML reader does.
    @Test func blockScalars() throws {
        let config = try SyncConfiguration(yaml: """
            r:
              images-by-tag-regex:
                nginx: |-
                  ^1\\.13\\.[12]-alpine$
                redis: >-
                  ^7\\.
                  [0-9]+$
              cert-dir: >
                /etc/certs
            """)
        #expect(config.sources[0].repositories == [
            .init(name: "nginx", tags: .regex(#"^1\.13\.[12]-alpine$"#)),
            .init(name: "redis", tags: .regex(#"^7\. [0-9]+$"#)),
        ])
        // Folded with clip chomping; the document ends without a line break, so the value has none either.
        #expect(config.sources[0].certDirectory == "/etc/certs")
    }

    /// Flow collections nested in flow collections, over several lines.
    @Test func nestedFlowCollections() throws {
        let config = try SyncConfiguration(yaml: """
            {r: {images: {a: [v1, "v2"], b: [],
                          c: ['v3']},
                 tls-verify: false}}
            """)
        #expect(config.sources[0].repositories == [
            .init(name: "a", tags: .list(["v1", "v2"])), .init(name: "b", tags: .all), .init(name: "c", tags: .list(["v3"])),
        ])
        #expect(config.sources[0].tlsVerify == false)
    }

    @Test func errorsNameTheLine() throws {
        do {
            _ = try SyncConfiguration(yaml: "r:\n  images:\n    a: []\n  tls-verify: sometimes\n")
            Issue.record("accepted a bad tls-verify")
        } catch {
            #expect("\(error)".contains("line 4"), "\(error)")
        }
    }
}

