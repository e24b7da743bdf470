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

#endif
