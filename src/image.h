/* Image decoding: JPEG (libjpeg-turbo), PNG (libpng) and WebP (libwebp) to 8-bit RGB. */
#ifndef RAMS_IMAGE_H
#define RAMS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ramstrans.h"

/* 8-bit RGB, rows of width*3 bytes, owned (free with rams_image_free). */
typedef struct {
    int width, height;
    uint8_t *rgb;
} rams_image;

/* The pixel limit of rams_run_default_params(), also what max_pixels = 0 means everywhere. */
#define RAMS_DEFAULT_MAX_PIXELS ((size_t)100000000)

/* Decodes a JPEG, PNG or WebP to RGB exactly as PIL's Image.open(f).convert('RGB') does (alpha
 * dropped, grayscale replicated, palette expanded, 16-bit reduced as PIL does, CMYK/YCCK converted;
 * of an animated WebP the first frame).
 * `name` is used in error messages.  Images above max_pixels (0: RAMS_DEFAULT_MAX_PIXELS) are
 * refused before any large allocation.  Corrupt or truncated data is an error (RAMS_ERR_FORMAT),
 * never a half image. */
rams_status rams_image_decode(const uint8_t *data, size_t size, const char *name, size_t max_pixels,
                              rams_image *out);
void rams_image_free(rams_image *img);

#endif
