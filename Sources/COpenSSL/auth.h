#ifndef SWREGISTRY_COPENSSL_AUTH_H
#define SWREGISTRY_COPENSSL_AUTH_H
/* libcrypto pieces for RegistryAuth (JWS verification, certificate chains, the token signing key). */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

/* Macros and variadic functions are not visible to Swift: thin wrappers. */
static inline EVP_PKEY *swr_generate_p256_key(void) { return EVP_EC_gen("P-256"); }
static inline STACK_OF(X509) *swr_x509_stack_new(void) { return sk_X509_new_null(); }
static inline int swr_x509_stack_push(STACK_OF(X509) *stack, X509 *cert) { return sk_X509_push(stack, cert); }
static inline void swr_x509_stack_free_all(STACK_OF(X509) *stack) { sk_X509_pop_free(stack, X509_free); }
#endif
