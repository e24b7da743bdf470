#ifndef SWREGISTRY_CCRYPT_SHIM_H
#define SWREGISTRY_CCRYPT_SHIM_H
/* libxcrypt (Debian's libcrypt-dev): crypt_r for htpasswd's bcrypt entries. */
#include <crypt.h>
#endif
