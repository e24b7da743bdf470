import Glibc
import OCIModel
import SystemIO

/// Catalog and tag-list pages that cost O(page), not O(repositories): the walk starts after `last` and stops once
/// the page is full, as distribution's catalog does, and large directories are listed from memory while unchanged
/// (`DirectoryListings`).
extension BlobStore {
    /// A page of repository names (those holding a manifest or a blob), in byte order: the names after `last`
    /// for which `include` holds, at most `limit`, and whether another such name follows.
    ///
    /// The same names and order as `repositories()`, found without walking the whole tree: a folder's names are
    /// `<folder>/<child>` for each child that is a repository, then `<folder>/<child>/…` for each child's subtree.
    /// In byte order a subtree does not follow its own root at once: `a-b` and `a.b` (and their subtrees) sort
    /// between `a` and `a/…`, since `-` and `.` sort before `/`. So the children are taken in byte order, and each
    /// child's subtree is walked when the next child sorts after `<child>/`; subtrees entirely before `last` are
    /// never opened.
    /// - Parameters:
    ///   - last: the last name of the previous page (any text; names after it in byte order follow).
    ///   - limit: the page size (0 gives an empty page, telling only whether a name exists).
    ///   - include: whether the caller may see a name; hidden names do not count towards the page.
    /// - Returns: the page, and whether a further visible name exists (so a next-page link never leads to an
    ///   empty page).
    public func repositoryPage(after last: String?, limit: Int,
                               include: (String) -> Bool) throws(StoreError) -> (names: [String], more: Bool) {
        var page = RepositoryPage(limit: limit)
        do throws(SystemError) {
            _ = try walkRepositories(under: "", after: last.map { Array($0.utf8)[...] }, into: &page, include: include)
        } catch {
            throw .io(error)
        }
        return (page.names, page.more)
    }

    /// A page of a repository's tags in byte order: those after `last`, at most `limit` (all when nil), and whether
    /// more follow. One directory listing (from memory while the folder is unchanged) and a binary search; only
    /// the tags on the page are validated.
    /// - Throws: `nameUnknown` when the repository does not exist.
    public func tagPage(_ name: RepositoryName, after last: String?,
                        limit: Int?) throws(StoreError) -> (tags: [String], more: Bool) {
        guard repositoryExists(name) else { throw .nameUnknown(name.value) }
        let all: [String]
        do { all = try listings.sortedNames(layout.tagsDirectory(name), .all) } catch { throw .io(error) }
        var index = last.map { last in firstIndex(in: all) { compareBytes($0.utf8, last.utf8) > 0 } } ?? 0
        var tags: [String] = []
        while index < all.count {
            // A file that is not a tag (none is written there) is skipped, as `tags(_:)` does.
            if (try? Tag(validating: all[index])) != nil {
                if let limit, tags.count == limit { return (tags, true) }
                tags.append(all[index])
            }
            index += 1
        }
        return (tags, false)
    }

    /// Walks the repositories under `folder` (relative to `repositories/`, "" for the top), emitting names after
    /// the bound in byte order into `page`.
    /// - Parameter bound: what of `last` follows `<folder>/`, when `last` starts so; nil when every name in the
    ///   folder sorts after `last` (the caller skips folders whose names all sort before it).
    /// - Returns: true once the page is complete (the walk stops).
    private func walkRepositories(under folder: String, after bound: ArraySlice<UInt8>?, into page: inout RepositoryPage,
                                  include: (String) -> Bool) throws(SystemError) -> Bool {
        let path = folder.isEmpty ? layout.repositoriesDirectory : "\(layout.repositoriesDirectory)/\(folder)"
        let children = try listings.sortedNames(path, .subdirectories)
        // Children whose subtrees are still to walk, with the bound inside each; the last sorts first (see below).
        var pending: [(child: String, bound: ArraySlice<UInt8>?)] = []
        var start = 0
        if let bound {
            start = firstIndex(in: children) { compareBytes($0.utf8, bound) > 0 }
            // A child at or before the bound can still hold names after it: the children that are prefixes of the
            // bound followed by nothing or by a byte up to `/` (`a` for `a`, `a-b` or `a/x`). Shorter ones sort
            // later (`a/` after `a-b/`), so they are pushed first.
            var end = bound.startIndex
            while end < bound.endIndex {
                end += 1
                guard end == bound.endIndex || bound[end] <= UInt8(ascii: "/") else { continue }
                let prefix = bound[..<end]
                let at = firstIndex(in: children) { compareBytes($0.utf8, prefix) >= 0 }
                if at < children.count, compareBytes(children[at].utf8, prefix) == 0 {
                    // `a/x`: inside `a`, after `x`; `a` or `a-b`: every name under `a/` sorts after.
                    let inner = end < bound.endIndex && bound[end] == UInt8(ascii: "/") ? bound[(end + 1)...] : nil
                    pending.append((children[at], inner))
                }
                if end < bound.endIndex && bound[end] == UInt8(ascii: "/") { break }
            }
        }
        func subtree(_ child: String) -> String { folder.isEmpty ? child : "\(folder)/\(child)" }
        for child in children[start...] {
            // Every pending subtree `<p>/…` sorting before `child` comes first. The top of `pending` sorts first:
            // a child pushed after `p` while `p/` is pending extends `p` with a byte before `/`.
            while let top = pending.last, subtreeSortsBefore(top.child, child) {
                pending.removeLast()
                if try walkRepositories(under: subtree(top.child), after: top.bound, into: &page, include: include) { return true }
            }
            let childPath = "\(path)/\(child)"
            if Self.holdsRepository(childPath), page.offer(subtree(child), include) { return true }
            pending.append((child, nil))
        }
        while let top = pending.popLast() {
            if try walkRepositories(under: subtree(top.child), after: top.bound, into: &page, include: include) { return true }
        }
        return false
    }

    /// Whether `<p>/` sorts before `name` in byte order.
    private func subtreeSortsBefore(_ p: String, _ name: String) -> Bool {
        let a = p.utf8, b = name.utf8
        let order = compareBytes(a, b.prefix(a.count))
        if order != 0 { return order < 0 }
        // `p` is a prefix of `name` (or equal): `/` against the byte after it.
        guard b.count > a.count else { return false }
        return UInt8(ascii: "/") < b[b.index(b.startIndex, offsetBy: a.count)]
    }

    /// Whether a folder is a repository: it holds `_manifests` or `_layers` (of any kind, as `repositories()`).
    private static func holdsRepository(_ path: String) -> Bool {
        var st = stat()
        return lstat("\(path)/_manifests", &st) == 0 || lstat("\(path)/_layers", &st) == 0
    }
}

/// The first index of a sorted array whose element satisfies `isAfter`, which holds for a suffix of it.
private func firstIndex(in sorted: [String], where isAfter: (String) -> Bool) -> Int {
    var low = 0, high = sorted.count
    while low < high {
        let mid = (low + high) / 2
        if isAfter(sorted[mid]) { high = mid } else { low = mid + 1 }
    }
    return low
}

/// A catalog page being filled.
private struct RepositoryPage {
    let limit: Int
    var names: [String] = []
    var more = false

    /// Adds a name if visible. - Returns: true once the page is complete (a visible name beyond the limit seen).
    mutating func offer(_ name: String, _ include: (String) -> Bool) -> Bool {
        guard include(name) else { return false }
        if names.count == limit {
            more = true
            return true
        }
        names.append(name)
        return false
    }
}
