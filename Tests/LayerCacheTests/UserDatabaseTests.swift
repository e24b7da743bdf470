import Glibc
import Testing
@testable import LayerCache

@Suite("UserDatabase: Config.User resolution (conversion.md)")
struct UserDatabaseTests {
    static let passwd = """
        root:x:0:0:root:/root:/bin/sh
        # a comment
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

        alice:x:1000:1000:Alice:/home/alice:/bin/sh
        +nisuser::::::
        broken:x:notanumber:1::/:/bin/sh
        nginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin
        """
    static let group = """
        root:x:0:
        wheel:x:10:root,alice
        alice:x:1000:
        staff:x:50:alice, nginx
        nginx:x:101:
        audio:x:29:alice
        """
    let db = UserDatabase(users: UserDatabase.parsePasswd(passwd), groups: UserDatabase.parseGroup(group))

    @Test func parsesAndSkipsCommentsNISAndMalformedLines() {
        #expect(db.users?.map(\.name) == ["root", "daemon", "alice", "nginx"])
        #expect(db.groups?.first { $0.name == "staff" }?.members == ["alice", "nginx"])
    }

    @Test func emptyUserIsRoot() throws {
        #expect(try db.resolve("") == .init(uid: 0, gid: 0))
    }

    @Test func numericForms() throws {
        // A uid with a passwd entry takes its primary gid; numbers never add supplementary groups (conversion.md).
        #expect(try db.resolve("1000") == .init(uid: 1000, gid: 1000))
        #expect(try db.resolve("4242") == .init(uid: 4242, gid: 0))
        #expect(try db.resolve("1000:50") == .init(uid: 1000, gid: 50))
        #expect(try db.resolve("4242:4343") == .init(uid: 4242, gid: 4343))
    }

    @Test func namesResolveWithSupplementaryGroups() throws {
        #expect(try db.resolve("alice") == .init(uid: 1000, gid: 1000, additionalGids: [10, 50, 29]))
        #expect(try db.resolve("nginx") == .init(uid: 101, gid: 101, additionalGids: [50]))
        // An explicit group: that gid, and no supplementary groups.
        #expect(try db.resolve("alice:staff") == .init(uid: 1000, gid: 50))
        #expect(try db.resolve("1000:staff") == .init(uid: 1000, gid: 50))
        #expect(try db.resolve("nginx:0") == .init(uid: 101, gid: 0))
    }

    @Test func unknownNamesAndMalformedSpecsAreErrors() {
        #expect(throws: UserDatabaseError.unknownUser("bob")) { try db.resolve("bob") }
        #expect(throws: UserDatabaseError.unknownGroup("nogroup")) { try db.resolve("alice:nogroup") }
        #expect(throws: UserDatabaseError.malformed("alice:")) { try db.resolve("alice:") }
        #expect(throws: UserDatabaseError.malformed(":50")) { try db.resolve(":50") }
        #expect(throws: UserDatabaseError.malformed("a:b:c")) { try db.resolve("a:b:c") }
        // 4294967295 is (uid_t)-1: not a valid id, so it is taken as a name, which is unknown.
        #expect(throws: UserDatabaseError.unknownUser("4294967295")) { try db.resolve("4294967295") }
    }

    @Test func missingFilesOnlyMatterForNames() throws {
        let scratch = ScratchDirectory("users")
        let rootfs = scratch.sub("rootfs")
        Fixture.mkdirs(rootfs)
        let empty = try UserDatabase.load(rootfs: rootfs)
        #expect(empty.users == nil && empty.groups == nil)
        #expect(try empty.resolve("1000:1000") == .init(uid: 1000, gid: 1000))
        #expect(try empty.resolve("1000") == .init(uid: 1000, gid: 0))
        #expect(throws: UserDatabaseError.noPasswdFile(user: "alice")) { try empty.resolve("alice") }
        #expect(throws: UserDatabaseError.noGroupFile(group: "staff")) { try empty.resolve("0:staff") }
    }

    @Test func loadsTheImageFiles() throws {
        let scratch = ScratchDirectory("users")
        let rootfs = scratch.sub("rootfs")
        Fixture.mkdirs("\(rootfs)/etc")
        Fixture.write("\(rootfs)/etc/passwd", Self.passwd)
        Fixture.write("\(rootfs)/etc/group", Self.group)
        let loaded = try UserDatabase.load(rootfs: rootfs)
        #expect(loaded == db)
    }

    /// A hostile image whose /etc/passwd and /etc/group are symlinks to files outside its rootfs: they resolve
    /// inside the rootfs (where the targets do not exist), so the host's files are never read.
    @Test func symlinksOutOfTheRootfsAreNotFollowed() throws {
        let scratch = ScratchDirectory("users")
        let host = scratch.sub("host")
        Fixture.mkdirs(host)
        Fixture.write("\(host)/passwd", "evil:x:4242:4242::/:/bin/sh\n")
        Fixture.write("\(host)/group", "evil:x:4242:evil\n")
        let rootfs = scratch.sub("rootfs")
        Fixture.mkdirs("\(rootfs)/etc")
        #expect(Glibc.symlink("\(host)/passwd", "\(rootfs)/etc/passwd") == 0)  // absolute, pointing at the host
        #expect(Glibc.symlink("../../../../../../../../..\(host)/group", "\(rootfs)/etc/group") == 0)  // climbing out
        let loaded = try UserDatabase.load(rootfs: rootfs)
        #expect(loaded.users == nil)
        #expect(loaded.groups == nil)
        #expect(throws: UserDatabaseError.noPasswdFile(user: "evil")) { try loaded.resolve("evil") }

        // A symlinked /etc directory climbing out is clamped to the rootfs too.
        let rootfs2 = scratch.sub("rootfs2")
        Fixture.mkdirs(rootfs2)
        #expect(Glibc.symlink("../../../../../../..\(host)", "\(rootfs2)/etc") == 0)
        #expect(try UserDatabase.load(rootfs: rootfs2).users == nil)
    }

    /// Absolute symlinks *inside* an image (common: /etc/passwd → /usr/lib/passwd) resolve against the rootfs.
    @Test func absoluteSymlinksResolveInsideTheRootfs() throws {
        let scratch = ScratchDirectory("users")
        let rootfs = scratch.sub("rootfs")
        Fixture.mkdirs("\(rootfs)/etc")
        Fixture.mkdirs("\(rootfs)/usr/lib")
        Fixture.write("\(rootfs)/usr/lib/passwd", "app:x:777:778::/:/bin/sh\n")
        #expect(Glibc.symlink("/usr/lib/passwd", "\(rootfs)/etc/passwd") == 0)
        #expect(try UserDatabase.load(rootfs: rootfs).resolve("app") == .init(uid: 777, gid: 778))
    }

    @Test func aFifoIsRefusedWithoutHanging() throws {
        let scratch = ScratchDirectory("users")
        let rootfs = scratch.sub("rootfs")
        Fixture.mkdirs("\(rootfs)/etc")
        #expect(mkfifo("\(rootfs)/etc/passwd", 0o644) == 0)
        #expect(throws: UserDatabaseError.self) { try UserDatabase.load(rootfs: rootfs) }
    }
}
