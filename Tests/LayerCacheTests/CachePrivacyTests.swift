import Glibc
import OCIModel
import Testing
import SystemIO
import TarArchive
import TestSupport
@testable import LayerCache

/// The cache and the bundles hold setuid files and devices with the image's modes: no other user may reach them.
@Suite("The cache and bundles are private to their owner", .serialized)
struct CachePrivacyTests {
    static var swcopy: String { ChildProcess.productsDirectory + "/swcopy" }
    static let setpriv = "/usr/bin/setpriv"

    /// Runs `arguments` as nobody (uid and gid 65534, no supplementary groups), from a shell already running as
    /// nobody (setpriv itself resolves the program it starts while it still has root's capabilities, which is not
    /// what another user has). - Returns: the exit status.
    static func asNobody(_ arguments: [String], output: String) throws -> Int32 {
        let child = try ChildProcess("/bin/sh", ["-c", "exec \"$@\" > \"$0\" 2>&1", output, setpriv, "--reuid=65534",
                                                 "--regid=65534", "--clear-groups", "--", "/bin/sh", "-c", "exec \"$@\"",
                                                 "sh"] + arguments)
        return try child.waitForExit(timeoutSeconds: 30)
    }

    /// The mode bits of `path` (nil when absent).
    static func mode(_ path: String) -> mode_t? { CacheFiles.lstatOrNil(path).map { $0.st_mode & 0o7777 } }

    @Test("swcopy prepare as root: nobody can run the image's setuid binary nor open its device, in the cache or the bundle")
    func setuidFilesAndDevicesAreUnreachable() throws {
        guard Fixture.isRoot, access(Self.setpriv, X_OK) == 0 else {
            print("SKIPPED cache privacy test: needs root and setpriv (util-linux)")
            try Test.cancel("needs root and setpriv")
        }
        let scratch = ScratchDirectory("privacy")
        // mkdtemp made the scratch directory 0700: open it, so that only swcopy's own modes protect what is below.
        chmod(scratch.path, 0o755)
        let id = try #require(readFile("/usr/bin/id"))
        let setuidID: LayerEntry = (TarEntry(kind: .regular, path: "suid-id", mode: 0o4755), id)
        let layers = try makeImageLayout(at: scratch.sub("layout"), layers: [
            [dir("dev"), setuidID, node(.characterDevice, "dev/null", mode: 0o666, major: 1, minor: 3)],
            [file("etc-motd", "second layer")],
        ], tag: "v1")
        let cache = scratch.sub("cache"), bundle = scratch.sub("bundle")
        let prepare = try ChildProcess(Self.swcopy, ["prepare", "--quiet", "--cache-dir", cache,
                                                     "oci:\(scratch.sub("layout")):v1", bundle],
                                       stderrPath: scratch.sub("prepare.stderr"))
        let status = try prepare.waitForExit(timeoutSeconds: 120)
        try #require(status == 0, "swcopy prepare failed: \(Fixture.read(scratch.sub("prepare.stderr")) ?? "")")

        let chainIDs = ChainID.compute(diffIDs: layers.compactMap(\.diffID))
        let layout = CacheStoreLayout(root: cache)
        let trees = chainIDs.map { layout.chainRootfs($0) } + ["\(bundle)/rootfs"]
        // The trees keep the image's modes (the container needs them)…
        for tree in trees {
            #expect(Self.mode("\(tree)/suid-id") == 0o4755, "\(tree)/suid-id")
            #expect(CacheFiles.lstatOrNil("\(tree)/dev/null").map { $0.st_mode & S_IFMT } == S_IFCHR, "\(tree)/dev/null")
            #expect(Self.mode("\(tree)/dev/null") == 0o666)
        }
        // …behind directories only their owner can enter.
        for directory in [cache, layout.layersDirectory, layout.tmpDirectory, bundle] + chainIDs.map(layout.chainDirectory) {
            #expect(Self.mode(directory) == 0o700, "\(directory)")
        }

        // As nobody: the scratch directory is open, /usr/bin/id runs (the probe works)…
        let out = scratch.sub("nobody.out")
        #expect(try Self.asNobody(["/usr/bin/id"], output: out) == 0, "\(Fixture.read(out) ?? "")")
        #expect(Fixture.read(out)?.contains("uid=65534") == true)
        #expect(try Self.asNobody(["/bin/ls", scratch.path], output: out) == 0)
        // …but no tree can be reached: not the setuid binary, not the device, not even a listing.
        for tree in trees {
            #expect(try Self.asNobody(["\(tree)/suid-id"], output: out) != 0, "\(tree)/suid-id ran: \(Fixture.read(out) ?? "")")
            #expect(Fixture.read(out)?.contains("euid=0") != true)
            #expect(try Self.asNobody(["/bin/sh", "-c", "exec 3<\"$0\"", "\(tree)/dev/null"], output: out) != 0,
                    "\(tree)/dev/null opened")
            #expect(try Self.asNobody(["/bin/ls", tree], output: out) != 0)
        }
        #expect(try Self.asNobody(["/bin/ls", "\(cache)/layers"], output: out) != 0)

        // Control: loosening the directories by hand does expose the binary, so the checks above tested our modes.
        let top = try #require(chainIDs.last)
        for directory in [cache, layout.layersDirectory, layout.chainDirectory(top)] { chmod(directory, 0o755) }
        #expect(try Self.asNobody(["\(layout.chainRootfs(top))/suid-id"], output: out) == 0)
        #expect(try Self.asNobody(["/bin/sh", "-c", "exec 3<\"$0\"", "\(layout.chainRootfs(top))/dev/null"], output: out) == 0)
        // Opening the cache again makes it private again.
        _ = try CacheStore(root: cache, syncBeforePublish: false)
        #expect(Self.mode(cache) == 0o700)
        #expect(try Self.asNobody(["\(layout.chainRootfs(top))/suid-id"], output: out) != 0)
        try BundleDirectory.remove(at: bundle, store: try CacheStore(root: cache, syncBeforePublish: false))
    }

    @Test func aLooseCacheIsTightenedAndAForeignOneRefused() throws {
        let scratch = ScratchDirectory("privacy")
        let cache = scratch.sub("cache")
        Fixture.mkdirs("\(cache)/layers", mode: 0o777)
        chmod(cache, 0o2775)
        let store = try CacheStore(root: cache, syncBeforePublish: false)
        #expect(Self.mode(cache) == 0o700)
        for directory in store.layout.directories { #expect(Self.mode(directory) == 0o700, "\(directory)") }

        // A new cache (and its missing parent) is created private.
        let fresh = scratch.sub("parent/fresh")
        _ = try CacheStore(root: fresh, syncBeforePublish: false)
        #expect(Self.mode(fresh) == 0o700)

        guard Fixture.isRoot else { return }
        let foreign = scratch.sub("foreign")
        Fixture.mkdirs(foreign)
        chown(foreign, 65534, 65534)
        #expect(throws: PrivateDirectoryError.ownedByAnotherUser(path: foreign, owner: 65534, user: 0)) {
            _ = try CacheStore(root: foreign, syncBeforePublish: false)
        }
        #expect(try FileSystem.list(foreign).isEmpty)  // nothing was written into it
    }

    @Test func aBundleDirectoryIsPrivateWhetherNewOrGiven() throws {
        let scratch = ScratchDirectory("privacy")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let image = try BundlePrepareTests.makeImage(store, execution: .init(cmd: ["/app"]))

        let created = scratch.sub("new/bundle")
        _ = try BundleDirectory.prepare(image: image, store: store, at: created, mode: .flatten)
        #expect(Self.mode(created) == 0o700)

        // A directory the user made beforehand, open to all, is tightened (as umoci does).
        let given = scratch.sub("given")
        Fixture.mkdirs(given, mode: 0o777)
        _ = try BundleDirectory.prepare(image: image, store: store, at: given, mode: .flatten)
        #expect(Self.mode(given) == 0o700)

        guard Fixture.isRoot else { return }
        let foreign = scratch.sub("foreign")
        Fixture.mkdirs(foreign)
        chown(foreign, 65534, 65534)
        #expect(throws: PrivateDirectoryError.self) {
            _ = try BundleDirectory.prepare(image: image, store: store, at: foreign, mode: .flatten)
        }
        #expect(try FileSystem.list(foreign).isEmpty)
    }

    // F2: the bundle was checked by path, then filled by path: another user who could rename a directory on that
    // path (or repoint a symlink) swapped in their own after the check and received the setuid tree. Now a path
    // another user has any say over is refused before anything is made, and a directory in use is never taken over.

    @Test func aBundleUnderAnotherUsersDirectoryIsRefusedAndNothingMade() throws {
        let scratch = ScratchDirectory("privacy")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let image = try BundlePrepareTests.makeImage(store, execution: .init(cmd: ["/app"]))

        // Writable by others, not sticky: they could rename `app` away and make their own (any user, root or not).
        let open = scratch.sub("open")
        Fixture.mkdirs(open)
        chmod(open, 0o777)
        #expect(throws: TrustedPathError.ancestorWritableByOthers(path: "\(open)/app", ancestor: open, mode: 0o777)) {
            _ = try BundleDirectory.prepare(image: image, store: store, at: "\(open)/app", mode: .flatten)
        }
        // Missing parents below it are not created either.
        #expect(throws: TrustedPathError.self) {
            _ = try BundleDirectory.prepare(image: image, store: store, at: "\(open)/new/app", mode: .flatten)
        }
        #expect(try FileSystem.list(open).isEmpty)

        guard Fixture.isRoot else { return }
        // Owned by another user (even read-only to us would not help: its owner can chmod it and rename).
        let team = scratch.sub("team")
        Fixture.mkdirs(team)
        chmod(team, 0o755)
        chown(team, 65534, 65534)
        #expect(throws: TrustedPathError.ancestorOwnedByAnotherUser(path: "\(team)/app", ancestor: team, owner: 65534,
                                                                    user: 0)) {
            _ = try BundleDirectory.prepare(image: image, store: store, at: "\(team)/app", mode: .flatten)
        }
        #expect(try FileSystem.list(team).isEmpty)
        // The same for the cache root.
        #expect(throws: TrustedPathError.self) { _ = try CacheStore(root: "\(team)/cache", syncBeforePublish: false) }
        #expect(try FileSystem.list(team).isEmpty)
        #expect(try store.bundles().isEmpty)
    }

    @Test func aSymlinkedBundleIsRefusedAndItsTargetUntouched() throws {
        let scratch = ScratchDirectory("privacy")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let image = try BundlePrepareTests.makeImage(store, execution: .init(cmd: ["/app"]))

        // The final component a symlink (as /tmp/x -> /usr): refused whatever it points to, even an empty directory
        // of our own, since the mode change and the rootfs would land wherever the link points.
        let target = scratch.sub("target"), link = scratch.sub("link")
        Fixture.mkdirs(target)
        chmod(target, 0o755)
        #expect(symlink(target, link) == 0)
        #expect(throws: TrustedPathError.finalSymlink(link)) {
            _ = try BundleDirectory.prepare(image: image, store: store, at: link, mode: .flatten)
        }
        #expect(Self.mode(target) == 0o755)
        #expect(try FileSystem.list(target).isEmpty)
        #expect(throws: TrustedPathError.finalSymlink(link)) { try BundleDirectory.remove(at: link, store: store) }

        // A symlink of our own among the ancestors is resolved once; the bundle is named by the resolved path.
        let alias = scratch.sub("alias")
        #expect(symlink(target, alias) == 0)
        let prepared = try BundleDirectory.prepare(image: image, store: store, at: "\(alias)/../target/./bundle",
                                                   mode: .flatten)
        #expect(prepared.bundlePath == "\(target)/bundle")
        #expect(Self.mode("\(target)/bundle") == 0o700)
        #expect(try store.bundles().map(\.bundlePath) == ["\(target)/bundle"])
        try BundleDirectory.remove(at: "\(alias)/bundle", store: store)
        #expect(try store.bundles().isEmpty)

        guard Fixture.isRoot else { return }
        // A symlink another user owns could be repointed: not followed, for a bundle's parent or the cache root.
        let theirs = scratch.sub("theirs")
        #expect(symlink(target, theirs) == 0)
        #expect(lchown(theirs, 65534, 65534) == 0)
        #expect(throws: TrustedPathError.symlinkOwnedByAnotherUser(path: "\(theirs)/bundle", link: theirs,
                                                                   owner: 65534, user: 0)) {
            _ = try BundleDirectory.prepare(image: image, store: store, at: "\(theirs)/bundle", mode: .flatten)
        }
        #expect(throws: TrustedPathError.self) { _ = try CacheStore(root: theirs, syncBeforePublish: false) }
        #expect(try FileSystem.list(target).isEmpty)
        #expect(Self.mode(target) == 0o755)
    }

    @Test func aDirectoryInUseIsRefusedAndItsModeUntouched() throws {
        let scratch = ScratchDirectory("privacy")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let image = try BundlePrepareTests.makeImage(store, execution: .init(cmd: ["/app"]))

        let used = scratch.sub("used")
        Fixture.mkdirs(used)
        chmod(used, 0o755)
        Fixture.write("\(used)/notes", "mine")
        #expect(throws: PrivateDirectoryError.holdsOtherFiles(path: used, entry: "notes")) {
            _ = try BundleDirectory.prepare(image: image, store: store, at: used, mode: .flatten)
        }
        #expect(Self.mode(used) == 0o755)
        #expect(try FileSystem.list(used) == ["notes"])
        // A cache root that holds anything but a cache's parts is refused alike (`--cache-dir /usr`).
        #expect(throws: PrivateDirectoryError.holdsOtherFiles(path: used, entry: "notes")) {
            _ = try CacheStore(root: used, syncBeforePublish: false)
        }
        #expect(Self.mode(used) == 0o755)
        #expect(try FileSystem.list(used) == ["notes"])

        // An empty `rootfs/` left in a directory of our own is fine (as before); the directory is then tightened.
        let waiting = scratch.sub("waiting")
        Fixture.mkdirs("\(waiting)/rootfs")
        chmod(waiting, 0o755)
        _ = try BundleDirectory.prepare(image: image, store: store, at: waiting, mode: .flatten)
        #expect(Self.mode(waiting) == 0o700)
        #expect(CacheFiles.exists("\(waiting)/rootfs/app"))
    }

    @Test func aBundleInAStickyWorldWritableDirectoryIsOurs() throws {
        let scratch = ScratchDirectory("privacy")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let image = try BundlePrepareTests.makeImage(store, execution: .init(cmd: ["/app"]))
        // Like /tmp: anyone may create entries, but only an entry's owner may rename or remove it.
        let shared = scratch.sub("shared")
        Fixture.mkdirs(shared)
        chmod(shared, 0o1777)
        let prepared = try BundleDirectory.prepare(image: image, store: store, at: "\(shared)/a/bundle", mode: .flatten)
        #expect(prepared.bundlePath == "\(shared)/a/bundle")
        #expect(Self.mode("\(shared)/a/bundle") == 0o700)
        #expect(Self.mode("\(shared)/a").map { $0 & 0o022 } == 0)  // a missing parent: 0755 at most
        _ = try CacheStore(root: "\(shared)/cache", syncBeforePublish: false)
        #expect(Self.mode("\(shared)/cache") == 0o700)

        guard Fixture.isRoot else { return }
        // What another user made there first is theirs: as the bundle itself, or as a directory on the way.
        let squatted = "\(shared)/squatted"
        Fixture.mkdirs("\(squatted)/sub", mode: 0o777)
        chown(squatted, 65534, 65534)
        chown("\(squatted)/sub", 65534, 65534)
        #expect(throws: PrivateDirectoryError.ownedByAnotherUser(path: squatted, owner: 65534, user: 0)) {
            _ = try BundleDirectory.prepare(image: image, store: store, at: squatted, mode: .flatten)
        }
        #expect(throws: TrustedPathError.ancestorOwnedByAnotherUser(path: "\(squatted)/sub/bundle", ancestor: squatted,
                                                                    owner: 65534, user: 0)) {
            _ = try BundleDirectory.prepare(image: image, store: store, at: "\(squatted)/sub/bundle", mode: .flatten)
        }
        #expect(try FileSystem.list(squatted) == ["sub"])
        #expect(try FileSystem.list("\(squatted)/sub").isEmpty)
    }

    @Test func aBundleDirectorySwappedWhileFilledGetsNoConfig() throws {
        let scratch = ScratchDirectory("privacy")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let image = try BundlePrepareTests.makeImage(store, execution: .init(cmd: ["/app"]))
        let bundle = scratch.sub("bundle")
        let started = try BundleDirectory.begin(at: bundle)
        // Only root or the user can do this once the ancestors are trusted; the last check still catches it.
        #expect(rename(bundle, scratch.sub("moved")) == 0)
        Fixture.mkdirs(bundle)
        #expect(throws: BundleError.replaced(bundle)) {
            _ = try BundleDirectory.prepare(image: image, store: store, in: started, mode: .flatten)
        }
        #expect(try FileSystem.list(bundle).isEmpty)  // no config.json; the rootfs copy was taken apart
        #expect(try store.bundles().isEmpty)
    }
}
