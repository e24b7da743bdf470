// Streaming tar reading and writing, and gzip streams.
