extension HTTPHeaders {
    /// The fields in their wire form, computed once: see `prepared()`.
    final class Wire: Sendable {
        let bytes: [UInt8]

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }
    }

    /// A copy that carries its wire form (`name: value` CRLF per field, as `Connection` writes them), so that a
    /// response sent many times, such as a cached one, is not serialised field by field each time. Any change to
    /// the copy drops the wire form again.
    public func prepared() -> HTTPHeaders {
        var out: [UInt8] = []
        out.reserveCapacity(fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 })
        for (name, value) in fields where !Self.isEngineField(name) {
            Self.appendField(name, value, to: &out)
        }
        var copy = self
        copy.wire = Wire(out)
        return copy
    }

    /// Appends every field in wire form, except those the engine writes itself and those that could split the
    /// response.
    func appendWire(to out: inout [UInt8]) {
        if let wire {
            out.append(contentsOf: wire.bytes)
            return
        }
        for (name, value) in fields where !Self.isEngineField(name) {
            Self.appendField(name, value, to: &out)
        }
    }

    /// Fields the engine writes itself (Content-Length, Date, Connection, Transfer-Encoding), whatever a handler
    /// put in its headers.
    static func isEngineField(_ name: String) -> Bool {
        switch name.utf8.count {
        case 4: equalNames(name, "Date")
        case 10: equalNames(name, "Connection")
        case 14: equalNames(name, "Content-Length")
        case 17: equalNames(name, "Transfer-Encoding")
        default: false
        }
    }

    /// Appends `name: value` CRLF, unless the field could split the response (header injection): a value with
    /// CR or LF, or a name that is empty or holds a space, a control character or a colon, is dropped.
    static func appendField(_ name: String, _ value: String, to out: inout [UInt8]) {
        var name = name, value = value
        name.withUTF8 { n in
            value.withUTF8 { v in
                for c in n where c <= 0x20 || c == 0x3A { return }
                for c in v where c == 0x0D || c == 0x0A { return }
                if n.isEmpty { return }
                out.append(contentsOf: n)
                out.append(0x3A)
                out.append(0x20)
                out.append(contentsOf: v)
                out.append(0x0D)
                out.append(0x0A)
            }
        }
    }
}
