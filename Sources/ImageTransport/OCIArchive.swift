import Foundation
import Glibc
import OCIModel
import SystemIO
import TarArchive

/// `oci-archive:FILE[:ref]`: an OCI image layout packed in an (uncompressed) tar file, as skopeo writes it.
///
/// Reading extracts the archive into a temporary layout (only `oci-layout`, `index.json` and `blobs/<alg>/<hex>`
/// entries are taken; links, devices and odd paths are refused, so a hostile archive cannot write outside it).
/// Writing builds a temporary layout and packs it into `FILE` at `commit()`, atomically (temp file, rename).
enum OCIArchive {
    static func temporaryDirectory(for file: String) -> String {
        "\(FileSystem.parent(of: absolute(file)))/.swcopy-archive-\(FileSystem.randomName())"
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd + "/" + path
    }

    /// The layout-relative path an archive entry stands for, or nil for an entry to skip.
    static func layoutPath(_ entry: TarEntry, archive: String) throws -> String? {
        var path = Substring(entry.path)
        while path.hasPrefix("./") { path = path.dropFirst(2) }
        while path.hasSuffix("/") { path = path.dropLast() }
        if path.isEmpty || path == "." { return nil }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let valid: Bool
        switch entry.kind {
        case .directory:
            valid = parts == ["blobs"] || (parts.count == 2 && parts[0] == "blobs" && isName(parts[1]))
        case .regular:
            if parts == ["oci-layout"] || parts == ["index.json"] { return String(path) }
            guard parts.count == 3, parts[0] == "blobs",
                  (try? Digest(parsing: "\(parts[1]):\(parts[2])")) != nil
            else { return nil }  // other files (skopeo writes none) are not part of the layout
            valid = true
        default:
            throw TransportError.invalidImage(
                "oci-archive:\(archive)", reason: "\(entry.kind) \"\(entry.path)\" has no place in an OCI archive")
        }
        guard valid else {
            throw TransportError.invalidImage("oci-archive:\(archive)", reason: "unexpected entry \"\(entry.path)\"")
        }
        return String(path)
    }

    static func isName(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    /// Extracts `file` into `directory` (created).
    static func extract(_ file: String, into directory: String) throws {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw TransportError.imageNotFound("oci-archive:\(file)") }
            throw SystemError("open \(file)", errno: errno)
        }
        defer { close(fd) }
        try FileSystem.makeDirectories(directory + "/blobs")
        let (_, stream) = try Decompressor.open(FileDescriptorSource(fileDescriptor: fd))
        let reader = TarReader(stream)
        while let entry = try reader.next() {
            guard let path = try layoutPath(entry, archive: file) else { continue }
            // A blob or layout file is never stored sparse; a sparse entry could declare a size far beyond what the
            // archive holds, a file that costs nothing to make but hours to hash.
            guard !reader.currentEntryIsSparse else {
                throw TransportError.invalidImage("oci-archive:\(file)", reason: "sparse entry \"\(entry.path)\" has no place in an OCI archive")
            }
            let target = "\(directory)/\(path)"
            if entry.kind == .directory {
                try FileSystem.makeDirectories(target)
                continue
            }
            try FileSystem.makeDirectories(FileSystem.parent(of: target))
            let out = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard out >= 0 else { throw SystemError("open \(target)", errno: errno) }
            defer { close(out) }
            _ = try reader.copyContent(to: out)
        }
    }

    /// Packs the layout at `directory` into `file`, replacing it atomically.
    static func pack(_ directory: String, into file: String) throws {
        let temporary = "\(FileSystem.parent(of: absolute(file)))/.tmp-\(FileSystem.randomName())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open \(temporary)", errno: errno) }
        var done = false
        defer {
            close(fd)
            if !done { unlink(temporary) }
        }
        let writer = try TarWriter(sink: FileDescriptorSink(fileDescriptor: fd))
        for name in ["oci-layout", "index.json"] { try appendFile("\(directory)/\(name)", as: name, to: writer) }
        try writer.append(TarEntry(kind: .directory, path: "blobs/", mode: 0o755))
        for algorithm in try FileSystem.list(directory + "/blobs").sorted() {
            try writer.append(TarEntry(kind: .directory, path: "blobs/\(algorithm)/", mode: 0o755))
            for blob in try FileSystem.list("\(directory)/blobs/\(algorithm)").sorted() {
                try appendFile("\(directory)/blobs/\(algorithm)/\(blob)", as: "blobs/\(algorithm)/\(blob)", to: writer)
            }
        }
        _ = try writer.finish()
        guard fsync(fd) == 0 else { throw SystemError("fsync \(temporary)", errno: errno) }
        guard rename(temporary, file) == 0 else { throw SystemError("rename \(temporary) to \(file)", errno: errno) }
        done = true
        try FileSystem.syncDirectory(FileSystem.parent(of: absolute(file)))
    }

    private static func appendFile(_ path: String, as name: String, to writer: TarWriter) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat \(path)", errno: errno) }
        try writer.append(TarEntry(kind: .regular, path: name, mode: 0o644, size: Int64(st.st_size),
                                   modificationTime: TarTimestamp(seconds: Int64(st.st_mtim.tv_sec))))
        try writer.writeContent(from: fd)
    }
}

/// Reads an image from an OCI archive (extracted to a temporary layout, removed at `close()`).
public final class OCIArchiveSource: ImageSource {
    let layout: OCILayoutSource
    let temporary: String
    public let description: String

    public init(file: String, reference: String?) throws {
        description = ImageLocation.ociArchive(file: file, reference: reference).description
        // Extracted where temporary files go, not beside the archive (whose directory may be read-only).
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/var/tmp"
        temporary = "\(base)/.swcopy-archive-\(FileSystem.randomName())"
        do {
            try OCIArchive.extract(file, into: temporary)
            layout = try OCILayoutSource(directory: temporary, reference: reference)
        } catch {
            FileSystem.removeTree(temporary)
            throw error
        }
    }

    public func topManifest() async throws -> ManifestData { try await layout.topManifest() }
    public func manifest(_ descriptor: Descriptor) async throws -> ManifestData { try await layout.manifest(descriptor) }
    public func localBlobPath(_ descriptor: Descriptor) -> String? { layout.localBlobPath(descriptor) }
    public func fetchBlob(_ descriptor: Descriptor, to path: String, progress: BlobProgress?) async throws {
        try await layout.fetchBlob(descriptor, to: path, progress: progress)
    }
    public func tags() async throws -> [String] { try await layout.tags() }
    public func close() { FileSystem.removeTree(temporary) }
    deinit { FileSystem.removeTree(temporary) }
}

/// Writes an image into an OCI archive: a temporary layout packed into the file at `commit()`. An existing
/// archive's images are kept (its layout is extracted first), as with an `oci:` layout.
public final class OCIArchiveDestination: ImageDestination {
    let file: String
    let layout: OCILayoutDestination
    let temporary: String
    public let description: String

    public init(file: String, reference: String?) throws {
        self.file = file
        description = ImageLocation.ociArchive(file: file, reference: reference).description
        temporary = OCIArchive.temporaryDirectory(for: file)
        do {
            if FileSystem.exists(file) { try OCIArchive.extract(file, into: temporary) }
            layout = try OCILayoutDestination(directory: temporary, reference: reference)
        } catch {
            FileSystem.removeTree(temporary)
            throw error
        }
    }

    public func hasBlob(_ descriptor: Descriptor) async throws -> Bool { try await layout.hasBlob(descriptor) }
    public func stagingPath(for descriptor: Descriptor) throws -> String { try layout.stagingPath(for: descriptor) }
    public func putBlob(_ descriptor: Descriptor, from path: String, staged: Bool, progress: BlobProgress?) async throws {
        try await layout.putBlob(descriptor, from: path, staged: staged, progress: progress)
    }
    public func putManifest(_ manifest: ManifestData, top: Bool) async throws {
        try await layout.putManifest(manifest, top: top)
    }
    public func commit() async throws {
        try await layout.commit()
        let (directory, file) = (temporary, self.file)
        try await BlobFiles.pool.run { try OCIArchive.pack(directory, into: file) }
        FileSystem.removeTree(temporary)
    }
    public func abort() { FileSystem.removeTree(temporary) }
    deinit { FileSystem.removeTree(temporary) }
}
