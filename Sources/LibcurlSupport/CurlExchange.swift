import CCurl

/// One transfer's state as libcurl's callbacks reach it (through an unretained pointer: see
/// `CurlOptions.setExchange`); subclasses override what their transfers use. Each callback returns what libcurl
/// expects of it: `true` to go on (false stops the transfer with `CURLE_WRITE_ERROR` or
/// `CURLE_ABORTED_BY_CALLBACK`), bytes written or `CURL_READFUNC_ABORT`, a `CURL_SEEKFUNC_*` code, 0 or 1.
open class CurlExchange {
    public init() {}

    /// A line of a response head, parsed.
    open func receiveHeader(_ line: CurlHeaderLine) -> Bool { true }
    /// A piece of the response body.
    open func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool { true }
    /// Fills `buffer` with the next request body bytes. - Returns: how many, 0 at the end.
    open func readBody(into buffer: UnsafeMutableRawBufferPointer) -> Int { 0 }
    /// Rewinds the request body to `offset` (`origin` is `SEEK_SET` in practice).
    open func seekBody(to offset: Int64, origin: Int32) -> Int32 { CurlExchange.cannotSeek }
    /// Called now and then during the transfer (with `setExchange(progress: true)`); nonzero stops it.
    open func progress() -> Int32 { 0 }

    /// `CURL_SEEKFUNC_OK`, `CURL_SEEKFUNC_FAIL`, `CURL_SEEKFUNC_CANTSEEK` (macros Swift does not import): libcurl
    /// fails the transfer on `fail`, and on `cannotSeek` tries other ways (or fails with `CURLE_SEND_FAIL_REWIND`).
    public static let seekOK: Int32 = 0, seekFailed: Int32 = 1, cannotSeek: Int32 = 2

    /// Copies `count` bytes of an in-memory body, from `start`, to `buffer`.
    public static func copy(_ bytes: [UInt8], from start: Int, count: Int, into buffer: UnsafeMutableRawBufferPointer) {
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + start, byteCount: count)
        }
    }
}

/// A line of a response head as libcurl hands it to the header callback (with its CR LF).
public enum CurlHeaderLine: Equatable {
    /// `HTTP/1.1 200 OK`: a response begins (again after a redirect or an interim 1xx); its status code.
    case status(Int)
    /// `Name: value`, both trimmed of spaces and tabs, the name as sent.
    case field(name: String, value: String)
    /// The empty line that ends a head.
    case end
    /// Anything else (no colon).
    case other

    public init(_ raw: UnsafeRawBufferPointer) {
        // Trim CR LF as bytes: in Swift "\r\n" is one Character, which a Character comparison would miss.
        var end = raw.count
        while end > 0, raw[end - 1] == 0x0D || raw[end - 1] == 0x0A { end -= 1 }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: raw[0..<end]), as: UTF8.self)
        if text.hasPrefix("HTTP/") {
            let parts = text.split(separator: " ", maxSplits: 2)
            self = .status(parts.count > 1 ? Int(parts[1]) ?? 0 : 0)
        } else if text.isEmpty {
            self = .end
        } else if let colon = text.firstIndex(of: ":") {
            self = .field(name: String(Self.trimmed(text[..<colon])),
                          value: String(Self.trimmed(text[text.index(after: colon)...])))
        } else {
            self = .other
        }
    }

    private static func trimmed(_ text: Substring) -> Substring {
        var s = text
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}

// MARK: - C callbacks (the user pointer is a `CurlExchange`, see `CurlOptions.setExchange`)

private func exchange(_ user: UnsafeMutableRawPointer?) -> CurlExchange {
    Unmanaged<CurlExchange>.fromOpaque(user!).takeUnretainedValue()
}

func curlHeaderCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                        _ user: UnsafeMutableRawPointer?) -> Int {
    exchange(user).receiveHeader(CurlHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))) ? size * count : 0
}

func curlWriteCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                       _ user: UnsafeMutableRawPointer?) -> Int {
    exchange(user).receiveBody(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
}

func curlReadCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                      _ user: UnsafeMutableRawPointer?) -> Int {
    exchange(user).readBody(into: UnsafeMutableRawBufferPointer(start: data, count: size * count))
}

func curlSeekCallback(_ user: UnsafeMutableRawPointer?, _ offset: curl_off_t, _ origin: Int32) -> Int32 {
    exchange(user).seekBody(to: Int64(offset), origin: origin)
}

func curlProgressCallback(_ user: UnsafeMutableRawPointer?, _ dlTotal: curl_off_t, _ dlNow: curl_off_t,
                          _ ulTotal: curl_off_t, _ ulNow: curl_off_t) -> Int32 {
    exchange(user).progress()
}
