import Glibc

/// The TLS material of a containers `certs.d`-style folder: extra CA certificates (`*.crt`) and a client
/// certificate pair (`*.cert` with the `*.key` of the same base name).
struct TLSFiles: Sendable {
    var caBundle: [UInt8]?
    var clientCertificate: String?
    var clientKey: String?

    /// Where distributions keep the system CA bundle; the first that exists is used.
    static let systemBundles = [
        "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem",
        "/etc/ssl/ca-bundle.pem",
    ]

    /// Reads a cert directory.
    /// - Returns: The material; an absent or empty directory gives no extra CAs and no client certificate.
    /// - Throws: A message naming the file that could not be read, or a `.cert` without its `.key`.
    static func load(directory: String?) throws(TLSFilesError) -> TLSFiles {
        guard let directory else { return TLSFiles() }
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return TLSFiles() }
            throw TLSFilesError("cannot read cert directory \(directory): \(String(cString: strerror(errno)))")
        }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(dir)
        names.sort()
        var files = TLSFiles()
        let cas = names.filter { $0.hasSuffix(".crt") }
        if !cas.isEmpty {
            var bundle: [UInt8] = []
            if let system = systemBundles.first(where: { access($0, R_OK) == 0 }) {
                bundle = try readFile(system)
                bundle.append(0x0A)
            }
            for name in cas {
                bundle += try readFile(directory + "/" + name)
                bundle.append(0x0A)
            }
            files.caBundle = bundle
        }
        if let cert = names.first(where: { $0.hasSuffix(".cert") }) {
            let key = String(cert.dropLast(5)) + ".key"
            guard names.contains(key) else {
                throw TLSFilesError("client certificate \(directory)/\(cert) has no matching key \(key)")
            }
            files.clientCertificate = directory + "/" + cert
            files.clientKey = directory + "/" + key
        } else if let key = names.first(where: { $0.hasSuffix(".key") }) {
            throw TLSFilesError("client key \(directory)/\(key) has no matching certificate \(key.dropLast(4)).cert")
        }
        return files
    }

    private static func readFile(_ path: String) throws(TLSFilesError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TLSFilesError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw TLSFilesError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            out += buffer[0..<n]
            if out.count > 16 << 20 { throw TLSFilesError("\(path) is larger than 16 MiB; not a certificate file") }
        }
        return out
    }
}

struct TLSFilesError: Error, Sendable, CustomStringConvertible {
    var message: String
    var description: String { message }
    init(_ message: String) { self.message = message }
}
