import Glibc
import OCIModel
import SystemIO

extension Layout {
    /// The one walk of `blobs/<algorithm>/<prefix>/<encoded>`, for garbage collection, `verify`, `usage` and
    /// `FileBlobStorage.enumerate`: each regular file at the path `blob(_:)` gives its digest is visited with its
    /// `lstat`, in byte order; anything else (no digest, a link, a file in another digest's folder) is returned,
    /// as paths relative to the root: the registry never serves it.
    /// - Parameters:
    ///   - list: lists a folder (`BlobStore` lists only folders it reaches through no link).
    ///   - visit: called for each blob.
    /// - Returns: the entries that are no blob of the store.
    func walkBlobs(list: (String) throws(SystemError) -> [String],
                   _ visit: (Digest, stat) throws(StoreError) -> Void) throws(StoreError) -> [String] {
        func sorted(_ path: String) throws(StoreError) -> [String] {
            do { return try list(path).sorted() } catch { throw .io(error) }
        }
        var invalid: [String] = []
        for algorithm in try sorted(blobsDirectory) {
            let algorithmPath = "\(blobsDirectory)/\(algorithm)"
            guard Digest.Algorithm(rawValue: algorithm) != nil else {
                invalid.append("blobs/\(algorithm)")
                continue
            }
            for prefix in try sorted(algorithmPath) {
                let prefixPath = "\(algorithmPath)/\(prefix)"
                guard FileSystem.isRealDirectory(prefixPath) else {
                    invalid.append("blobs/\(algorithm)/\(prefix)")
                    continue
                }
                for name in try sorted(prefixPath) {
                    let path = "\(prefixPath)/\(name)"
                    var st = stat()
                    guard let digest = try? Digest(parsing: "\(algorithm):\(name)"), blob(digest) == path,
                          lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
                        invalid.append("blobs/\(algorithm)/\(prefix)/\(name)")
                        continue
                    }
                    try visit(digest, st)
                }
            }
        }
        return invalid
    }
}

extension BlobEntry {
    /// A blob file's entry from its `stat`.
    init(_ digest: Digest, _ st: stat) {
        self.init(digest: digest, size: Int64(st.st_size),
                  modified: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }
}
