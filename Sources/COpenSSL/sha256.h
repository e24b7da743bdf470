#ifndef SWREGISTRY_COPENSSL_SHA256_H
#define SWREGISTRY_COPENSSL_SHA256_H
/* SHA-256 with a running state that can be saved and restored (ResumableSHA256 in OCIModel).
 *
 * EVP_MD_CTX is opaque, so an upload's hash state cannot leave the process through it. The low-level SHA256_CTX is a
 * plain struct: SHA256_Init/Update/Final are deprecated in OpenSSL 3 but exported, and run the same block function
 * (sha256_block_data_order: SHA-NI / AVX2 assembly) as EVP's SHA-256. The deprecation is silenced here, in these
 * wrappers only, so the rest of OpenSSL keeps its warnings; the struct's fields are touched only here too. */
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"

static inline void swsha256_init(SHA256_CTX *c) { (void)SHA256_Init(c); }

static inline void swsha256_update(SHA256_CTX *c, const void *data, size_t length) {
    (void)SHA256_Update(c, data, length);
}

/* Writes the 32-byte digest of what was hashed so far; `c` is a copy the caller may drop (Final wipes it). */
static inline void swsha256_final(SHA256_CTX c, unsigned char *digest) { (void)SHA256_Final(digest, &c); }

/* The running state: the eight chaining words, the bytes hashed (from Nl/Nh, a 64-bit bit count), and the bytes of
 * the block not yet compressed (`data` holds them as bytes, md32_common.h's HASH_UPDATE copies them in with memcpy).
 * Returns how many are pending (< 64), written to `pending`. */
static inline unsigned swsha256_export(const SHA256_CTX *c, uint32_t words[8], uint64_t *byteCount,
                                       unsigned char pending[64]) {
    for (int i = 0; i < 8; i++) words[i] = c->h[i];
    uint64_t bits = ((uint64_t)c->Nh << 32) | (uint64_t)c->Nl;
    *byteCount = bits >> 3;
    unsigned num = c->num < 64 ? c->num : 0;
    memcpy(pending, c->data, num);
    return num;
}

/* Rebuilds a state from the parts swsha256_export gave. The caller has checked `pendingCount == byteCount % 64`. */
static inline void swsha256_import(SHA256_CTX *c, const uint32_t words[8], uint64_t byteCount,
                                   const unsigned char *pending, unsigned pendingCount) {
    (void)SHA256_Init(c);
    for (int i = 0; i < 8; i++) c->h[i] = words[i];
    uint64_t bits = byteCount << 3;
    c->Nl = (SHA_LONG)(bits & 0xffffffffu);
    c->Nh = (SHA_LONG)(bits >> 32);
    memset(c->data, 0, sizeof(c->data));
    memcpy(c->data, pending, pendingCount);
    c->num = pendingCount;
}

#pragma clang diagnostic pop
#endif
