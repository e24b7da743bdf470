@testable import BlobStore
import Glibc
import OCIModel
import SystemIO
import Testing
import TestSupport

/// Catalog and tag-list pages (`repositoryPage`, `tagPage`) against the whole-list answer they replace
/// (`repositories()` / `tags(_:)` then paginated), on random trees whose names differ in `/`, `-`, `.` and `_`.
@Suite struct ListingPageTests {
    /// A reproducible generator (SplitMix64), so that a failing seed can be replayed.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Components that collide in every way byte order cares about: a prefix of another followed by `-`, `.`,
    /// `_`, a digit or a letter (before and after `/` in byte order).
    static let components = ["a", "a-b", "a.b", "a0", "a_b", "a--b", "a__b", "ab", "b", "0", "a-", "z"].filter {
        (try? RepositoryName(validating: $0)) != nil
    }

    /// The Registry's pagination over a whole sorted list (what the page functions replace).
    static func paginate(_ all: [String], after last: String?, count: Int?, where visible: (String) -> Bool) -> ([String], Bool) {
        var rest = all[...]
        if let last { rest = rest.drop { !last.utf8.lexicographicallyPrecedes($0.utf8) } }
        var page: [String] = []
        for entry in rest where visible(entry) {
            if let count, page.count == count { return (page, true) }
            page.append(entry)
        }
        return (page, false)
    }

    /// Makes a random tree of repositories under a new store: nested names, folders that are not repositories,
    /// and entries the catalog must ignore (a file, a link to a repository, an internal `_` folder).
    static func randomStore(_ generator: inout Generator) throws -> (String, BlobStore) {
        let root = makeTemporaryDirectory(prefix: "swr-pages")
        let store = try BlobStore(root: root)
        let repositories = store.layout.repositoriesDirectory
        for _ in 0..<Int.random(in: 1...40, using: &generator) {
            let depth = Int.random(in: 1...3, using: &generator)
            let name = (0..<depth).map { _ in components.randomElement(using: &generator)! }.joined(separator: "/")
            let marker = Bool.random(using: &generator) ? "_layers" : "_manifests"
            if Int.random(in: 0..<5, using: &generator) == 0 {
                try FileSystem.makeDirectories("\(repositories)/\(name)")  // a folder only
            } else {
                try FileSystem.makeDirectories("\(repositories)/\(name)/\(marker)")
            }
        }
        try FileSystem.writeAtomically([], to: "\(repositories)/a-b.c", tmpDirectory: store.layout.tmpDirectory)
        try FileSystem.makeDirectories("\(repositories)/_x/_layers")
        try FileSystem.makeDirectories("\(repositories)/zz/_layers")
        #expect(symlink("\(repositories)/zz", "\(repositories)/a.c") == 0)
        return (root, store)
    }

    @Test(arguments: 0..<60)
    func repositoryPagesMatchTheWholeList(seed: Int) throws {
        var generator = Generator(state: UInt64(seed))
        let (root, store) = try Self.randomStore(&generator)
        defer { FileSystem.removeTree(root) }
        let all = try store.repositories()
        #expect(all == all.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(!all.contains("a.c") && !all.contains("_x") && !all.contains("a-b.c"))
        let filters: [(String) -> Bool] = [{ _ in true }, { $0.utf8.reduce(0) { $0 + Int($1) } % 3 != 0 }, { _ in false }]
        for (f, visible) in filters.enumerated() {
            // Every page from the start, following the last name of each.
            let limit = Int.random(in: 1...6, using: &generator)
            var last: String? = nil
            var walked: [String] = []
            while true {
                let page = try store.repositoryPage(after: last, limit: limit, include: visible)
                let expected = Self.paginate(all, after: last, count: limit, where: visible)
                #expect(page.names == expected.0 && page.more == expected.1, "seed \(seed) filter \(f) after \(last ?? "-")")
                walked += page.names
                guard page.more, let next = page.names.last else { break }
                last = next
            }
            #expect(walked == all.filter(visible), "seed \(seed) filter \(f)")
            // Pages after arbitrary text: names, their prefixes and extensions, names that are not there.
            var lasts = all.flatMap { [$0, $0 + "/", $0 + "-", $0 + "/a", String($0.dropLast())] }
            lasts += ["", "a", "a/", "a-", "a.", "a/a-b", "a-b/a", "~", "a/\u{e9}"]
            for _ in 0..<Int.random(in: 20...40, using: &generator) {
                let last = lasts.randomElement(using: &generator)!
                let limit = Int.random(in: 0...7, using: &generator)
                let page = try store.repositoryPage(after: last, limit: limit, include: visible)
                let expected = Self.paginate(all, after: last, count: limit, where: visible)
                #expect(page.names == expected.0 && page.more == expected.1, "seed \(seed) filter \(f) after \(last) n=\(limit)")
            }
        }
    }

    @Test(arguments: 0..<30)
    func tagPagesMatchTheWholeList(seed: Int) throws {
        var generator = Generator(state: UInt64(seed) &+ 1000)
        let root = makeTemporaryDirectory(prefix: "swr-tagpages")
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root)
        let name = try RepositoryName(validating: "library/app")
        let pieces = ["v1", "v1.0", "v1-rc", "v1_0", "V1", "latest", "0", "a", "A", "v10", "v1.0.1", "_x", "v1--", "v"]
        let folder = store.layout.tagsDirectory(name)
        try FileSystem.makeDirectories(folder)
        for _ in 0..<Int.random(in: 0...30, using: &generator) {
            let tag = pieces.randomElement(using: &generator)! + (Bool.random(using: &generator) ? "" : pieces.randomElement(using: &generator)!)
            try FileSystem.writeAtomically(Array("x".utf8), to: "\(folder)/\(tag)", tmpDirectory: store.layout.tmpDirectory)
        }
        // Not a tag (the grammar forbids a leading `.`): never listed.
        try FileSystem.writeAtomically([], to: "\(folder)/.hidden", tmpDirectory: store.layout.tmpDirectory)
        let all = try store.tags(name)
        #expect(!all.contains(".hidden"))
        var lasts = all.flatMap { [$0, $0 + "-", $0 + ".", String($0.dropLast())] }
        lasts += ["", "v", "v1", "~", "Z"]
        for _ in 0..<40 {
            let last: String? = Int.random(in: 0..<6, using: &generator) == 0 ? nil : lasts.randomElement(using: &generator)!
            let limit: Int? = Int.random(in: 0..<5, using: &generator) == 0 ? nil : Int.random(in: 0...6, using: &generator)
            let page = try store.tagPage(name, after: last, limit: limit)
            let expected = Self.paginate(all, after: last, count: limit, where: { _ in true })
            #expect(page.tags == expected.0 && page.more == expected.1, "seed \(seed) after \(last ?? "-") n=\(limit.map(String.init) ?? "-")")
        }
    }

    @Test func tagPageOfAMissingRepositoryIsNameUnknown() throws {
        let root = makeTemporaryDirectory(prefix: "swr-tagpages")
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root)
        #expect(throws: StoreError.self) { try store.tagPage(try RepositoryName(validating: "nope"), after: nil, limit: 10) }
    }

    /// A kept listing is used while its folder is unchanged, and never once a name was added or removed, however
    /// soon after the read (the folder's times move; a folder changed too recently is not kept at all).
    @Test func keptListingsFollowEveryChange() throws {
        let root = makeTemporaryDirectory(prefix: "swr-listings")
        defer { FileSystem.removeTree(root) }
        let listings = DirectoryListings(minimumNames: 0)
        for i in 0..<20 { try FileSystem.makeDirectories("\(root)/r\(i)") }
        #expect(try listings.sortedNames(root, .subdirectories).count == 20)
        #expect(listings.keptListings == 0, "a folder changed within the last second is read every time")
        sleep(UInt32(DirectoryListings.settledSeconds + 1))
        #expect(try listings.sortedNames(root, .subdirectories).count == 20)
        #expect(listings.keptListings == 1)
        for round in 0..<50 {
            // Changes in quick succession, each listed at once: every one is seen.
            try FileSystem.makeDirectories("\(root)/new\(round)")
            #expect(try listings.sortedNames(root, .subdirectories).contains("new\(round)"))
            rmdir("\(root)/new\(round)")
            #expect(try !listings.sortedNames(root, .subdirectories).contains("new\(round)"))
        }
        #expect(try listings.sortedNames(root, .all).sorted() == (try FileSystem.list(root)).sorted())
    }

    /// The least recently used listings go once the names kept pass the bound.
    @Test func keptListingsAreBounded() throws {
        let root = makeTemporaryDirectory(prefix: "swr-listings")
        defer { FileSystem.removeTree(root) }
        let listings = DirectoryListings(minimumNames: 0, maximumNames: 25)
        for folder in ["x", "y", "z"] {
            for i in 0..<10 { try FileSystem.makeDirectories("\(root)/\(folder)/\(i)") }
        }
        sleep(UInt32(DirectoryListings.settledSeconds + 1))
        for folder in ["x", "y", "z"] { #expect(try listings.sortedNames("\(root)/\(folder)", .all).count == 10) }
        #expect(listings.keptListings == 2)
    }
}
