#ifndef SWREGISTRY_COPENSSL_SHIM_H
#define SWREGISTRY_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include "auth.h"
#endif
