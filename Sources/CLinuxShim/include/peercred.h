#ifndef SWREGISTRY_CLINUXSHIM_PEERCRED_H
#define SWREGISTRY_CLINUXSHIM_PEERCRED_H
/* Unix-domain socket calls for the control socket: `struct ucred` and SO_PEERCRED are behind `_GNU_SOURCE`.
 * Implemented in peercred.c. */
#include <stdint.h>
#include <sys/types.h>

/* The peer of a connected unix socket, as the kernel recorded it at connect(2). Returns 0, or -1 with errno. */
int swshim_peer_credentials(int fd, uint32_t *uid, uint32_t *gid, int32_t *pid);
#endif
