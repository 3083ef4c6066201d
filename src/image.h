/* Image and tensor input: JPEG (libjpeg-turbo), PNG (libpng) and .npy, chosen by content. */
#ifndef RAMS_IMAGE_H
#define RAMS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ramstrans.h"

/* The kind of file by its first bytes (magic numbers), never by its name (rams_file_kind is public). */
rams_file_kind rams_sniff(const uint8_t *data, size_t size);

/* 8-bit RGB, rows of width*3 bytes, owned (free with rams_image_free). */
typedef struct {
    int width, height;
    uint8_t *rgb;
} rams_image;

/* The pixel limit of rams_run_default_params(), also what max_pixels = 0 means everywhere. */
#define RAMS_DEFAULT_MAX_PIXELS ((size_t)100000000)

/* Decodes a JPEG or PNG to RGB exactly as PIL's Image.open(f).convert('RGB') does (alpha dropped,
 * grayscale replicated, palette expanded, 16-bit reduced as PIL does, CMYK/YCCK converted).
 * `name` is used in error messages.  Images above max_pixels (0: RAMS_DEFAULT_MAX_PIXELS) are
 * refused before any large allocation.  Corrupt or truncated data is an error (RAMS_ERR_FORMAT),
 * never a half image. */
rams_status rams_image_decode(const uint8_t *data, size_t size, const char *name, size_t max_pixels,
                              rams_image *out);
void rams_image_free(rams_image *img);

/* A float32 .npy tensor (C order, little-endian '<f4', any ndim <= 4), owned (free()). */
typedef struct {
    int ndim;
    int64_t shape[4];
    float *data;
} rams_npy;

rams_status rams_npy_decode(const uint8_t *data, size_t size, const char *name, size_t max_elements,
                            rams_npy *out);
void rams_npy_free(rams_npy *t);

/* Writes a float32 array as .npy, ndim 0..RAMS_NPY_MAX_WRITE_DIMS (rams_save_npy: 1..8). */
#define RAMS_NPY_MAX_WRITE_DIMS 8
rams_status rams_npy_write(const char *path, const float *data, int ndim, const int64_t *shape);

/* Reads a whole file into memory (refusing files above max_bytes, directories, missing files). */
rams_status rams_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size);

#endif
