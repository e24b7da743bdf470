import CLinuxShim
import Foundation
import Glibc
import OCIModel
import Testing
import SystemIO
@testable import LayerCache

/// Helpers shared by the LayerCache tests (this file holds no tests; its name follows the test-file pattern).

/// A fresh directory under /tmp (or $TMPDIR), removed when the value goes away.
final class ScratchDirectory {
    let path: String

    init(_ label: String = "lc") {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array("\(base)/swcopy-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: \(errno)")
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit {
        // Overlay mounts made by a failed test would make the removal fail; detach them first.
        for name in ["bundle", "bundle-overlay", "runc-overlay"] {
            _ = try? Rootfs.unmount(bundle: "\(path)/\(name)")
        }
        try? CacheFiles.removeTree(path)
    }

    func sub(_ name: String) -> String { "\(path)/\(name)" }
}

enum Fixture {
    static func write(_ path: String, _ text: String, mode: mode_t = 0o644) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        precondition(fd >= 0, "open \(path): \(errno)")
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, mode)
        close(fd)
    }

    static func writeBytes(_ path: String, count: Int, seed: UInt8 = 1) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "open \(path): \(errno)")
        var chunk = [UInt8](repeating: 0, count: min(count, 64 << 10))
        for i in chunk.indices { chunk[i] = UInt8(truncatingIfNeeded: i &* 31) &+ seed }
        var left = count
        while left > 0 {
            let n = min(left, chunk.count)
            _ = chunk.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, n) }
            left -= n
        }
        close(fd)
    }

    static func read(_ path: String) -> String? {
        guard let bytes = try? CacheFiles.readSmall(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func mkdirs(_ path: String, mode: mode_t = 0o755) {
        try! FileSystem.makeDirectories(path)
        chmod(path, mode)
    }

    static func lstatOf(_ path: String) -> stat {
        guard let st = CacheFiles.lstatOrNil(path) else { fatalError("lstat \(path): \(errno)") }
        return st
    }

    /// Every (relative path → lstat) below `root`, root excluded.
    static func tree(_ root: String) throws -> [String: stat] {
        var result: [String: stat] = [:]
        try CacheStore.walkTree(root) { path, st in
            if path != root { result[String(path.dropFirst(root.count + 1))] = st }
        }
        return result
    }

    /// A digest of arbitrary text, for diffIDs of layers made by hand.
    static func digest(_ text: String) -> Digest { Digest.sha256(of: Array(text.utf8)) }

    /// A minimal linux/amd64 config with the given execution part and diffIDs.
    static func configBytes(diffIDs: [Digest], execution: ImageConfig.ExecutionConfig?) -> [UInt8] {
        ImageConfig(architecture: "amd64", os: "linux", config: execution, rootfs: .init(diffIDs: diffIDs)).encoded()
    }

    static var isRoot: Bool { geteuid() == 0 }

    /// The first of `paths` that is an executable file.
    static func executable(_ paths: [String]) -> String? {
        paths.first { (path: String) -> Bool in access(path, X_OK) == 0 }
    }

    /// Sets an extended attribute (not following a final symlink). - Returns: 0 or -1.
    static func setAttribute(_ path: String, _ name: String, _ value: String) -> Int32 {
        Array(value.utf8).withUnsafeBytes { swshim_lsetxattr(path, name, $0.baseAddress, $0.count) }
    }
}
