#ifndef SWREGISTRY_MOUNTOPS_H
#define SWREGISTRY_MOUNTOPS_H
/* File-tree and mount calls for the layer cache and runtime bundles (LayerCache) that Swift's Glibc module does
 * not export, or exports without the flags we need. Declarations only: `_GNU_SOURCE` is defined in mountops.c. */
#include <stdint.h>
#include <sys/types.h>

/* mount(2) / umount2(2). */
int swshim_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data);
int swshim_umount2(const char *target, int flags);
extern const int swshim_MNT_DETACH;

/* ioctl(dst, FICLONE, src): share the source's extents (btrfs, xfs with reflink, bcachefs). */
int swshim_ficlone(int dst_fd, int src_fd);
/* copy_file_range(2) from the descriptors' current offsets; in-kernel copy (server-side on NFS, extent-sharing on
 * some filesystems). */
ssize_t swshim_copy_file_range(int in_fd, int out_fd, size_t length);

/* linkat(2) with flags 0: a symlink source is linked itself, never followed. */
int swshim_link_nofollow(const char *oldpath, const char *newpath);

/* Extended attributes on the path itself, never following a final symlink. */
ssize_t swshim_llistxattr(const char *path, char *list, size_t size);
ssize_t swshim_lgetxattr(const char *path, const char *name, void *value, size_t size);
int swshim_lsetxattr(const char *path, const char *name, const void *value, size_t size);

/* utimensat(AT_FDCWD, path, {atime, mtime}, AT_SYMLINK_NOFOLLOW). */
int swshim_set_times_nofollow(const char *path, int64_t atime_sec, int64_t atime_nsec,
                              int64_t mtime_sec, int64_t mtime_nsec);

/* openat2(root_fd, path, {flags | O_CLOEXEC, resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS}): `path` and every
 * symlink met on the way resolve as if `root_fd` were `/`, so nothing outside the tree can be reached. */
int swshim_open_in_root(int root_fd, const char *path, int flags);

/* swshim_syncfs is declared in fsops.h. */

#endif
