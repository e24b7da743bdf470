/// Single byte ranges of RFC 9110 §14.1.2: `bytes=first-last`, `bytes=first-`, `bytes=-suffix`.
public enum ByteRange {
    /// The requested range within a representation of `length` bytes.
    public enum Resolution: Equatable {
        /// Serve the whole representation (no usable Range: malformed, or several ranges).
        case whole
        case partial(ClosedRange<Int64>)
        case unsatisfiable
    }

    public static func resolve(_ header: String, length: Int64) -> Resolution {
        let text = header.trimmingSpaces
        guard text.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = text.dropFirst(6).trimmingSpaces
        // Several ranges would need multipart/byteranges; RFC 9110 lets a server ignore Range instead.
        if spec.contains(",") { return .whole }
        guard let dash = spec.firstIndex(of: "-") else { return .whole }
        let firstText = spec[..<dash], lastText = spec[spec.index(after: dash)...]
        func number(_ s: Substring) -> Int64? {
            guard !s.isEmpty, s.utf8.count <= 18, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int64(s)
        }
        if firstText.isEmpty {
            guard let suffix = number(lastText) else { return .whole }
            if suffix == 0 || length == 0 { return .unsatisfiable }
            return .partial(max(0, length - suffix)...(length - 1))
        }
        guard let first = number(firstText) else { return .whole }
        var last = length - 1
        if !lastText.isEmpty {
            guard let l = number(lastText) else { return .whole }
            if l < first { return .whole }
            last = min(l, length - 1)
        }
        if first >= length { return .unsatisfiable }
        return .partial(first...last)
    }

    /// Rewrites a complete 200 response as 206 or 416 according to `header`.
    public static func apply(_ header: String, to response: Response) -> Response {
        let length = response.body.count
        switch resolve(header, length: length) {
        case .whole:
            return response
        case .unsatisfiable:
            var headers = response.headers
            headers.remove("Content-Type")
            headers.set("Content-Range", "bytes */\(length)")
            return Response(status: .rangeNotSatisfiable, headers: headers)
        case .partial(let range):
            var out = response
            out.status = .partialContent
            out.headers.set("Content-Range", "bytes \(range.lowerBound)-\(range.upperBound)/\(length)")
            switch response.body {
            case .empty: break
            case .bytes(let b): out.body = .bytes(Array(b[Int(range.lowerBound)...Int(range.upperBound)]))
            case .file(let fd, let offset, _):
                out.body = .file(fd, offset: offset + range.lowerBound, length: range.upperBound - range.lowerBound + 1)
            case .stream(let stream, let whole):
                out.body = .stream(stream, range: (whole.lowerBound + range.lowerBound)..<(whole.lowerBound + range.upperBound + 1))
            }
            return out
        }
    }
}
