// Image sources and destinations (docker://, oci:, dir:, oci-archive:) and the copier between them.
