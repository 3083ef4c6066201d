/* Params defaults, the params a caller passes read within their size, results written within the
 * caller's result_size (see params.h). */
#include "params.h"

#include <string.h>

#include "error.h"
#include "image.h" /* RAMS_DEFAULT_MAX_PIXELS */

_Static_assert(RAMS_RESULT_SIZE_0_2 <= sizeof(rams_result),
               "the 0.2 result layout is a prefix of rams_result");

/* The defaults' bytes that fit in `size`, and zeros in any bytes beyond the struct this library
 * knows (the fields of a newer header, which this library neither reads nor writes otherwise). */
static void fill_defaults(void *dst, const void *defaults, size_t known, size_t size)
{
    memcpy(dst, defaults, size < known ? size : known);
    if (size > known) memset((char *)dst + known, 0, size - known);
}

void rams_model_params_init(rams_model_params *params, size_t size)
{
    if (!params) return;
    rams_model_params d = {
        .size = size, .use_mmap = 1, .max_file_bytes = (size_t)16 << 30, .threads = 0 /* online CPUs */};
    fill_defaults(params, &d, sizeof d, size);
}

void rams_context_params_init(rams_context_params *params, size_t size)
{
    if (!params) return;
    rams_context_params d = {.size = size, .threads = 0};
    fill_defaults(params, &d, sizeof d, size);
}

void rams_run_params_init(rams_run_params *params, size_t size, size_t result_size)
{
    if (!params) return;
    rams_run_params d = {.size = size,
                         .result_size = result_size,
                         .mode = RAMS_MODE_DEFAULT,
                         .top_k = 5,
                         .max_pixels = RAMS_DEFAULT_MAX_PIXELS};
    fill_defaults(params, &d, sizeof d, size);
}

/* The fields within the caller's size over the defaults already in `out` (of `known` bytes). */
static rams_status resolve(const void *params, size_t min_size, const char *fn, const char *type,
                           const char *init, void *out, size_t known)
{
    if (!params) return RAMS_OK;
    size_t size;
    memcpy(&size, params, sizeof size); /* every params struct starts with its size */
    if (size < min_size)
        return rams_fail(
            RAMS_ERR_INVALID_ARGUMENT,
            "%s: params->size is %zu, less than the %zu bytes of a %s: fill params with %s() first", fn, size,
            min_size, type, init);
    memcpy(out, params, size < known ? size : known);
    memcpy(out, &known, sizeof known);
    return RAMS_OK;
}

rams_status rams_model_params_resolve(const rams_model_params *params, const char *fn, rams_model_params *out)
{
    rams_model_params_init(out, sizeof *out);
    return resolve(params, RAMS_MODEL_PARAMS_SIZE_0_2, fn, "rams_model_params", "rams_model_default_params",
                   out, sizeof *out);
}

rams_status rams_context_params_resolve(const rams_context_params *params, const char *fn,
                                        rams_context_params *out)
{
    rams_context_params_init(out, sizeof *out);
    return resolve(params, RAMS_CONTEXT_PARAMS_SIZE_0_2, fn, "rams_context_params",
                   "rams_context_default_params", out, sizeof *out);
}

rams_status rams_run_params_resolve(const rams_run_params *params, const char *fn, rams_run_params *out)
{
    rams_run_params_init(out, sizeof *out, RAMS_RESULT_SIZE_0_2);
    rams_status st = resolve(params, RAMS_RUN_PARAMS_SIZE_0_2, fn, "rams_run_params",
                             "rams_run_default_params", out, sizeof *out);
    if (st != RAMS_OK) return st;
    if (out->result_size < RAMS_RESULT_SIZE_0_2)
        return rams_fail(
            RAMS_ERR_INVALID_ARGUMENT,
            "%s: params->result_size is %zu, less than the %zu bytes of a rams_result: fill params with "
            "rams_run_default_params() first",
            fn, out->result_size, (size_t)RAMS_RESULT_SIZE_0_2);
    return RAMS_OK;
}

void rams_write_sized(void *out, size_t out_size, const void *value, size_t known)
{
    size_t n = out_size < known ? out_size : known;
    memcpy(out, value, n);
    if (out_size > n) memset((char *)out + n, 0, out_size - n);
}
