import Foundation
import Testing
@testable import OCIModel

@Suite("OCI error codes and responses")
struct OCIErrorTests {
    @Test("the fourteen distribution-spec codes, with their statuses", arguments: [
        (OCIErrorCode.blobUnknown, "BLOB_UNKNOWN", 404),
        (.blobUploadInvalid, "BLOB_UPLOAD_INVALID", 400),
        (.blobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404),
        (.digestInvalid, "DIGEST_INVALID", 400),
        (.manifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 400),
        (.manifestInvalid, "MANIFEST_INVALID", 400),
        (.manifestUnknown, "MANIFEST_UNKNOWN", 404),
        (.nameInvalid, "NAME_INVALID", 400),
        (.nameUnknown, "NAME_UNKNOWN", 404),
        (.sizeInvalid, "SIZE_INVALID", 400),
        (.unauthorized, "UNAUTHORIZED", 401),
        (.denied, "DENIED", 403),
        (.unsupported, "UNSUPPORTED", 405),
        (.tooManyRequests, "TOOMANYREQUESTS", 429),
    ])
    func specifiedCodes(_ code: OCIErrorCode, rawValue: String, status: Int) {
        #expect(code.rawValue == rawValue)
        #expect(code.status == status)
        #expect(OCIErrorCode.specified.contains(code))
        #expect(!code.defaultMessage.isEmpty)
    }

    @Test("the extras clients meet", arguments: [
        (OCIErrorCode.rangeInvalid, "RANGE_INVALID", 416),
        (.paginationNumberInvalid, "PAGINATION_NUMBER_INVALID", 400),
        (.tagInvalid, "TAG_INVALID", 400),
        (.manifestUnverified, "MANIFEST_UNVERIFIED", 400),
        (.unknown, "UNKNOWN", 500),
        (.unavailable, "UNAVAILABLE", 503),
    ])
    func extraCodes(_ code: OCIErrorCode, rawValue: String, status: Int) {
        #expect(code.rawValue == rawValue)
        #expect(code.status == status)
        #expect(OCIErrorCode.known.contains(code) && !OCIErrorCode.specified.contains(code))
    }

    @Test("code lists are complete and distinct")
    func lists() {
        #expect(OCIErrorCode.specified.count == 14)
        #expect(Set(OCIErrorCode.known).count == OCIErrorCode.known.count)
        #expect(OCIErrorCode.known.allSatisfy { $0.rawValue.allSatisfy { $0.isUppercase || $0 == "_" } })
    }

    @Test("messages follow the spec")
    func messages() {
        #expect(OCIErrorCode.blobUnknown.defaultMessage == "blob unknown to registry")
        #expect(OCIErrorCode.manifestUnknown.defaultMessage == "manifest unknown to registry")
        #expect(OCIErrorCode.tooManyRequests.defaultMessage == "too many requests")
        #expect(OCIErrorCode(rawValue: "QUOTA_EXCEEDED").defaultMessage == "quota exceeded")
    }

    @Test("only throttling and unavailability are retryable")
    func retryable() {
        #expect(OCIErrorCode.tooManyRequests.isRetryable)
        #expect(OCIErrorCode.unavailable.isRetryable)
        let permanent = OCIErrorCode.known.filter { $0 != .tooManyRequests && $0 != .unavailable }
        #expect(permanent.allSatisfy { !$0.isRetryable })
        #expect(OCIErrorResponse(.tooManyRequests).isRetryable)
        #expect(!OCIErrorResponse([OCIError(.tooManyRequests), OCIError(.denied)]).isRetryable)
        #expect(!OCIErrorResponse([]).isRetryable)
    }

    @Test("encodes the spec's envelope")
    func encodes() {
        let response = OCIErrorResponse(.blobUnknown, detail: ["digest": "sha256:abc"])
        #expect(String(decoding: response.encoded(), as: UTF8.self)
            == #"{"errors":[{"code":"BLOB_UNKNOWN","detail":{"digest":"sha256:abc"},"message":"blob unknown to registry"}]}"#)
        #expect(response.status == 404)
        #expect(response.encodedData() == Data(response.encoded()))
        let noDetail = OCIErrorResponse(.nameInvalid, message: "invalid repository name \"A\"")
        #expect(String(decoding: noDetail.encoded(), as: UTF8.self)
            == #"{"errors":[{"code":"NAME_INVALID","message":"invalid repository name \"A\""}]}"#)
    }

    @Test("never fails to encode, even with non-finite numbers in detail")
    func nonFinite() {
        let response = OCIErrorResponse(.unknown, detail: ["x": .number(.nan), "y": .number(.infinity)])
        let text = String(decoding: response.encoded(), as: UTF8.self)
        #expect(text.contains(#""x":null"#) && text.contains(#""y":null"#))
    }

    @Test("decodes what registries send, including codes it does not know")
    func decodes() throws {
        let body = #"""
        {"errors":[
          {"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"a","Action":"pull"}]},
          {"code":"VENDOR_SPECIFIC","detail":"free text"},
          {"code":"DENIED","message":"","detail":null},
          {"code":"SIZE_INVALID","message":"m","detail":{"n":1.5,"ok":true,"list":[1,"two",null]}}
        ]}
        """#
        let response = try OCIErrorResponse(decoding: bytes(body))
        #expect(response.errors.count == 4)
        #expect(response.status == 401)
        #expect(response.errors[0].code == .unauthorized)
        #expect(response.errors[0].detail == [["Type": "repository", "Name": "a", "Action": "pull"]])
        #expect(response.errors[1].code.rawValue == "VENDOR_SPECIFIC")
        #expect(response.errors[1].code.status == 500)
        #expect(response.errors[1].message == "")
        #expect(response.errors[1].detail == "free text")
        #expect(response.errors[2].detail == nil)  // null is absent, as for every optional field
        #expect(response.errors[3].detail == ["n": 1.5, "ok": true, "list": [1, "two", nil]])
        #expect(response.description.hasPrefix("UNAUTHORIZED: authentication required; VENDOR_SPECIFIC; DENIED"))
        #expect(try OCIErrorResponse(decoding: response.encodedData()) == response)
    }

    @Test("refuses bodies that are not the error envelope", arguments: [
        "<html>502 Bad Gateway</html>", "{}", #"{"errors":[{"message":"no code"}]}"#, "",
    ])
    func refuses(_ body: String) {
        #expect(throws: (any Error).self) { try OCIErrorResponse(decoding: bytes(body)) }
    }

    @Test("an error describes itself")
    func description() {
        #expect(OCIError(.manifestUnknown).description == "MANIFEST_UNKNOWN: manifest unknown to registry")
        #expect(OCIError(.denied, message: "").description == "DENIED")
    }
}
