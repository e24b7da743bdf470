import COpenSSL

/// SHA-256 of some bytes (libcrypto's one-shot digest).
func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
    let input = Array(bytes)
    var digest = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    let ok = input.withUnsafeBytes { raw in
        digest.withUnsafeMutableBufferPointer { out in
            EVP_Digest(raw.baseAddress, raw.count, out.baseAddress, &length, EVP_sha256(), nil)
        }
    }
    precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
    return digest
}

/// SHA-256 of several fields, each prefixed by its length so that ("ab","c") and ("a","bc") differ.
func sha256(fields: [[UInt8]]) -> [UInt8] {
    var framed: [UInt8] = []
    for field in fields {
        let count = UInt64(field.count)
        for shift in stride(from: 56, through: 0, by: -8) { framed.append(UInt8(truncatingIfNeeded: count >> UInt64(shift))) }
        framed.append(contentsOf: field)
    }
    return sha256(framed)
}
