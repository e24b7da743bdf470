#ifndef SWREGISTRY_COPENSSL_SHIM_H
#define SWREGISTRY_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include "auth.h"
#include "sha256.h"
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/bio.h>
#include <string.h>

// Wrappers for OpenSSL macros (and for constants built with casts, which Swift does not import).

static inline int swssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int swssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

/// Server defaults: no renegotiation (RFC 5746 aside, a client-started renegotiation is a DoS vector and makes
/// SSL_write want to read), no compression (CRIME), kTLS when the kernel and cipher allow it.
static inline void swssl_ctx_set_server_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE
                             | SSL_OP_ENABLE_KTLS);
    // Partial writes: SSL_write returns what it sent, as send(2) does, instead of holding the caller until all is
    // out; moving buffer: a retried write may come from another address (a Swift array may move).
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          | SSL_MODE_RELEASE_BUFFERS);
}

static inline int swssl_bio_ktls_send(SSL *ssl) {
    return (int)BIO_get_ktls_send(SSL_get_wbio(ssl));
}

/// ALPN (RFC 7301): http/1.1 or nothing. A client that offers protocols but not http/1.1 gets the fatal
/// no_application_protocol alert (§3.2), as nginx does.
static int swssl_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                             unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, http11, sizeof(http11) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

static inline void swssl_ctx_enable_alpn_http11(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, swssl_alpn_select, NULL);
}

/// Trusts the CA certificates in `path` for client certificates and names them in the CertificateRequest.
/// Returns 1 on success, 0 with the OpenSSL error queue set.
static inline int swssl_ctx_add_client_ca_file(SSL_CTX *ctx, const char *path) {
    if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) return 0;
    STACK_OF(X509_NAME) *names = SSL_CTX_get_client_CA_list(ctx);
    if (names == NULL) {
        names = sk_X509_NAME_new_null();
        if (names == NULL) return 0;
        SSL_CTX_set_client_CA_list(ctx, names);
        names = SSL_CTX_get_client_CA_list(ctx);
    }
    return SSL_add_file_cert_subjects_to_stack(names, path);
}

/// The peer certificate's subject as an RFC 2253 string into `buffer` (NUL-terminated, cut to fit).
/// Returns its length, or -1 when there is no peer certificate.
static inline int swssl_peer_subject(SSL *ssl, char *buffer, int capacity) {
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL) return -1;
    BIO *bio = BIO_new(BIO_s_mem());
    int length = -1;
    if (bio != NULL) {
        X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        length = (int)(n < capacity - 1 ? n : capacity - 1);
        if (length > 0) memcpy(buffer, data, (size_t)length);
        buffer[length < 0 ? 0 : length] = 0;
        BIO_free(bio);
    }
    X509_free(cert);
    return length;
}

/// The peer certificate's one commonName (UTF-8) into `buffer` (NUL-terminated). Returns its length, or -1 when
/// there is no peer certificate, no CN, more than one CN, a CN with a NUL, or one that does not fit: read from the
/// name's entries, never from a printed DN, where an escaped `\,CN=` in another field could pass for it.
static inline int swssl_peer_common_name(SSL *ssl, char *buffer, int capacity) {
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL) return -1;
    X509_NAME *name = X509_get_subject_name(cert);
    int length = -1;
    int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (index >= 0 && X509_NAME_get_index_by_NID(name, NID_commonName, index) < 0) {
        unsigned char *utf8 = NULL;
        int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
        if (n > 0 && n < capacity && memchr(utf8, 0, (size_t)n) == NULL) {
            memcpy(buffer, utf8, (size_t)n);
            buffer[n] = 0;
            length = n;
        }
        OPENSSL_free(utf8);
    }
    X509_free(cert);
    return length;
}

/// The oldest error on this thread's OpenSSL queue as text ("" when none), then clears the queue.
static inline void swssl_take_error(char *buffer, size_t capacity) {
    unsigned long code = ERR_get_error();
    buffer[0] = 0;
    if (code != 0) {
        const char *reason = ERR_reason_error_string(code);
        if (reason != NULL) {
            strncpy(buffer, reason, capacity - 1);
            buffer[capacity - 1] = 0;
        } else {
            ERR_error_string_n(code, buffer, capacity);
        }
    }
    ERR_clear_error();
}
#endif
