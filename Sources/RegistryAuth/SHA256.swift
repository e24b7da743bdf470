import COpenSSL

/// SHA-256 of some bytes (libcrypto's one-shot digest).
func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
    // Contiguous input (a String's or Substring's UTF-8, an Array) is hashed in place: this runs for every request
    // that carries a token, and an element-by-element copy of ~1 KiB cost more than the hash itself.
    if let digest = bytes.withContiguousStorageIfAvailable({ sha256(UnsafeRawBufferPointer($0)) }) { return digest }
    return Array(bytes).withUnsafeBytes { sha256($0) }
}

/// SHA-256 fetched once: `EVP_sha256()` makes OpenSSL 3 look the algorithm up in its provider table (a lock and a
/// hash lookup) on every digest, which showed in the per-request profile of token checks.
nonisolated(unsafe) private let sha256Method: OpaquePointer? = EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256()

func sha256(_ input: UnsafeRawBufferPointer) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    let ok = digest.withUnsafeMutableBufferPointer { out in
        EVP_Digest(input.baseAddress, input.count, out.baseAddress, &length, sha256Method, nil)
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
