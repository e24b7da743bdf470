import Testing
@testable import S3Storage

@Suite("XMLElement")
struct XMLElementTests {
    @Test("parses an S3 error document")
    func errorDocument() throws {
        let text = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message>\
            <Resource>/mybucket/myfoto.jpg</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>
            """
        let root = try #require(XMLElement.parse(Array(text.utf8)))
        #expect(root.name == "Error")
        #expect(root.text(of: "Code") == "NoSuchKey")
        #expect(root.text(of: "Message") == "The resource you requested does not exist")
        #expect(root.text(of: "Missing") == nil)
        let error = S3Error.fromResponse(status: 404, body: Array(text.utf8), requestID: nil)
        #expect(error == .service(status: 404, code: "NoSuchKey", message: "The resource you requested does not exist",
                                  requestID: "4442587FB7D0A2F9"))
        #expect(error.isNotFound)
    }

    @Test("a listing: namespaces, repeated children, entities, CDATA, comments")
    func listing() throws {
        let text = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment <with> markup -->
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <IsTruncated>true</IsTruncated>
              <Contents><Key>a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos;</Key><Size>12</Size>\
            <ETag>&quot;abc&quot;</ETag></Contents>
              <s3:Contents xmlns:s3="x"><s3:Key>&#x41;&#66;&#x1F600;</s3:Key><Size>0</Size></s3:Contents>
              <CommonPrefixes><Prefix><![CDATA[p/<raw>&amp;/]]></Prefix></CommonPrefixes>
              <Empty/>
              <NextContinuationToken>tok</NextContinuationToken>
            </ListBucketResult>
            """
        let root = try #require(XMLElement.parse(Array(text.utf8)))
        #expect(root.name == "ListBucketResult")
        let contents = root.children("Contents")
        #expect(contents.count == 2)
        #expect(contents[0].text(of: "Key") == "a&b <c> \"d\" 'e'")
        #expect(contents[0].text(of: "ETag") == "\"abc\"")
        #expect(contents[1].text(of: "Key") == "AB😀")
        #expect(root.child("CommonPrefixes")?.text(of: "Prefix") == "p/<raw>&amp;/")
        #expect(root.child("Empty")?.text == "")
        #expect(root.text(of: "NextContinuationToken") == "tok")
    }

    @Test("a doctype with an internal subset is skipped, its entities not honoured")
    func doctype() {
        let text = """
            <?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol]>"><!ENTITY lol2 "&lol;&lol;">]>\
            <a>&lol2;</a>
            """
        #expect(XMLElement.parse(Array(text.utf8)) == nil)
        let plain = "<!DOCTYPE a [<!ENTITY x \"y\">]><a>ok</a>"
        #expect(XMLElement.parse(Array(plain.utf8))?.text == "ok")
    }

    @Test("malformed documents give nil", arguments: [
        "", "   ", "text", "<a>", "<a></b>", "</a>", "<a><b></a></b>", "<a></a><b></b>", "<a></a>trailing",
        "<a>&unknown;</a>", "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#x110000;</a>", "<a>& bare</a>", "<a>&#;</a>",
        "<a>&#x;</a>", "<a>&#99999999999999;</a>", "<a b=c></a>", "<a b=\"c></a>", "<a b></a>", "<!-- open",
        "<? open", "<a><![CDATA[open</a>", "<>", "< a></a>", "<a/><a/>", "<a>&amp</a>", "text<a></a>",
        "<!DOCTYPE x", "<a></a><!DOCTYPE x>", "<![CDATA[x]]>",
    ])
    func malformed(_ text: String) {
        #expect(XMLElement.parse(Array(text.utf8)) == nil, "accepted: \(text)")
    }

    @Test("nesting beyond the depth limit is refused without recursion")
    func deepNesting() {
        let deep = String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000)
        #expect(XMLElement.parse(Array(deep.utf8)) == nil)
        let ok = String(repeating: "<a>", count: 60) + "x" + String(repeating: "</a>", count: 60)
        #expect(XMLElement.parse(Array(ok.utf8)) != nil)
    }

    @Test("too many elements are refused")
    func tooMany() {
        let many = "<r>" + String(repeating: "<e/>", count: XMLElement.maximumElements) + "</r>"
        #expect(XMLElement.parse(Array(many.utf8)) == nil)
    }

    @Test("invalid UTF-8 does not crash and is replaced")
    func invalidUTF8() throws {
        let bytes: [UInt8] = Array("<a>".utf8) + [0xFF, 0xC3] + Array("</a>".utf8)
        let root = try #require(XMLElement.parse(bytes))
        #expect(root.text.unicodeScalars.allSatisfy { $0 == "\u{FFFD}" })
    }

    /// Random bytes, and valid documents with random bytes changed, cut or repeated: the parser returns something
    /// or nil, and never traps (a crash fails the whole test run).
    @Test("fuzz: any bytes parse or give nil, never crash")
    func fuzz() {
        var random = SystemRandomNumberGenerator()
        let seeds = [
            "<?xml version=\"1.0\"?><ListBucketResult><Contents><Key>a&amp;b</Key><Size>1</Size></Contents>"
                + "<CommonPrefixes><Prefix><![CDATA[x]]></Prefix></CommonPrefixes><!-- c --></ListBucketResult>",
            "<Error><Code>SlowDown</Code><Message>&#x41;&lt;</Message></Error>",
            "<!DOCTYPE a [<!ENTITY x \"]>\">]><a b='1' c=\"2\"><b/></a>",
        ].map { Array($0.utf8) }
        let alphabet = Array("<>/!?[]&;#x=\"' -CDATA".utf8)
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 4 == 0 {
                bytes = (0..<Int.random(in: 0...200, using: &random)).map { _ in
                    Bool.random(using: &random) ? alphabet.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
                }
            } else {
                bytes = seeds.randomElement(using: &random)!
                for _ in 0..<Int.random(in: 1...6, using: &random) where !bytes.isEmpty {
                    let i = Int.random(in: 0..<bytes.count, using: &random)
                    switch Int.random(in: 0..<4, using: &random) {
                    case 0: bytes[i] = alphabet.randomElement(using: &random)!
                    case 1: bytes.remove(at: i)
                    case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: i)
                    default: bytes = Array(bytes[..<i])
                    }
                }
            }
            _ = XMLElement.parse(bytes)
            _ = S3Error.fromResponse(status: 500, body: bytes, requestID: nil)
        }
    }

    @Test("an error body that is not an S3 document keeps the status")
    func foreignBodies() {
        let html = Array("<html><body><h1>502 Bad Gateway</h1></body></html>".utf8)
        #expect(S3Error.fromResponse(status: 502, body: html, requestID: "r")
            == .service(status: 502, code: "HTTP502", message: "", requestID: "r"))
        #expect(S3Error.fromResponse(status: 503, body: [], requestID: nil)
            == .service(status: 503, code: "ServiceUnavailable", message: "", requestID: nil))
        #expect(S3Error.fromResponse(status: 503, body: [], requestID: nil).isRetryable)
        #expect(!S3Error.fromResponse(status: 403, body: [], requestID: nil).isRetryable)
    }
}
