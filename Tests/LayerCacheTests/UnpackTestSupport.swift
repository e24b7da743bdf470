import Foundation
import Glibc
import OCIModel
import TestSupport
import TarArchive
@testable import LayerCache

/// A fresh directory under /tmp; remove it with `removeTemporaryDirectory`.
func makeTemporaryDirectory() -> String { makeTemporaryDirectory(prefix: "unpacktest") }

func removeTemporaryDirectory(_ path: String) {
    try? LayerUnpacker.removeTree(path)
}

func readFile(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map(Array.init)
}

func writeFile(_ path: String, _ text: String) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
}

func exists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

func lstatus(_ path: String) -> stat? {
    var st = stat()
    return lstat(path, &st) == 0 ? st : nil
}

// MARK: - Building layers

typealias LayerEntry = (entry: TarEntry, content: [UInt8])

func dir(_ path: String, mode: UInt32 = 0o755, uid: Int64 = 0, gid: Int64 = 0) -> LayerEntry {
    (TarEntry(kind: .directory, path: path, mode: mode, uid: uid, gid: gid, modificationTime: .init(seconds: 1000)), [])
}

func file(_ path: String, _ content: String, mode: UInt32 = 0o644, uid: Int64 = 0, gid: Int64 = 0,
          xattrs: [String: [UInt8]] = [:]) -> LayerEntry {
    (TarEntry(kind: .regular, path: path, mode: mode, uid: uid, gid: gid, modificationTime: .init(seconds: 2000),
              xattrs: xattrs), Array(content.utf8))
}

func symlink(_ path: String, _ target: String) -> LayerEntry {
    (TarEntry(kind: .symbolicLink, path: path, linkTarget: target, mode: 0o777), [])
}

func hardlink(_ path: String, _ target: String) -> LayerEntry {
    (TarEntry(kind: .hardLink, path: path, linkTarget: target), [])
}

func whiteout(_ path: String) -> LayerEntry { file(path, "", mode: 0o600) }

func node(_ kind: TarEntry.Kind, _ path: String, mode: UInt32, major: UInt32 = 0, minor: UInt32 = 0) -> LayerEntry {
    (TarEntry(kind: kind, path: path, mode: mode, deviceMajor: major, deviceMinor: minor), [])
}

/// Writes a layer blob. - Returns: its digests and size.
@discardableResult
func writeLayer(_ entries: [LayerEntry], to path: String, gzip: Bool = true) throws -> TarWriter.Summary {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ShellError(description: "cannot create \(path)") }
    defer { close(fd) }
    let writer = try TarWriter(fileDescriptor: fd, compression: gzip ? .gzip : .none)
    for (entry, content) in entries {
        var entry = entry
        if entry.kind == .regular { entry.size = Int64(content.count) }
        try writer.append(entry)
        if entry.kind == .regular { try writer.writeContent(content) }
    }
    return try writer.finish()
}

/// Applies entries as one layer onto `root`.
@discardableResult
func applyLayer(_ entries: [LayerEntry], onto root: String, options: UnpackOptions = UnpackOptions()) throws -> Digest {
    let blob = root + ".layer.tar"
    defer { unlink(blob) }
    try writeLayer(entries, to: blob, gzip: false)
    return try LayerUnpacker.apply(layerFile: blob, mediaType: .ociLayer, onto: root, options: options)
}

// MARK: - OCI image layout

/// Writes an OCI image layout holding one image with these layers, tagged `tag`.
/// - Returns: The layers as the unpacker takes them.
func makeImageLayout(at layout: String, layers: [[LayerEntry]], tag: String) throws -> [LayerUnpacker.Layer] {
    try shell("mkdir -p '\(layout)/blobs/sha256'")
    writeFile(layout + "/oci-layout", #"{"imageLayoutVersion":"1.0.0"}"#)
    var unpackerLayers: [LayerUnpacker.Layer] = []
    var layerDescriptors: [String] = []
    var diffIDs: [String] = []
    for (i, entries) in layers.enumerated() {
        let temporary = "\(layout)/layer\(i).tmp"
        let summary = try writeLayer(entries, to: temporary)
        let blob = "\(layout)/blobs/sha256/\(summary.digest.encoded)"
        guard rename(temporary, blob) == 0 else { throw ShellError(description: "rename failed") }
        unpackerLayers.append(.init(file: blob, mediaType: .ociLayerGzip, diffID: summary.diffID, digest: summary.digest))
        layerDescriptors.append(#"{"mediaType":"\#(MediaType.ociLayerGzip)","digest":"\#(summary.digest)","size":\#(summary.size)}"#)
        diffIDs.append("\"\(summary.diffID)\"")
    }
    let config = #"{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[\#(diffIDs.joined(separator: ","))]},"history":[]}"#
    let configDigest = try writeBlob(config, layout)
    let manifest = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest)","config":{"mediaType":"\#(MediaType.ociConfig)","digest":"\#(configDigest)","size":\#(config.utf8.count)},"layers":[\#(layerDescriptors.joined(separator: ","))]}"#
    let manifestDigest = try writeBlob(manifest, layout)
    writeFile(layout + "/index.json", #"{"schemaVersion":2,"manifests":[{"mediaType":"\#(MediaType.ociManifest)","digest":"\#(manifestDigest)","size":\#(manifest.utf8.count),"annotations":{"org.opencontainers.image.ref.name":"\#(tag)"}}]}"#)
    return unpackerLayers
}

private func writeBlob(_ text: String, _ layout: String) throws -> Digest {
    let digest = Digest.sha256(of: Array(text.utf8))
    writeFile("\(layout)/blobs/sha256/\(digest.encoded)", text)
    return digest
}

// MARK: - Comparing trees

/// What a tree holds, path by path (the root itself excluded): type, mode, owner, size and content digest,
/// link target, device number; plus the groups of paths that share an inode.
func snapshot(_ root: String) throws -> (entries: [String: String], hardLinks: Set<[String]>) {
    var entries: [String: String] = [:]
    var inodes: [UInt64: [String]] = [:]
    func walk(_ relative: String) throws {
        let full = relative.isEmpty ? root : root + "/" + relative
        for name in try FileManager.default.contentsOfDirectory(atPath: full).sorted() {
            let path = relative.isEmpty ? name : relative + "/" + name
            guard let st = lstatus(root + "/" + path) else { throw ShellError(description: "lstat \(path)") }
            let owner = "\(st.st_uid):\(st.st_gid) mode \(String(st.st_mode & 0o7777, radix: 8))"
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                entries[path] = "dir \(owner)"
                try walk(path)
                continue
            case S_IFREG:
                let content = readFile(root + "/" + path) ?? []
                entries[path] = "file \(owner) size \(st.st_size) \(Digest.sha256(of: content))"
            case S_IFLNK:
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/" + path)) ?? "?"
                entries[path] = "symlink \(st.st_uid):\(st.st_gid) → \(target)"
            case S_IFIFO: entries[path] = "fifo \(owner)"
            case S_IFCHR: entries[path] = "char \(owner) rdev \(st.st_rdev)"
            case S_IFBLK: entries[path] = "block \(owner) rdev \(st.st_rdev)"
            default: entries[path] = "other \(owner)"
            }
            if st.st_nlink > 1 { inodes[UInt64(st.st_ino), default: []].append(path) }
        }
    }
    try walk("")
    return (entries, Set(inodes.values.map { $0.sorted() }))
}

/// Lines describing how two snapshots differ; empty when they are equal.
func differences(_ ours: (entries: [String: String], hardLinks: Set<[String]>),
                 _ theirs: (entries: [String: String], hardLinks: Set<[String]>)) -> [String] {
    var lines: [String] = []
    for path in Set(ours.entries.keys).union(theirs.entries.keys).sorted() where ours.entries[path] != theirs.entries[path] {
        lines.append("\(path): ours \(ours.entries[path] ?? "missing") | umoci \(theirs.entries[path] ?? "missing")")
    }
    if ours.hardLinks != theirs.hardLinks {
        lines.append("hard links: ours \(ours.hardLinks.sorted { $0.description < $1.description }) | umoci \(theirs.hardLinks.sorted { $0.description < $1.description })")
    }
    return lines
}

/// Collects warnings from the unpacker.
final class WarningLog: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    var all: [String] { lock.withLock { messages } }

    func record(_ message: String) { lock.withLock { messages.append(message) } }
}

/// An extended attribute's value as text (read with Python: Glibc does not export the xattr calls).
/// - Returns: nil when the attribute is absent.
func getXattr(_ path: String, _ name: String) throws -> String? {
    let out = try shell("python3 -c \"import os,sys\ntry: sys.stdout.buffer.write(b'=' + os.getxattr(sys.argv[1], sys.argv[2]))\nexcept OSError: pass\" '\(path)' '\(name)'")
    return out.isEmpty ? nil : String(out.dropFirst())
}

func setXattr(_ path: String, _ name: String, _ value: String) throws {
    try shell("python3 -c \"import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())\" '\(path)' '\(name)' '\(value)'")
}
