#ifndef SWREGISTRY_CLINUXSHIM_FSOPS_H
#define SWREGISTRY_CLINUXSHIM_FSOPS_H
/* Filesystem calls for safe layer unpacking that Swift's Glibc module lacks or hides behind `_GNU_SOURCE`
 * (openat2 and its RESOLVE_* flags, O_PATH, the xattr family, makedev). Implemented in fsops.c. */
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

/* openat2(2) through syscall(2): glibc 2.36 has no wrapper. Returns a descriptor or -1 with errno set. */
int swshim_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
extern const uint64_t swshim_RESOLVE_IN_ROOT, swshim_RESOLVE_BENEATH, swshim_RESOLVE_NO_MAGICLINKS,
    swshim_RESOLVE_NO_SYMLINKS, swshim_RESOLVE_NO_XDEV;
extern const int swshim_O_PATH, swshim_AT_EMPTY_PATH;

/* syncfs(2): flush the whole filesystem holding fd (cheaper than an fsync per unpacked file). */
int swshim_syncfs(int fd);

/* mknodat with the device number built from its parts (makedev is a macro). */
int swshim_mknodat(int dirfd, const char *name, unsigned int mode, unsigned int major, unsigned int minor);
unsigned int swshim_major(uint64_t dev);
unsigned int swshim_minor(uint64_t dev);

/* Extended attributes on an open descriptor. */
int swshim_fsetxattr(int fd, const char *name, const void *value, size_t size);
ssize_t swshim_flistxattr(int fd, char *list, size_t size);
ssize_t swshim_fgetxattr(int fd, const char *name, void *value, size_t size);
int swshim_fremovexattr(int fd, const char *name);
/* Extended attributes on `name` inside the directory `dirfd`, without following `name` if it is a symlink
 * (through /proc/self/fd/<dirfd>/<name>, so the parent is never resolved again by path). */
int swshim_lsetxattr_at(int dirfd, const char *name, const char *key, const void *value, size_t size);
ssize_t swshim_llistxattr_at(int dirfd, const char *name, char *list, size_t size);
ssize_t swshim_lgetxattr_at(int dirfd, const char *name, const char *key, void *value, size_t size);

/* lseek(2) with SEEK_DATA / SEEK_HOLE (GNU constants): the offset of the next data (or hole) at or after `offset`;
 * -1 with errno ENXIO when there is no data at or after it. Every file ends in an implicit hole at its size. */
int64_t swshim_seek_data(int fd, int64_t offset);
int64_t swshim_seek_hole(int fd, int64_t offset);

/* Whether the `size` bytes at `bytes` are all zero (memcmp-fast; sparse writers test every block). */
int swshim_is_zero(const void *bytes, size_t size);

/* zstd decompression through libzstd.so.1, loaded with dlopen on first use: no build-time dependency, and every
 * Debian system has the library (dpkg depends on it). */
int swshim_zstd_available(void);
void *swshim_zstd_create(void);
void swshim_zstd_free(void *stream);
/* One ZSTD_decompressStream step. Returns 0 when a frame is complete and flushed, a positive hint when more input
 * is expected, or -1 with *error set to libzstd's message. */
long swshim_zstd_decompress(void *stream, const void *src, size_t src_size, size_t *src_pos, void *dst,
                            size_t dst_size, size_t *dst_pos, const char **error);

#endif
