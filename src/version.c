/* The version of the library linked. */
#include "ramstrans.h"

unsigned rams_version_number(void) { return RAMSTRANS_VERSION_NUMBER; }
const char *rams_version_string(void) { return RAMSTRANS_VERSION_STRING; }
