import Foundation

/// One libFuzzer target: a name (the corpus folder `Tests/Fuzz/<name>/` and the executable `Fuzz<Name>`) and the
/// function run on each input. A target must return for every input; it stops the process only when a parser
/// breaks a promise (see `check`), which is the bug the fuzzer is looking for.
public struct FuzzTarget: Sendable {
    public let name: String
    public let run: @Sendable (UnsafeRawBufferPointer) -> Void

    public init(name: String, run: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.name = name
        self.run = run
    }

    /// Every target, in the order `scripts/fuzz` runs them.
    public static let all: [FuzzTarget] = [
        FuzzTarget(name: "http-request", run: HTTPFuzzing.request),
        FuzzTarget(name: "chunked", run: HTTPFuzzing.chunked),
        FuzzTarget(name: "range", run: RangeFuzzing.run),
        FuzzTarget(name: "reference", run: ReferenceFuzzing.run),
        FuzzTarget(name: "manifest", run: ManifestFuzzing.run),
        FuzzTarget(name: "tar", run: TarFuzzing.archive),
        FuzzTarget(name: "pax", run: TarFuzzing.pax),
        FuzzTarget(name: "www-authenticate", run: AuthFuzzing.wwwAuthenticate),
        FuzzTarget(name: "authorization", run: AuthFuzzing.authorization),
        FuzzTarget(name: "jwt", run: AuthFuzzing.jwt),
        FuzzTarget(name: "htpasswd", run: AuthFuzzing.htpasswd),
        FuzzTarget(name: "config", run: ConfigFuzzing.run),
        FuzzTarget(name: "sync-yaml", run: SyncFuzzing.run),
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// Runs the target on `bytes`.
    public func callAsFunction(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { run($0) }
    }

    /// The replay mode of a `Fuzz<Name>` executable built without libFuzzer: runs every file named in `arguments`
    /// (a folder stands for the files in it), so plain builds keep the targets compiling and a saved crash can be
    /// replayed under a debugger.
    /// - Returns: the exit status: 0, or 2 when an argument cannot be read.
    public func replay(_ arguments: [String]) -> Int32 {
        var files: [String] = []
        for argument in arguments where !argument.hasPrefix("-") {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("\(argument): no such file\n".utf8))
                return 2
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
                files += names.sorted().map { argument + "/" + $0 }
            } else {
                files.append(argument)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("\(file): cannot read\n".utf8))
                return 2
            }
            self([UInt8](data))
        }
        print("\(name): \(files.count) inputs replayed")
        return 0
    }
}
