#define _GNU_SOURCE
#include "fsops.h"
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
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

int swshim_syncfs(int fd) { return syncfs(fd); }

int64_t swshim_seek_data(int fd, int64_t offset) { return lseek(fd, offset, SEEK_DATA); }
int64_t swshim_seek_hole(int fd, int64_t offset) { return lseek(fd, offset, SEEK_HOLE); }

int swshim_is_zero(const void *bytes, size_t size) {
    const unsigned char *p = bytes;
    /* The first 16 bytes one by one; then the block equals itself shifted by 16 only if it is all zeros. */
    size_t head = size < 16 ? size : 16;
    for (size_t i = 0; i < head; i++) if (p[i]) return 0;
    return size <= 16 || memcmp(p, p + 16, size - 16) == 0;
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

/* The stable part of the zstd ABI (zstd.h, "streaming decompression"), declared here so no header is needed. */
typedef struct { const void *src; size_t size; size_t pos; } sw_zstd_in;
typedef struct { void *dst; size_t size; size_t pos; } sw_zstd_out;
static void *(*zstd_create)(void);
static size_t (*zstd_free)(void *);
static size_t (*zstd_init)(void *);
static size_t (*zstd_decompress)(void *, sw_zstd_out *, sw_zstd_in *);
static unsigned (*zstd_is_error)(size_t);
static const char *(*zstd_error_name)(size_t);
static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;
static int zstd_loaded;

static void zstd_load(void) {
    void *lib = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    zstd_create = (void *(*)(void))dlsym(lib, "ZSTD_createDStream");
    zstd_free = (size_t (*)(void *))dlsym(lib, "ZSTD_freeDStream");
    zstd_init = (size_t (*)(void *))dlsym(lib, "ZSTD_initDStream");
    zstd_decompress = (size_t (*)(void *, sw_zstd_out *, sw_zstd_in *))dlsym(lib, "ZSTD_decompressStream");
    zstd_is_error = (unsigned (*)(size_t))dlsym(lib, "ZSTD_isError");
    zstd_error_name = (const char *(*)(size_t))dlsym(lib, "ZSTD_getErrorName");
    zstd_loaded = zstd_create && zstd_free && zstd_init && zstd_decompress && zstd_is_error && zstd_error_name;
}

int swshim_zstd_available(void) {
    pthread_once(&zstd_once, zstd_load);
    return zstd_loaded;
}

void *swshim_zstd_create(void) {
    if (!swshim_zstd_available()) return NULL;
    void *stream = zstd_create();
    if (stream && zstd_is_error(zstd_init(stream))) {
        zstd_free(stream);
        return NULL;
    }
    return stream;
}

void swshim_zstd_free(void *stream) {
    if (stream && swshim_zstd_available()) zstd_free(stream);
}

long swshim_zstd_decompress(void *stream, const void *src, size_t src_size, size_t *src_pos, void *dst,
                            size_t dst_size, size_t *dst_pos, const char **error) {
    sw_zstd_in in = { src, src_size, *src_pos };
    sw_zstd_out out = { dst, dst_size, *dst_pos };
    size_t r = zstd_decompress(stream, &out, &in);
    *src_pos = in.pos;
    *dst_pos = out.pos;
    if (zstd_is_error(r)) {
        *error = zstd_error_name(r);
        return -1;
    }
    return r > (size_t)0x7fffffff ? 0x7fffffff : (long)r;
}
