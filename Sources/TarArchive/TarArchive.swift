// TarArchive: streaming tar reading and writing (ustar, PAX, GNU long names, base-256 numbers), gzip streams (zstd read through a run-time loaded libzstd), and
// deterministic layer building from a directory. Nothing here holds a whole archive or entry in memory.
//
//   source (fd) ─▶ HashingSource (blob digest) ─▶ Decompressor ─▶ HashingSource (diffID) ─▶ TarReader ─▶ entries
//   entries ─▶ TarWriter ─▶ HashingSink (diffID) ─▶ GzipDeflater ─▶ HashingSink (blob digest) ─▶ fd
