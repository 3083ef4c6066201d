/* Input files: read, recognised by content and decoded. */
#include "input.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"
#include "sniff.h"

/* Compressed images are far smaller than their pixels; 1 GiB bounds any sane input file. */
#define RAMS_MAX_INPUT_BYTES ((size_t)1 << 30)

rams_status rams_input_read(const char *path, size_t max_pixels, size_t max_elements, rams_input *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t size;
    rams_status st = rams_read_file(path, RAMS_MAX_INPUT_BYTES, &data, &size);
    if (st != RAMS_OK) return st;
    out->kind = rams_sniff(data, size);
    switch (out->kind) {
    case RAMS_FILE_NPY: st = rams_npy_decode(data, size, path, max_elements, &out->tensor); break;
    case RAMS_FILE_JPEG:
    case RAMS_FILE_PNG:
    case RAMS_FILE_WEBP: st = rams_image_decode(data, size, path, max_pixels, &out->image); break;
    default: st = rams_fail(RAMS_ERR_FORMAT, "%s: not a JPEG, PNG, WebP or .npy file", path);
    }
    free(data);
    if (st != RAMS_OK) rams_input_free(out);
    return st;
}

void rams_input_free(rams_input *in)
{
    rams_image_free(&in->image);
    rams_npy_free(&in->tensor);
}
