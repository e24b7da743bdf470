import Glibc
import OCIModel
import SystemIO

/// Where everything lives on disk. This is the only place that builds store paths, and it builds them only
/// from validated values (`RepositoryName`, `Tag`, `Digest`, `UploadID`), whose grammars admit no `/`-tricks,
/// `.` or `..` components: no request can name a path outside the root.
///
/// ```
/// <root>/
/// ├── blobs/
/// │   └── sha256/
/// │       └── ab/
/// │           └── abcdef…            content, stored once per digest (layers, configs and manifests)
/// ├── repositories/
/// │   └── library/ubuntu/            the repository name, one folder per component
/// │       ├── _layers/sha256/<hex>   empty file: the blob is linked into this repository
/// │       ├── _manifests/
/// │       │   ├── revisions/sha256/<hex>   empty file: the manifest belongs to this repository
/// │       │   └── tags/<tag>         the digest the tag points to ("sha256:…"), replaced atomically
/// │       └── _referrers/sha256/<subject hex>/<alg>-<hex>
/// │                                  the referrer's descriptor (JSON), written at manifest PUT
/// ├── uploads/
/// │   └── <upload id>/
/// │       ├── data                   the bytes received so far
/// │       ├── info                   lines: repository, start time, owner, kind (resumable|monolithic)
/// │       └── begun                  instead of `info`: the data of a `FileBlobStorage` upload (empty; its
/// │                                  time is the start), whose session lives in a `MetadataStore`
/// ├── sessions/<upload id>           `BlobStore` as a `MetadataStore`: one upload session's record (JSON),
/// │                                  replaced atomically
/// ├── tmp/                           files being written, renamed into place when complete; `gc-clock`,
/// │                                  touched to read the store's clock at the start of a collection
/// ├── quarantine/<alg>/<hex>[.<n>]   blobs `swregistry verify --repair` found damaged, no longer served (0700)
/// ├── _events/<endpoint>/            the events' queues on disk (notifications.queue.directory)
/// ├── .control.sock                  the running server's control socket (store commands; 0600)
/// └── .lock                          the pid of the server that serves this store (`StoreLock` flocks the root)
/// ```
///
/// Repository folders start with a letter or digit, internal folders with `_`, so a repository named
/// `a/_layers` cannot exist (the grammar forbids a leading `_`) and cannot collide with them.
public struct Layout: Sendable {
    public let root: String

    public init(root: String) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
    }

    public var blobsDirectory: String { "\(root)/blobs" }
    public var repositoriesDirectory: String { "\(root)/repositories" }
    public var uploadsDirectory: String { "\(root)/uploads" }
    public var tmpDirectory: String { "\(root)/tmp" }
    public var lockFile: String { "\(root)/.lock" }
    /// The write-ahead log of metadata changes (`MetadataJournal`).
    public var journalFile: String { "\(root)/journal" }
    public var quarantineDirectory: String { "\(root)/quarantine" }
    public var controlSocket: String { "\(root)/.control.sock" }

    /// The folder holding the blob, `blobs/<alg>/<first two hex>`.
    public func blobDirectory(_ digest: Digest) -> String {
        "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))"
    }

    public func blob(_ digest: Digest) -> String {
        "\(blobDirectory(digest))/\(digest.encoded)"
    }

    public func repository(_ name: RepositoryName) -> String {
        "\(root)/repositories/\(name.value)"
    }

    public func layerLinkDirectory(_ name: RepositoryName, _ algorithm: Digest.Algorithm) -> String {
        "\(repository(name))/_layers/\(algorithm.rawValue)"
    }

    public func layerLink(_ name: RepositoryName, _ digest: Digest) -> String {
        "\(layerLinkDirectory(name, digest.algorithm))/\(digest.encoded)"
    }

    public func manifestsDirectory(_ name: RepositoryName) -> String {
        "\(repository(name))/_manifests"
    }

    public func revisionLinkDirectory(_ name: RepositoryName, _ algorithm: Digest.Algorithm) -> String {
        "\(manifestsDirectory(name))/revisions/\(algorithm.rawValue)"
    }

    public func revisionLink(_ name: RepositoryName, _ digest: Digest) -> String {
        "\(revisionLinkDirectory(name, digest.algorithm))/\(digest.encoded)"
    }

    public func tagsDirectory(_ name: RepositoryName) -> String {
        "\(manifestsDirectory(name))/tags"
    }

    public func tag(_ name: RepositoryName, _ tag: Tag) -> String {
        "\(tagsDirectory(name))/\(tag.value)"
    }

    public func referrersDirectory(_ name: RepositoryName, subject: Digest) -> String {
        "\(repository(name))/_referrers/\(subject.algorithm.rawValue)/\(subject.encoded)"
    }

    public func referrer(_ name: RepositoryName, subject: Digest, referrer: Digest) -> String {
        "\(referrersDirectory(name, subject: subject))/\(referrer.algorithm.rawValue)-\(referrer.encoded)"
    }

    public func upload(_ id: UploadID) -> String {
        "\(root)/uploads/\(id.value)"
    }

    public func uploadData(_ id: UploadID) -> String {
        "\(upload(id))/data"
    }

    public func uploadInfo(_ id: UploadID) -> String {
        "\(upload(id))/info"
    }

    /// The marker of a `FileBlobStorage` upload's folder (see the tree).
    public func uploadBegun(_ id: UploadID) -> String {
        "\(upload(id))/begun"
    }

    public var sessionsDirectory: String { "\(root)/sessions" }

    /// `uploads/`, each upload's folder and `sessions/`: the server's user's only. An upload id is all it takes to
    /// write into a session (with push access to its repository), so no other local user may list them. Nothing
    /// needs group or other access (the deploy units keep the whole store 0700); upload data becomes a blob by
    /// `rename`, mode and all.
    static let privateFolderMode: mode_t = 0o700
    static let privateFileMode: mode_t = 0o600

    /// Makes a folder of upload ids (`uploads/`, `sessions/`) and any missing parents, durably; takes group and
    /// other access from it when it exists already (stores made by earlier versions have it 0755). Best effort:
    /// a folder this user does not own keeps its mode.
    func makePrivateFolder(_ path: String) throws(SystemError) {
        try FileSystem.makeDirectories(path, mode: Self.privateFolderMode)
        _ = chmod(path, Self.privateFolderMode)
    }

    public func session(_ id: UploadID) -> String {
        "\(root)/sessions/\(id.value)"
    }
}

/// An upload session id: a random UUID in lowercase hex (8-4-4-4-12), validated before it becomes a path.
public struct UploadID: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    /// Validates an id received from a client.
    public init?(validating text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return nil }
        for (i, c) in bytes.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == UInt8(ascii: "-") else { return nil }
            } else {
                guard (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) else { return nil }
            }
        }
        value = String(text)
    }

    /// A new random (version 4) id.
    public static func random() -> UploadID {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (i, byte) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return UploadID(validating: String(decoding: text, as: UTF8.self))!
    }

    public var description: String { value }
}
