import FuzzTargets
import Glibc

/// libFuzzer's entry point for the `www-authenticate` target (built with `-sanitize=fuzzer`: see `scripts/fuzz`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    target.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

let target = FuzzTarget.named("www-authenticate")!

#if !FUZZING
/// Without libFuzzer: replays the corpus files (or folders) given as arguments.
@main
struct Replay {
    static func main() {
        exit(target.replay(Array(CommandLine.arguments.dropFirst())))
    }
}
#endif
