/* What a file is, by its first bytes (rams_file_kind and the functions on files are public). */
#ifndef RAMS_SNIFF_H
#define RAMS_SNIFF_H

#include <stddef.h>
#include <stdint.h>

#include "ramstrans.h"

/* The kind of data by its magic bytes: JPEG, PNG, WebP, .npy or unknown (NULL data: unknown). */
rams_file_kind rams_sniff(const uint8_t *data, size_t size);

#endif
