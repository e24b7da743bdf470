/// How a bundle's root filesystem is made from a cached stack.
public enum RootfsMode: String, Codable, Sendable, CaseIterable {
    /// An independent copy (reflinked where the filesystem can): the container may write anything into it.
    case flatten
    /// An overlayfs mount: the cached stack as the read-only lower directory, a fresh upper directory in the
    /// bundle taking the container's writes. Needs root (mount).
    case overlay
}
