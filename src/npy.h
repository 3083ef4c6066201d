/* The NumPy .npy format: float32 tensors in (rams_npy_decode), float32 arrays out (rams_npy_write,
 * and the public rams_save_npy). */
#ifndef RAMS_NPY_H
#define RAMS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "ramstrans.h"

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

#endif
