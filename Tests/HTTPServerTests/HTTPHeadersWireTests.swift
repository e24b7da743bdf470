@testable import HTTPServer
import Testing

@Suite struct HTTPHeadersWireTests {
    private func wire(_ headers: HTTPHeaders) -> String {
        var out: [UInt8] = []
        headers.appendWire(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func preparedHeadersWriteTheSameBytes() {
        let headers: HTTPHeaders = [
            "Content-Type": "application/json", "ETag": "\"sha256:00\"", "content-length": "99",
            "Connection": "keep-alive", "Date": "yesterday", "Transfer-Encoding": "chunked", "X-Empty": "",
        ]
        let expected = "Content-Type: application/json\r\nETag: \"sha256:00\"\r\nX-Empty: \r\n"
        #expect(wire(headers) == expected, "engine fields are left to the engine")
        let prepared = headers.prepared()
        #expect(prepared.wire != nil)
        #expect(wire(prepared) == expected)
        #expect(prepared["Content-Length"] == "99", "look-ups still see every field")
    }

    @Test func fieldsThatCouldSplitTheResponseAreDropped() {
        let headers = HTTPHeaders([("X-Bad", "a\r\nSet-Cookie: x=1"), ("Bad Name", "v"), ("X:Colon", "v"), ("", "v"),
                                   ("X-Lf", "a\nb"), ("X-Good", "ok")]).prepared()
        #expect(wire(headers) == "X-Good: ok\r\n")
    }

    @Test func aChangeDropsTheWireForm() {
        var headers = HTTPHeaders([("A", "1")]).prepared()
        headers.add("B", "2")
        #expect(headers.wire == nil)
        #expect(wire(headers) == "A: 1\r\nB: 2\r\n")
        var other = HTTPHeaders([("A", "1")]).prepared()
        other.set("A", "3")
        #expect(wire(other) == "A: 3\r\n")
        var removed = HTTPHeaders([("A", "1"), ("B", "2")]).prepared()
        removed.remove("a")
        #expect(wire(removed) == "B: 2\r\n")
    }
}
