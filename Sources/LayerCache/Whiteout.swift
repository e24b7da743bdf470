import Glibc
import TarArchive

/// Whiteout names (image-spec layer.md, "Whiteouts").
enum Whiteout {
    /// `.wh.<name>` removes `<name>` of lower layers.
    static let prefix = ".wh."
    /// `.wh..wh..opq` hides every lower-layer child of its directory.
    static let opaque = ".wh..wh..opq"
    /// `.wh..wh.*` other than the opaque marker are AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): ignored.
    static let metadataPrefix = ".wh..wh."
}

extension LayerApplication {
    /// Applies a whiteout entry. Whiteouts only hide lower-layer content: a path this layer wrote stays, whether
    /// the whiteout comes before or after it in the archive (for a directory, its lower-layer content goes).
    func applyWhiteout(_ components: [String], entry: TarEntry) throws {
        let name = components.last!
        let directory = components.dropLast()
        if name == Whiteout.opaque {
            guard let fd = try root.openDirectory(directory, create: false, for: entry.path) else { return }
            try ensureWritable(fd.rawValue, directory)
            try pruneLowerContent(fd.rawValue, components: Array(directory), key: UnpackPath.key(directory))
            return
        }
        if name.hasPrefix(Whiteout.metadataPrefix) { return }
        let target = String(name.dropFirst(Whiteout.prefix.count))
        guard !target.isEmpty, target != ".", target != ".." else {
            throw UnpackError.unsafePath(path: entry.path, reason: "whiteout of \"\(target)\"")
        }
        guard let parent = try root.openDirectory(directory, create: false, for: entry.path) else { return }
        try ensureWritable(parent.rawValue, directory)
        let key = UnpackPath.key(directory + [target])
        if layerPaths.contains(key) || layerDirectories.contains(key) {
            guard let st = try UnpackFS.status(parent.rawValue, target), UnpackFS.isDirectory(st) else { return }
            let fd = openat(parent.rawValue, target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { return }
            defer { close(fd) }
            try ensureWritable(fd, (directory + [target])[...])
            try pruneLowerContent(fd, components: directory + [target], key: key)
            return
        }
        try UnpackFS.remove(parent.rawValue, target)
    }

    /// Removes everything below the directory `key` that this layer did not write, keeping this layer's entries
    /// and descending into the directories that hold them.
    func pruneLowerContent(_ dirFD: Int32, components: [String], key: String) throws {
        for child in try UnpackFS.listDirectory(dirFD, key) {
            let childKey = key.isEmpty ? child.name : key + "/" + child.name
            guard layerPaths.contains(childKey) || layerDirectories.contains(childKey) else {
                try UnpackFS.remove(dirFD, child.name)
                continue
            }
            guard let st = try UnpackFS.status(dirFD, child.name), UnpackFS.isDirectory(st) else { continue }
            let fd = openat(dirFD, child.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            let childComponents = components + [child.name]
            try ensureWritable(fd, childComponents[...])
            try pruneLowerContent(fd, components: childComponents, key: childKey)
        }
    }
}
