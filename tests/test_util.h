/* Helpers shared by the cmocka tests: golden data from tests/data (written by tools/reference/make_golden.py). */
#ifndef RAMS_TEST_UTIL_H
#define RAMS_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Path of a file under tests/data (static buffer, valid until the next call). */
const char *test_data_path(const char *name);

/* Loads tests/data/<name> (.npy, float32, converted from float64 if needed); fails the test if missing.
 * Returns the element count; *shape receives up to 4 dims. Caller frees. */
float *test_load_npy(const char *name, size_t *count, int64_t shape[4], int *ndim);

/* Loads any golden .npy of dtype <f8, <f4, <i4 or |u1 as doubles (exact for all of them), so that
 * masks, boxes and float64 references keep every bit.  Fails the test on error.  Caller frees. */
double *test_load_npy_f64(const char *name, size_t *count);

/* Writes size bytes to path (fails the test on error): the malformed-file tests' one writer. */
void test_write_file(const char *path, const void *data, size_t size);

/* Max over i of |a-b| / (atol + rtol*|b|): <= 1 means within tolerance. */
double test_tolerance_ratio(const float *a, const float *b, size_t n, double rtol, double atol);

#endif
