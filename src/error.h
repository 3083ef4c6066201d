/* Thread-local error messages: every failing library function records one line here. */
#ifndef RAMS_ERROR_H
#define RAMS_ERROR_H

#include "ramstrans.h"

#if defined(__GNUC__)
#define RAMS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RAMS_PRINTF(a, b)
#endif

/* Records the message (printf-style) as the calling thread's last error and returns status, so
 * that failures read `return rams_fail(RAMS_ERR_FORMAT, "%s: truncated header", path);`. */
rams_status rams_fail(rams_status status, const char *fmt, ...) RAMS_PRINTF(2, 3);

/* Clears the calling thread's last error (at the start of a public call). */
void rams_clear_error(void);

#endif
