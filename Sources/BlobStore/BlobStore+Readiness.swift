import Glibc

extension BlobStore {
    /// Why the store cannot take writes now, nil when it can (`/readyz`): a test write in `tmp/`.
    public func readinessProblem() -> String? {
        Self.writeTest(in: layout.tmpDirectory)
    }

    /// Creates, writes one byte to and unlinks a file in `directory`; nil when all three worked, else which
    /// failed and why (the reason names no path: `/readyz` answers anyone).
    public static func writeTest(in directory: String) -> String? {
        let path = "\(directory)/.readyz-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "storage not writable: cannot create a file in tmp/: \(reason(errno))" }
        var byte: UInt8 = 0x0A
        let written = write(fd, &byte, 1)
        let writeErrno = errno
        close(fd)
        let unlinked = Glibc.unlink(path)
        let unlinkErrno = errno
        if written != 1 { return "storage not writable: cannot write to a file in tmp/: \(reason(writeErrno))" }
        if unlinked != 0 { return "storage not writable: cannot remove a file in tmp/: \(reason(unlinkErrno))" }
        return nil
    }

    private static func reason(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
