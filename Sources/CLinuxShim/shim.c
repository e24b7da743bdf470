#define _GNU_SOURCE
#include "CLinuxShim.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

const int swshim_EPOLL_CTL_ADD = EPOLL_CTL_ADD, swshim_EPOLL_CTL_MOD = EPOLL_CTL_MOD, swshim_EPOLL_CTL_DEL = EPOLL_CTL_DEL;
const uint32_t swshim_EPOLLIN = EPOLLIN, swshim_EPOLLOUT = EPOLLOUT, swshim_EPOLLERR = EPOLLERR,
               swshim_EPOLLHUP = EPOLLHUP, swshim_EPOLLRDHUP = EPOLLRDHUP, swshim_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE;
const int swshim_TCP_NODELAY = TCP_NODELAY, swshim_IPPROTO_TCP = IPPROTO_TCP;
const int swshim_RENAME_NOREPLACE = RENAME_NOREPLACE, swshim_MSG_MORE = MSG_MORE, swshim_MSG_NOSIGNAL = MSG_NOSIGNAL;

int swshim_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int swshim_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = { .events = events, .data = { .u64 = data } };
    return epoll_ctl(epfd, op, fd, &ev);
}

int swshim_epoll_wait(int epfd, uint32_t *events, uint64_t *datas, int maxevents, int timeout_ms) {
    struct epoll_event evs[256];
    if (maxevents > 256) maxevents = 256;
    int n = epoll_wait(epfd, evs, maxevents, timeout_ms);
    for (int i = 0; i < n; i++) {
        events[i] = evs[i].events;
        datas[i] = evs[i].data.u64;
    }
    return n;
}

int swshim_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int swshim_accept4(int fd, void *addr, uint32_t *addrlen) {
    socklen_t len = addrlen ? *addrlen : 0;
    int r = accept4(fd, (struct sockaddr *)addr, addr ? &len : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (addrlen) *addrlen = len;
    return r;
}

ssize_t swshim_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count) {
    off_t off = (off_t)*offset;
    ssize_t r = sendfile(out_fd, in_fd, &off, count);
    *offset = (int64_t)off;
    return r;
}

int swshim_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

int swshim_open_tmpfile(const char *dir, int mode) {
    return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
}

/* Gives an O_TMPFILE file a name: linkat through /proc/self/fd needs no CAP_DAC_READ_SEARCH. */
int swshim_linkat_fd(int fd, int newdirfd, const char *newpath) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, path, newdirfd, newpath, AT_SYMLINK_FOLLOW);
}

int swshim_socket_stream(int domain) { return socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }

int swshim_set_int_option(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value);
}

int swshim_set_thread_name(unsigned long thread, const char *name) { return pthread_setname_np((pthread_t)thread, name); }

void swshim_keep_freed_memory(int trim_threshold, int mmap_threshold) {
    mallopt(M_TRIM_THRESHOLD, trim_threshold);
    mallopt(M_MMAP_THRESHOLD, mmap_threshold);
}

const unsigned int swshim_SYNC_FILE_RANGE_WAIT_BEFORE = SYNC_FILE_RANGE_WAIT_BEFORE,
    swshim_SYNC_FILE_RANGE_WRITE = SYNC_FILE_RANGE_WRITE, swshim_SYNC_FILE_RANGE_WAIT_AFTER = SYNC_FILE_RANGE_WAIT_AFTER;

int swshim_sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags) {
    return sync_file_range(fd, (off64_t)offset, (off64_t)nbytes, flags);
}
