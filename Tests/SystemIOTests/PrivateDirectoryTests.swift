import Glibc
import SystemIO
import Testing

/// `FileSystem.makePrivateDirectory`: swcopy stages verified blobs there, in a shared temporary folder, so a path
/// another user prepared (a symlink, a directory of theirs or one open to others) must be refused, not used.
@Suite struct PrivateDirectoryTests {
    let base = "/tmp/swr-private-\(getpid())-\(FileSystem.randomName())"

    @Test func createsWithParentsOwnerOnlyAndAcceptsItsOwnAgain() throws {
        defer { FileSystem.removeTree(base) }
        let path = base + "/a/staging"
        try FileSystem.makePrivateDirectory(path)
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_mode & 0o7777 == 0o700)
        try FileSystem.makePrivateDirectory(path)
    }

    @Test func refusesASymlinkAndADirectoryOpenToOthers() throws {
        defer { FileSystem.removeTree(base) }
        try FileSystem.makeDirectories(base + "/elsewhere")
        #expect(symlink(base + "/elsewhere", base + "/link") == 0)
        #expect(throws: SystemError.self) { try FileSystem.makePrivateDirectory(base + "/link") }
        #expect(mkdir(base + "/open", 0o755) == 0)
        _ = chmod(base + "/open", 0o777)
        #expect(throws: SystemError.self) { try FileSystem.makePrivateDirectory(base + "/open") }
    }

    @Test func refusesADirectoryOfAnotherUser() throws {
        guard geteuid() == 0 else { return }  // only root can give a directory away
        defer { FileSystem.removeTree(base) }
        try FileSystem.makeDirectories(base)
        #expect(mkdir(base + "/theirs", 0o700) == 0)
        #expect(chown(base + "/theirs", 65534, 65534) == 0)
        #expect(throws: SystemError.self) { try FileSystem.makePrivateDirectory(base + "/theirs") }
    }
}
