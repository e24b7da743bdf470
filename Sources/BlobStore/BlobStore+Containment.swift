import Glibc
import SystemIO

extension BlobStore {
    /// Whether every folder from the store's root down to `path`'s folder is a real directory, no symbolic link.
    ///
    /// Every path the store builds is inside the root by construction (see `Layout`), but a folder inside the
    /// store can itself be replaced by a link (by whoever can write there) pointing anywhere on the machine.
    /// Code that removes what it found by listing a folder (garbage collection, `verify --repair`), possibly run
    /// by root, checks this first, so that it never removes a file outside the store.
    func isContained(_ path: String) -> Bool {
        let root = layout.root
        guard path.hasPrefix(root + "/") else { return false }
        var folder = root
        var st = stat()
        guard lstat(folder, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return false }
        let components = path.dropFirst(root.count + 1).split(separator: "/").dropLast()
        for component in components {
            folder += "/" + component
            guard lstat(folder, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return false }
        }
        return true
    }

    /// The entries of a folder of the store; none when the folder, or one above it, is a link (see `isContained`):
    /// what garbage collection and `verify` find by listing is then always inside the store.
    func listContained(_ directory: String) throws(SystemError) -> [String] {
        guard isContained(directory + "/-") else { return [] }
        return try FileSystem.list(directory)
    }

    /// Removes a file found by listing the store, only when its folders are all inside the store.
    /// - Returns: false when there was nothing to remove, or its folder is reached through a link.
    func removeContained(_ path: String) throws(SystemError) -> Bool {
        guard isContained(path) else { return false }
        return try FileSystem.remove(path)
    }
}
