/* A classifier's input file, decoded by its content: a photo to pixels, a .npy to a tensor. */
#ifndef RAMS_INPUT_H
#define RAMS_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "npy.h"
#include "ramstrans.h"

/* A decoded input: pixels for RAMS_FILE_JPEG, _PNG and _WEBP, a tensor for RAMS_FILE_NPY. */
typedef struct {
    rams_file_kind kind;
    rams_image image;
    rams_npy tensor;
} rams_input;

/* Reads path (at most 1 GiB) and decodes it by content: a JPEG, PNG or WebP as rams_image_decode does
 * (max_pixels), a .npy as rams_npy_decode does (max_elements).  Any other content is
 * RAMS_ERR_FORMAT. */
rams_status rams_input_read(const char *path, size_t max_pixels, size_t max_elements, rams_input *out);
void rams_input_free(rams_input *in);

#endif
