/* Helpers shared by the cmocka tests: golden data from tests/data (written by tools/reference/make_golden.py). */
#ifndef RAMS_TEST_UTIL_H
#define RAMS_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ramstrans.h"

/* Path of a file under tests/data (static buffer, valid until the next call). */
const char *test_data_path(const char *name);

/* The project's default model, models/default.safetensors (test_data_path's buffer). */
const char *test_default_model_path(void);

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

/* The same against a golden float64 array; *abs_err (when not NULL) is raised to the worst
 * |got - want| seen. */
double test_golden_ratio(const float *got, const double *want, size_t n, double rtol, double atol,
                         double *abs_err);

/* ---- the engine's golden cases (tests/data, written by tools/reference/make_golden.py) ------- */

typedef struct {
    const char *model; /* tiny_f32.safetensors / tiny_f16.safetensors / vit_tiny_f32.safetensors */
    const char *dir;   /* the folder of its golden arrays: f32/input, ...                        */
    const char *input; /* the input tensor: input.npy / input_border.npy / vit/...               */
    int bf16_int8;     /* 1: run by the bf16 and int8 engine tests too (all but the f16 file on the
                        * border input); test_engine.c runs every case                           */
} test_engine_case;

enum { TEST_ENGINE_CASES = 6 };
extern const test_engine_case test_engine_cases[TEST_ENGINE_CASES];

/* Loads <c->dir>/<what>.npy as doubles (test_load_npy_f64).  Caller frees. */
double *test_golden(const test_engine_case *c, const char *what, size_t *n);

/* Whether box is the golden one, [top, left, bottom, right]. */
int test_box_is_golden(rams_box box, const double *golden);

/* ---- the API tests' fixture ------------------------------------------------------------------ */

/* Loads tiny_f32.safetensors and makes a one-thread context on it: 0, or -1 on failure (a cmocka
 * setup's return). */
int test_open_tiny(rams_model **model, rams_context **ctx);

/* Frees ctx, then model: 0 when rams_model_free succeeds, else -1 (a cmocka teardown's return). */
int test_close_model(rams_model *model, rams_context *ctx);

/* Sets the environment variable `name` to `value` (NULL: leaves it as it is) until
 * test_env_restore(name, the returned copy of its previous value), so that a test which sets it
 * leaves the environment the suite was started with (RAMSTRANS_ATTENTION_KERNEL, say). */
char *test_env_set(const char *name, const char *value);
void test_env_restore(const char *name, char *previous);

#endif
