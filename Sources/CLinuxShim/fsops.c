#define _GNU_SOURCE
#include "fsops.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

const uint64_t swshim_RESOLVE_IN_ROOT = RESOLVE_IN_ROOT, swshim_RESOLVE_BENEATH = RESOLVE_BENEATH,
               swshim_RESOLVE_NO_MAGICLINKS = RESOLVE_NO_MAGICLINKS, swshim_RESOLVE_NO_SYMLINKS = RESOLVE_NO_SYMLINKS,
               swshim_RESOLVE_NO_XDEV = RESOLVE_NO_XDEV;
const int swshim_O_PATH = O_PATH, swshim_AT_EMPTY_PATH = AT_EMPTY_PATH;

int swshim_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int swshim_mknodat(int dirfd, const char *name, unsigned int mode, unsigned int major, unsigned int minor) {
    return mknodat(dirfd, name, (mode_t)mode, makedev(major, minor));
}

unsigned int swshim_major(uint64_t dev) { return major((dev_t)dev); }
unsigned int swshim_minor(uint64_t dev) { return minor((dev_t)dev); }

int swshim_fsetxattr(int fd, const char *name, const void *value, size_t size) {
    return fsetxattr(fd, name, value, size, 0);
}
ssize_t swshim_flistxattr(int fd, char *list, size_t size) { return flistxattr(fd, list, size); }
ssize_t swshim_fgetxattr(int fd, const char *name, void *value, size_t size) {
    return fgetxattr(fd, name, value, size);
}
int swshim_fremovexattr(int fd, const char *name) { return fremovexattr(fd, name); }

static int proc_path(char *out, size_t size, int dirfd, const char *name) {
    int n = snprintf(out, size, "/proc/self/fd/%d/%s", dirfd, name);
    if (n < 0 || (size_t)n >= size) { errno = ENAMETOOLONG; return -1; }
    return 0;
}

int swshim_lsetxattr_at(int dirfd, const char *name, const char *key, const void *value, size_t size) {
    char path[4200];
    if (proc_path(path, sizeof path, dirfd, name) != 0) return -1;
    return lsetxattr(path, key, value, size, 0);
}

ssize_t swshim_llistxattr_at(int dirfd, const char *name, char *list, size_t size) {
    char path[4200];
    if (proc_path(path, sizeof path, dirfd, name) != 0) return -1;
    return llistxattr(path, list, size);
}

ssize_t swshim_lgetxattr_at(int dirfd, const char *name, const char *key, void *value, size_t size) {
    char path[4200];
    if (proc_path(path, sizeof path, dirfd, name) != 0) return -1;
    return lgetxattr(path, key, value, size);
}
