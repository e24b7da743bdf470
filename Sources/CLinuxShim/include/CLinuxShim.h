#ifndef SWREGISTRY_CLINUXSHIM_H
#define SWREGISTRY_CLINUXSHIM_H
/* Linux calls that Swift's Glibc module does not export. Declarations only: `_GNU_SOURCE` is defined in
 * shim.c alone, because defining it in a header that a module map exports breaks clean builds of targets
 * that also import Foundation. */
#include <stdint.h>
#include <sys/types.h>

/* epoll_event is packed on x86_64; Swift imports packed structs badly, so these calls take plain arrays. */
int swshim_epoll_create(void);
int swshim_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
int swshim_epoll_wait(int epfd, uint32_t *events, uint64_t *datas, int maxevents, int timeout_ms);

extern const int swshim_EPOLL_CTL_ADD, swshim_EPOLL_CTL_MOD, swshim_EPOLL_CTL_DEL;
extern const uint32_t swshim_EPOLLIN, swshim_EPOLLOUT, swshim_EPOLLERR, swshim_EPOLLHUP, swshim_EPOLLRDHUP;
/* Only with EPOLL_CTL_ADD: one listener shared by several epoll instances wakes one of them per connection. */
extern const uint32_t swshim_EPOLLEXCLUSIVE;

int swshim_eventfd(void);
int swshim_accept4(int fd, void *addr, uint32_t *addrlen);
ssize_t swshim_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count);
int swshim_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
int swshim_open_tmpfile(const char *dir, int mode);
int swshim_linkat_fd(int fd, int newdirfd, const char *newpath);
int swshim_socket_stream(int domain);
/* mallopt: keep up to trim_threshold bytes of freed heap, and serve blocks below mmap_threshold from the heap. */
void swshim_keep_freed_memory(int trim_threshold, int mmap_threshold);
int swshim_set_thread_name(unsigned long thread, const char *name);
int swshim_set_int_option(int fd, int level, int name, int value);

extern const int swshim_TCP_NODELAY, swshim_IPPROTO_TCP, swshim_RENAME_NOREPLACE;
extern const int swshim_MSG_MORE, swshim_MSG_NOSIGNAL;

/* sync_file_range(2): start (or wait for) write-back of a file range, so that a big write's final fsync is short. */
int swshim_sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags);
extern const unsigned int swshim_SYNC_FILE_RANGE_WAIT_BEFORE, swshim_SYNC_FILE_RANGE_WRITE, swshim_SYNC_FILE_RANGE_WAIT_AFTER;

#endif
#include "fsops.h"
#include "mountops.h"
#include "peercred.h"
