import CCurl

/// A transfer that produced no usable HTTP response: libcurl's error code and message, or why a callback
/// stopped it.
struct TransportError: Error, Sendable, CustomStringConvertible {
    /// Why the engine or a callback stopped the transfer.
    enum Abort: Sendable, Equatable {
        /// A response body went past the in-memory limit.
        case bodyTooLarge(limit: Int)
        /// The caller's task was cancelled.
        case cancelled
        /// The engine was shut down.
        case engineShutDown
        /// A sink stopped the transfer; the sink holds the reason.
        case sink
        /// The request body could not be read.
        case readFailed(errno: Int32)
    }

    var code: CURLcode
    var message: String
    var abort: Abort?

    /// Whether repeating the request may help: connections that failed, broke or stalled. TLS verification
    /// failures, bad URLs and aborts of our own are not retried.
    var isRetryable: Bool {
        if abort != nil { return false }
        return switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_PARTIAL_FILE,
             CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_HTTP2, CURLE_HTTP2_STREAM,
             CURLE_SSL_CONNECT_ERROR, CURLE_AGAIN, CURLE_WEIRD_SERVER_REPLY, CURLE_SEND_FAIL_REWIND:
            true
        default:
            false
        }
    }

    var description: String {
        if let abort {
            switch abort {
            case .bodyTooLarge(let limit): return "response body larger than \(limit) bytes"
            case .cancelled: return "cancelled"
            case .engineShutDown: return "transfer engine shut down"
            case .sink: return message
            case .readFailed(let errno): return "reading the request body failed (errno \(errno))"
            }
        }
        return message.isEmpty ? String(cString: curl_easy_strerror(code)) : message
    }
}
