/// Entry names as the unpacker sees them: relative component lists, never joined onto a host path.
enum UnpackPath {
    /// Splits an archive name into components, as tar extracts it: leading `/` stripped ("/etc/x" means
    /// `<root>/etc/x`), empty and `.` components dropped.
    /// - Returns: The components; empty for the root itself.
    /// - Throws: ``UnpackError/unsafePath(path:reason:)`` for a `..` component.
    static func components(_ path: String, limit: Int) throws -> [String] {
        guard path.utf8.count <= limit else {
            throw UnpackError.limitExceeded("name of \(path.utf8.count) bytes is longer than \(limit)")
        }
        var result: [String] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            if component == ".." { throw UnpackError.unsafePath(path: path, reason: "'..' component") }
            result.append(String(component))
        }
        return result
    }

    static func key(_ components: some Collection<String>) -> String {
        components.joined(separator: "/")
    }
}
