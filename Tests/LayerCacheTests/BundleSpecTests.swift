import Foundation
import Glibc
import OCIModel
import Testing
@testable import LayerCache

@Suite("RuntimeSpecBuilder: image config → config.json")
struct BundleSpecTests {
    let manifest = Fixture.digest("manifest")
    let noUsers = UserDatabase(users: nil, groups: nil)

    func config(_ execution: ImageConfig.ExecutionConfig?, os: String = "linux") -> ImageConfig {
        ImageConfig(created: "2026-01-02T03:04:05Z", author: "someone", architecture: "arm64", os: os,
                    osFeatures: ["win32k"], variant: "v8", config: execution, rootfs: .init(diffIDs: []))
    }

    func build(_ execution: ImageConfig.ExecutionConfig?, _ options: RuntimeSpecOptions = RuntimeSpecOptions(),
               users: UserDatabase? = nil) throws -> RuntimeSpec
    {
        try RuntimeSpecBuilder(imageConfig: config(execution), manifestDigest: manifest, options: options)
            .build(userDatabase: users ?? noUsers)
    }

    @Test func argsAreEntrypointThenCmd() throws {
        let execution = ImageConfig.ExecutionConfig(entrypoint: ["/docker-entrypoint.sh"], cmd: ["nginx", "-g", "daemon off;"])
        #expect(try build(execution).process?.args == ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"])
        #expect(try build(.init(cmd: ["sh"])).process?.args == ["sh"])
        #expect(try build(.init(entrypoint: ["/bin/app"])).process?.args == ["/bin/app"])
        // Overrides: a command replaces Cmd only; an entrypoint replaces Entrypoint and drops the image's Cmd.
        #expect(try build(execution, .init(command: ["bash"])).process?.args == ["/docker-entrypoint.sh", "bash"])
        #expect(try build(execution, .init(entrypoint: ["/bin/true"])).process?.args == ["/bin/true"])
        #expect(try build(execution, .init(command: ["x"], entrypoint: [])).process?.args == ["x"])
    }

    @Test func noCommandIsAnError() {
        #expect(throws: RuntimeSpecError.noCommand) { try build(nil) }
        #expect(throws: RuntimeSpecError.noCommand) { try build(.init(entrypoint: [], cmd: [])) }
    }

    @Test func environmentIsVerbatimWithDefaultsAndOverrides() throws {
        #expect(try build(.init(cmd: ["sh"])).process?.env == ["PATH=\(RuntimeSpecDefaults.path)"])
        let execution = ImageConfig.ExecutionConfig(env: ["PATH=/opt/bin", "A=1", "B=2=3"], cmd: ["sh"])
        #expect(try build(execution).process?.env == ["PATH=/opt/bin", "A=1", "B=2=3"])
        #expect(try build(execution, .init(terminal: true)).process?.env == ["PATH=/opt/bin", "A=1", "B=2=3", "TERM=xterm"])
        #expect(try build(execution, .init(environment: ["A=9", "C=4"])).process?.env == ["PATH=/opt/bin", "A=9", "B=2=3", "C=4"])
        #expect(throws: RuntimeSpecError.invalidEnvironment("NOEQUALS")) { try build(execution, .init(environment: ["NOEQUALS"])) }
    }

    @Test func cwdUserHostnameAndTerminal() throws {
        let spec = try build(.init(cmd: ["sh"]))
        #expect(spec.process?.cwd == "/")
        #expect(spec.process?.user == .init(uid: 0, gid: 0, additionalGids: nil))
        #expect(spec.process?.terminal == false)
        #expect(spec.hostname == String(manifest.encoded.prefix(12)))
        #expect(spec.root == .init(path: "rootfs", readonly: false))
        #expect(try build(.init(cmd: ["sh"], workingDir: "/srv/app")).process?.cwd == "/srv/app")
        #expect(try build(.init(cmd: ["sh"], workingDir: "srv")).process?.cwd == "/srv")
        #expect(try build(.init(cmd: ["sh"]), .init(workingDirectory: "/x", hostname: "box")).hostname == "box")

        let users = UserDatabase(users: UserDatabase.parsePasswd("app:x:1000:1001::/:/bin/sh\n"),
                                 groups: UserDatabase.parseGroup("extra:x:2000:app\n"))
        let app = try build(.init(user: "app", cmd: ["sh"]), users: users).process?.user
        #expect(app == .init(uid: 1000, gid: 1001, additionalGids: [2000]))
        #expect(try build(.init(user: "app", cmd: ["sh"]), .init(user: "5:6"), users: users).process?.user
            == .init(uid: 5, gid: 6, additionalGids: nil))
        #expect(throws: RuntimeSpecError.user(.unknownUser("nobody"))) {
            try build(.init(user: "nobody", cmd: ["sh"]), users: users)
        }
    }

    @Test func dockerCapabilitiesAndNoAmbient() throws {
        let caps = try #require(try build(.init(cmd: ["sh"])).process?.capabilities)
        #expect(caps.bounding?.count == 14)
        #expect(Set(caps.bounding ?? []) == Set(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
                                                  "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
                                                  "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                                                  "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]))
        #expect(caps.effective == caps.bounding && caps.permitted == caps.bounding)
        #expect(caps.ambient == nil && caps.inheritable == nil)
        #expect(try build(.init(cmd: ["sh"])).process?.noNewPrivileges == false)
    }

    @Test func annotationsFollowConversionWithLabelsWinning() throws {
        let execution = ImageConfig.ExecutionConfig(exposedPorts: ["80/tcp", "443/tcp"], cmd: ["sh"],
                                                    labels: ["org.opencontainers.image.author": "label-author",
                                                             "com.example.x": "y"],
                                                    stopSignal: "SIGQUIT")
        let annotations = try #require(try build(execution, .init(annotations: ["com.example.z": "1"])).annotations)
        #expect(annotations == [
            "org.opencontainers.image.os": "linux",
            "org.opencontainers.image.architecture": "arm64",
            "org.opencontainers.image.variant": "v8",
            "org.opencontainers.image.os.features": "win32k",
            "org.opencontainers.image.author": "label-author",
            "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
            "org.opencontainers.image.stopSignal": "SIGQUIT",
            "org.opencontainers.image.exposedPorts": "443/tcp,80/tcp",
            "com.example.x": "y",
            "com.example.z": "1",
        ])
    }

    @Test func otherOperatingSystemsAreRefused() {
        #expect(throws: RuntimeSpecError.unsupportedOS("windows")) {
            try RuntimeSpecBuilder(imageConfig: config(.init(cmd: ["cmd"]), os: "windows"), manifestDigest: nil)
                .build(userDatabase: noUsers)
        }
    }

    @Test func jsonUsesSpecNamesAndOmitsUnsetFields() throws {
        let scratch = ScratchDirectory("spec")
        try BundleDirectory.writeConfig(try build(.init(cmd: ["sh"])), bundle: scratch.path)
        let text = try #require(Fixture.read(scratch.sub("config.json")))
        #expect(text.contains("\"ociVersion\" : \"1.3.0\""))
        #expect(text.contains("\"noNewPrivileges\" : false"))
        #expect(text.contains("\"maskedPaths\""))
        #expect(!text.contains("inheritable") && !text.contains("ambient") && !text.contains("additionalGids"))
        #expect(try BundleDirectory.readConfig(bundle: scratch.path) == (try build(.init(cmd: ["sh"]))))
    }

    /// The fields we leave at their defaults match what `runc spec` generates (runc from Debian).
    @Test func defaultsMatchRuncSpec() throws {
        guard let runc = Fixture.executable(["/usr/sbin/runc", "/usr/bin/runc"]) else {
            print("SKIPPED defaultsMatchRuncSpec: runc is not installed (apt-get install runc)")
            try Test.cancel("runc is not installed (apt-get install runc); cannot compare with `runc spec`")
        }
        let scratch = ScratchDirectory("runcspec")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: runc)
        process.arguments = ["spec", "--bundle", scratch.path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let runcSpec = try BundleDirectory.readConfig(bundle: scratch.path)
        let ours = try build(.init(cmd: ["sh"]))

        #expect(ours.mounts == runcSpec.mounts)
        #expect(ours.linux?.maskedPaths == runcSpec.linux?.maskedPaths)
        #expect(ours.linux?.readonlyPaths == runcSpec.linux?.readonlyPaths)
        #expect(ours.linux?.resources == runcSpec.linux?.resources)
        #expect(ours.process?.rlimits == runcSpec.process?.rlimits)
        #expect(ours.process?.env == runcSpec.process?.env?.filter { $0.hasPrefix("PATH=") })
        #expect(ours.process?.cwd == runcSpec.process?.cwd)
        #expect(ours.process?.user == runcSpec.process?.user)
        #expect(ours.root?.path == runcSpec.root?.path)
        // Ours adds the cgroup namespace to runc's five, in runc's order.
        #expect(Array(ours.linux?.namespaces?.prefix(5) ?? []) == runcSpec.linux?.namespaces)
        // Every capability runc grants is in Docker's set.
        let runcCapabilities = Set(runcSpec.process?.capabilities?.bounding ?? [])
        #expect(runcCapabilities.isSubset(of: Set(RuntimeSpecDefaults.capabilities)))
    }
}
