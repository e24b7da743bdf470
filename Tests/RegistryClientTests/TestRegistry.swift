import Glibc
import HTTPServer
import Logging
import OCIModel
import Registry
import RegistryClient
import SystemIO
import TestSupport

/// The real registry served in-process on 127.0.0.1:0 over a fresh store (the minimal part of
/// RegistryTests' APIFixture).
final class TestRegistry: @unchecked Sendable {
    let sandbox: String
    let server: HTTPServer
    var port: UInt16 { server.localAddress.port }
    var address: String { "127.0.0.1:\(port)" }
    private var stopped = false

    init(configure: (inout RegistryConfiguration) -> Void = { _ in }) throws {
        sandbox = makeTemporaryDirectory(prefix: "swr-client-registry")
        var config = RegistryConfiguration(storagePath: sandbox)
        configure(&config)
        var quiet = Logger(label: "client-test-registry")
        quiet.logLevel = .critical
        server = try HTTPServer(
            configuration: ServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"), eventLoopCount: 2),
            responder: try RegistryResponder(configuration: config), logger: quiet)
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        server.shutdown(grace: 1)
        server.wait()
        removeTree(sandbox)
    }

    deinit { stop() }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Deletes a file or folder tree.
func removeTree(_ path: String) {
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    if (st.st_mode & S_IFMT) == S_IFDIR {
        if let dir = opendir(path) {
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(dir)
            for name in names { removeTree(path + "/" + name) }
        }
        rmdir(path)
    } else {
        unlink(path)
    }
}

func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw TestFailure("open \(path): errno \(errno)") }
    defer { close(fd) }
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        guard n > 0 else { throw TestFailure("write \(path): errno \(errno)") }
        offset += n
    }
}

func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { return out }
        out += chunk[0..<n]
    }
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

func fileMode(_ path: String) -> mode_t? {
    var st = stat()
    return stat(path, &st) == 0 ? st.st_mode & 0o777 : nil
}

/// Deterministic pseudo-random bytes.
func testBytes(_ count: Int, seed: String) -> [UInt8] {
    var state: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in seed.utf8 { state = (state ^ UInt64(byte)) &* 0x100_0000_01b3 }
    var out = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        out[i] = UInt8(truncatingIfNeeded: state)
    }
    return out
}

/// A folder with blob files for a test; removed at the end.
final class Workspace: @unchecked Sendable {
    let path: String

    init() throws { path = makeTemporaryDirectory(prefix: "swr-client-work") }
    deinit { removeTree(path) }

    /// Writes `bytes` to a new file and returns its path and descriptor.
    func blob(_ name: String, _ bytes: [UInt8], mediaType: MediaType = .ociLayerGzip) throws -> (String, Descriptor) {
        let file = path + "/" + name
        try writeFile(file, bytes)
        return (file, Descriptor(mediaType: mediaType, digest: Digest.sha256(of: bytes), size: Int64(bytes.count)))
    }

    func file(_ name: String) -> String { path + "/" + name }
}

/// Options for tests: no TLS (the test servers speak plain HTTP), quick retries.
func testOptions(_ adjust: (inout ClientOptions) -> Void = { _ in }) -> ClientOptions {
    var options = ClientOptions()
    options.tlsVerify = false
    options.retryDelay = .milliseconds(10)
    options.environment = ["HOME": "/nonexistent-home"]
    adjust(&options)
    return options
}

/// A minimal OCI image manifest over a config and layers.
func imageManifest(config: Descriptor, layers: [Descriptor]) -> [UInt8] {
    func entry(_ d: Descriptor) -> String {
        #"{"mediaType":"\#(d.mediaType.rawValue)","digest":"\#(d.digest)","size":\#(d.size)}"#
    }
    let text = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":\#(entry(config)),"layers":[\#(layers.map(entry).joined(separator: ","))]}"#
    return Array(text.utf8)
}
