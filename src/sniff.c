/* What a file is, by its first bytes (magic numbers), never by its name. */
#include "sniff.h"

#include <string.h>

#include "error.h"
#include "file.h"

rams_file_kind rams_sniff(const uint8_t *data, size_t size)
{
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const uint8_t npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (!data) return RAMS_FILE_UNKNOWN;
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return RAMS_FILE_JPEG;
    if (size >= 8 && memcmp(data, png_magic, 8) == 0) return RAMS_FILE_PNG;
    if (size >= 6 && memcmp(data, npy_magic, 6) == 0) return RAMS_FILE_NPY;
    /* A RIFF container of form WEBP: "RIFF", its size (4 bytes), "WEBP". */
    if (size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0) return RAMS_FILE_WEBP;
    return RAMS_FILE_UNKNOWN;
}

const char *rams_file_kind_name(rams_file_kind kind)
{
    switch (kind) {
    case RAMS_FILE_JPEG: return "jpeg";
    case RAMS_FILE_PNG: return "png";
    case RAMS_FILE_NPY: return "npy";
    case RAMS_FILE_WEBP: return "webp";
    case RAMS_FILE_UNKNOWN: break;
    }
    return "unknown";
}

rams_status rams_file_kind_of(const char *path, rams_file_kind *out)
{
    rams_clear_error();
    const char *null = !path ? "path" : !out ? "out" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_file_kind_of: %s is NULL", null);
    uint8_t head[12]; /* the longest magic, WebP's */
    size_t got;
    rams_status st = rams_read_head(path, head, sizeof head, &got);
    if (st != RAMS_OK) return st;
    *out = rams_sniff(head, got);
    return RAMS_OK;
}
