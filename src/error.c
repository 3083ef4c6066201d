#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One message per thread: contexts in different threads never see each other's errors. */
static _Thread_local char last_error[512];

rams_status rams_fail(rams_status status, const char *fmt, ...)
{
    /* Formatted aside first: callers may pass rams_last_error() itself as an argument (to prefix
     * a file name), and vsnprintf into the buffer it reads from is undefined. */
    char message[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    memcpy(last_error, message, sizeof last_error);
    return status;
}

void rams_clear_error(void) { last_error[0] = '\0'; }

const char *rams_last_error(void) { return last_error; }

const char *rams_status_name(rams_status status)
{
    switch (status) {
    case RAMS_OK: return "RAMS_OK";
    case RAMS_ERR_INVALID_ARGUMENT: return "RAMS_ERR_INVALID_ARGUMENT";
    case RAMS_ERR_IO: return "RAMS_ERR_IO";
    case RAMS_ERR_FORMAT: return "RAMS_ERR_FORMAT";
    case RAMS_ERR_UNSUPPORTED: return "RAMS_ERR_UNSUPPORTED";
    case RAMS_ERR_SHAPE: return "RAMS_ERR_SHAPE";
    case RAMS_ERR_LIMIT: return "RAMS_ERR_LIMIT";
    case RAMS_ERR_NO_MEMORY: return "RAMS_ERR_NO_MEMORY";
    case RAMS_ERR_INTERNAL: return "RAMS_ERR_INTERNAL";
    }
    return "RAMS_ERR_UNKNOWN";
}
