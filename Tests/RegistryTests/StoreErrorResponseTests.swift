import BlobStore
import Glibc
@testable import Registry
import SystemIO
import Testing

/// How a store failure reaches a client: a full disk is 507 (the request was fine, nothing was stored); any
/// other I/O failure is 500 `UNKNOWN` naming the call and the reason, never the server's paths.
@Suite struct StoreErrorResponseTests {
    @Test func fullDiskIs507() {
        for code in [ENOSPC, EDQUOT] {
            let error = RegistryError(StoreError.io(SystemError("write /srv/registry/uploads/abc/data", errno: code)))
            #expect(error.status == 507)
            #expect(error.response.errors.first?.code == .unknown)
            let message = error.response.errors.first?.message ?? ""
            #expect(message.hasPrefix("storage full") && !message.contains("/srv"))
        }
    }

    @Test func otherFailuresAre500WithoutPaths() {
        let error = RegistryError(StoreError.io(SystemError("mkdir /srv/registry/uploads/abc", errno: EIO)))
        #expect(error.status == 500)
        let message = error.response.errors.first?.message ?? ""
        #expect(message.hasPrefix("storage error: mkdir: "))
        #expect(!message.contains("/srv"))
    }
}
