import Glibc
import SystemIO
import Testing

@Suite struct SocketAddressTests {
    @Test func parsesIPv4IPv6AndAllInterfaces() throws {
        let v4 = try SocketAddress(parsing: "127.0.0.1:5000")
        #expect(v4.family == AF_INET && v4.port == 5000 && v4.description == "127.0.0.1:5000")
        let v6 = try SocketAddress(parsing: "[::1]:8080")
        #expect(v6.family == AF_INET6 && v6.port == 8080 && v6.description == "[::1]:8080")
        let any = try SocketAddress(parsing: ":80")
        #expect(any.host == "0.0.0.0" && any.port == 80)
        #expect(try SocketAddress(parsing: "localhost:1").port == 1)
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "[::1", "[::1]5000", "host:port"])
    func rejectsMalformedAddresses(text: String) {
        #expect(throws: AddressError.self) { try SocketAddress(parsing: text) }
    }

    @Test func listenOnPortZeroGetsARealPort() throws {
        let fd = try Socket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"))
        let bound = try Socket.localAddress(of: fd.rawValue)
        #expect(bound.port != 0)
    }
}
