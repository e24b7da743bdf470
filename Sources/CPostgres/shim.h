#ifndef SWREGISTRY_CPOSTGRES_SHIM_H
#define SWREGISTRY_CPOSTGRES_SHIM_H
/* Debian's libpq-dev puts the header under /usr/include/postgresql; pkg-config (libpq) adds that directory. */
#include <libpq-fe.h>

/* PG_DIAG_* field codes are character macros; Swift does not import them as PQresultErrorField's int argument. */
static inline const char *swpq_sqlstate(const PGresult *r) { return PQresultErrorField(r, PG_DIAG_SQLSTATE); }
static inline const char *swpq_primary_message(const PGresult *r) { return PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY); }
static inline const char *swpq_detail(const PGresult *r) { return PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL); }
#endif
