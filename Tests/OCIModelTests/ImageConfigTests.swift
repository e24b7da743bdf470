import Foundation
import Testing
@testable import OCIModel

@Suite("ImageConfig")
struct ImageConfigTests {
    @Test("decodes the spec's example")
    func specExample() throws {
        let config = try ImageConfig(decoding: bytes(SpecFixtures.imageConfig))
        #expect(config.created == "2015-10-31T22:22:56.015925234Z")
        #expect(config.author == "Alyssa P. Hacker <alyspdev@example.com>")
        #expect(config.architecture == "amd64")
        #expect(config.os == "linux")
        #expect(config.platform == Platform(architecture: "amd64", os: "linux"))
        let execution = try #require(config.config)
        #expect(execution.user == "alice")
        #expect(execution.exposedPorts == ["8080/tcp"])
        #expect(execution.env?.count == 3)
        #expect(execution.entrypoint == ["/bin/my-app-binary"])
        #expect(execution.cmd == ["--foreground", "--config", "/etc/my-app.d/default.cfg"])
        #expect(execution.volumes == ["/var/job-result-data", "/var/log/my-app-logs"])
        #expect(execution.workingDir == "/home/alice")
        #expect(execution.labels?["com.example.project.git.commit"] == "45a939b2999782a3f005621a8d0f29aa387e1d6b")
        #expect(execution.stopSignal == nil && execution.argsEscaped == nil)
        #expect(config.rootfs.isLayers)
        #expect(config.rootfs.diffIDs.map(\.description) == [
            "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1",
            "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
        ])
        let history = try #require(config.history)
        #expect(history.count == 3)
        #expect(history[1].createdBy == #"/bin/sh -c #(nop) CMD ["sh"]"#)
        #expect(history.map(\.emptyLayer) == [nil, true, nil])
    }

    @Test("round-trips through encoding")
    func roundTrip() throws {
        let config = try ImageConfig(decoding: bytes(SpecFixtures.imageConfig))
        let encoded = config.encoded()
        #expect(try ImageConfig(decoding: encoded) == config)
        let text = String(decoding: encoded, as: UTF8.self)
        #expect(text.contains(#""ExposedPorts":{"8080/tcp":{}}"#))
        #expect(text.contains(#""Volumes":{"/var/job-result-data":{},"/var/log/my-app-logs":{}}"#))
        #expect(text.contains(#""diff_ids":["#))
        #expect(text.contains(#""empty_layer":true"#))
    }

    @Test("tolerates Docker's extra fields and nulls")
    func dockerConfig() throws {
        let json = #"""
        {"architecture":"arm","variant":"v7","os":"linux","os.version":"","os.features":null,
         "config":{"Hostname":"","Env":null,"Cmd":["/hello"],"Healthcheck":{"Test":["NONE"]},"Memory":0,
                   "ExposedPorts":null,"ArgsEscaped":true,"StopSignal":"SIGTERM","OnBuild":null},
         "container_config":{"Cmd":["/bin/sh"]},"docker_version":"20.10.7","history":null,
         "rootfs":{"type":"layers","diff_ids":[]}}
        """#
        let config = try ImageConfig(decoding: bytes(json))
        #expect(config.variant == "v7")
        #expect(config.platform.description == "linux/arm/v7")
        #expect(config.config?.cmd == ["/hello"])
        #expect(config.config?.env == nil)
        #expect(config.config?.exposedPorts == nil)
        #expect(config.config?.argsEscaped == true)
        #expect(config.config?.stopSignal == "SIGTERM")
        #expect(config.history == nil)
        #expect(config.rootfs.diffIDs.isEmpty)
    }

    @Test("a null config means no execution parameters")
    func nullConfig() throws {
        let json = #"{"architecture":"amd64","os":"linux","config":null,"rootfs":{"type":"layers","diff_ids":[]}}"#
        #expect(try ImageConfig(decoding: bytes(json)).config == nil)
    }

    @Test("keeps an unknown rootfs type for the unpacker to refuse")
    func unknownRootFSType() throws {
        let json = #"{"architecture":"amd64","os":"linux","rootfs":{"type":"squashfs","diff_ids":[]}}"#
        #expect(try !ImageConfig(decoding: bytes(json)).rootfs.isLayers)
    }

    @Test("rejects configs without required fields or with bad DiffIDs", arguments: [
        #"{"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        #"{"architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}}"#,
        #"{"architecture":"amd64","os":"linux"}"#,
        #"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:abc"]}}"#,
    ])
    func rejects(_ json: String) {
        #expect(throws: DecodingError.self) { try ImageConfig(decoding: bytes(json)) }
    }
}
