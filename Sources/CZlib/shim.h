#ifndef SWREGISTRY_CZLIB_SHIM_H
#define SWREGISTRY_CZLIB_SHIM_H
#include <zlib.h>

/* inflateInit2 and deflateInit2 are macros: wrap them so Swift can call them. */
static inline int swz_inflateInit2(z_streamp s, int windowBits) { return inflateInit2(s, windowBits); }
/* zlib >= 1.2.9: inflateValidate(s, 0) skips the gzip CRC-32 (and length) check, for streams a digest covers. */
static inline int swz_inflateSkipCheck(z_streamp s) { return inflateValidate(s, 0); }
static inline int swz_deflateInit2(z_streamp s, int level, int windowBits) {
    return deflateInit2(s, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
#endif
