import COpenSSL

/// The few DER structures JOSE needs (X.690): SubjectPublicKeyInfo for JWKs, ECDSA-Sig-Value for ES256.
enum DER {
    static func length(_ n: Int) -> [UInt8] {
        if n < 0x80 { return [UInt8(n)] }
        var bytes: [UInt8] = []
        var v = n
        while v > 0 { bytes.insert(UInt8(v & 0xFF), at: 0); v >>= 8 }
        return [0x80 | UInt8(bytes.count)] + bytes
    }
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] { [tag] + length(content.count) + content }
    static func sequence(_ items: [[UInt8]]) -> [UInt8] { tlv(0x30, items.flatMap { $0 }) }
    static func bitString(_ content: [UInt8]) -> [UInt8] { tlv(0x03, [0] + content) }
    /// A non-negative INTEGER from big-endian magnitude bytes: minimal, with a 0 byte when the top bit is set.
    static func integer(_ magnitude: [UInt8]) -> [UInt8] {
        var m = Array(magnitude.drop { $0 == 0 })
        if m.isEmpty || m[0] & 0x80 != 0 { m.insert(0, at: 0) }
        return tlv(0x02, m)
    }

    /// AlgorithmIdentifier rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters.
    static let rsaAlgorithm: [UInt8] = [0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01,
                                        0x05, 0x00]
    /// SubjectPublicKeyInfo of an id-ecPublicKey on prime256v1, up to the 65-byte uncompressed point.
    static let p256Prefix: [UInt8] = [0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01,
                                      0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00]
    /// SubjectPublicKeyInfo of an Ed25519 key (RFC 8410), up to the 32-byte key.
    static let ed25519Prefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

    /// JOSE r || s → DER ECDSA-Sig-Value.
    static func ecdsaSignature(raw: [UInt8]) -> [UInt8]? {
        let half = raw.count / 2
        return sequence([integer(Array(raw[..<half])), integer(Array(raw[half...]))])
    }

    /// DER ECDSA-Sig-Value → JOSE r || s, each left-padded to `size` bytes.
    static func rawSignature(der: [UInt8], size: Int) -> [UInt8]? {
        let sig: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, buffer.count)
        }
        guard let sig else { return nil }
        defer { ECDSA_SIG_free(sig) }
        var out = [UInt8](repeating: 0, count: 2 * size)
        let ok = out.withUnsafeMutableBufferPointer { buffer in
            BN_bn2binpad(ECDSA_SIG_get0_r(sig), buffer.baseAddress, Int32(size)) == Int32(size)
                && BN_bn2binpad(ECDSA_SIG_get0_s(sig), buffer.baseAddress! + size, Int32(size)) == Int32(size)
        }
        return ok ? out : nil
    }
}
