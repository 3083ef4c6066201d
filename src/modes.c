/* Mode names, and parsing them. */
#include <string.h>

#include "error.h"
#include "ramstrans.h"

static const char *const mode_names[] = {"default", "scale1", "scale2", "fused"};

const char *rams_mode_name(rams_mode mode) { return (unsigned)mode < 4 ? mode_names[mode] : "unknown"; }

rams_status rams_mode_parse(const char *name, rams_mode *out)
{
    rams_clear_error();
    if (!out) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_mode_parse: out is NULL");
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, mode_names[i])) {
            *out = (rams_mode)i;
            return RAMS_OK;
        }
    return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "unknown mode \"%s\" (scale1, scale2, fused or default)",
                     name ? name : "(null)");
}
