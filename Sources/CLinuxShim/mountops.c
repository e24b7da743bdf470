#define _GNU_SOURCE
#include "mountops.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

const int swshim_MNT_DETACH = MNT_DETACH;

int swshim_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data) {
    return mount(source, target, fstype, flags, data);
}

int swshim_umount2(const char *target, int flags) { return umount2(target, flags); }

int swshim_ficlone(int dst_fd, int src_fd) { return ioctl(dst_fd, FICLONE, src_fd); }

ssize_t swshim_copy_file_range(int in_fd, int out_fd, size_t length) {
    return copy_file_range(in_fd, NULL, out_fd, NULL, length, 0);
}

int swshim_link_nofollow(const char *oldpath, const char *newpath) {
    return linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

ssize_t swshim_llistxattr(const char *path, char *list, size_t size) { return llistxattr(path, list, size); }

ssize_t swshim_lgetxattr(const char *path, const char *name, void *value, size_t size) {
    return lgetxattr(path, name, value, size);
}

int swshim_lsetxattr(const char *path, const char *name, const void *value, size_t size) {
    return lsetxattr(path, name, value, size, 0);
}

int swshim_set_times_nofollow(const char *path, int64_t atime_sec, int64_t atime_nsec,
                              int64_t mtime_sec, int64_t mtime_nsec) {
    struct timespec times[2] = {
        { .tv_sec = (time_t)atime_sec, .tv_nsec = (long)atime_nsec },
        { .tv_sec = (time_t)mtime_sec, .tv_nsec = (long)mtime_nsec },
    };
    return utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW);
}

int swshim_open_in_root(int root_fd, const char *path, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
}

