/* The structs that grow (ramstrans.h, "Structs that grow"): the callers' params are read only within
 * their `size`, and a result is written only within the caller's `result_size`. */
#ifndef RAMS_PARAMS_H
#define RAMS_PARAMS_H

#include <stddef.h>

#include "ramstrans.h"

/* The end of a field: the bytes a struct must have to hold it. */
#define RAMS_END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* The smallest sizes accepted: the 0.2 layouts, the first that carried a size.  Fields added later
 * go after these, and these stay where they are. */
#define RAMS_MODEL_PARAMS_SIZE_0_2   RAMS_END_OF(rams_model_params, max_file_bytes)
#define RAMS_CONTEXT_PARAMS_SIZE_0_2 RAMS_END_OF(rams_context_params, threads)
#define RAMS_RUN_PARAMS_SIZE_0_2     RAMS_END_OF(rams_run_params, want_input)
#define RAMS_ROUND_TO_ALIGN(n, type) (((n) + _Alignof(type) - 1) / _Alignof(type) * _Alignof(type))
#define RAMS_RESULT_SIZE_0_2         RAMS_ROUND_TO_ALIGN(RAMS_END_OF(rams_result, input_size), rams_result)
#define RAMS_MODEL_INFO_SIZE_0_2 \
    RAMS_ROUND_TO_ALIGN(RAMS_END_OF(rams_model_info, num_cls_tokens), rams_model_info)

/* The caller's params (NULL: the defaults) as this library's full struct: the fields within
 * params->size copied, the defaults for the rest.  A size below the 0.2 layout (a struct not made
 * by *_default_params()) is RAMS_ERR_INVALID_ARGUMENT; `fn` names the calling function.  For run
 * params a result_size below the 0.2 rams_result is refused too (NULL params: the 0.2 size). */
rams_status rams_model_params_resolve(const rams_model_params *params, const char *fn,
                                      rams_model_params *out);
rams_status rams_context_params_resolve(const rams_context_params *params, const char *fn,
                                        rams_context_params *out);
rams_status rams_run_params_resolve(const rams_run_params *params, const char *fn, rams_run_params *out);

/* Copies a struct this library filled (`known` bytes) into the caller's of `out_size` bytes: the
 * fields that fit, and zeros in any bytes beyond them (a newer header's fields). */
void rams_write_sized(void *out, size_t out_size, const void *value, size_t known);
#define rams_result_copy_out(result, out, result_size) \
    rams_write_sized(out, result_size, result, sizeof *(result))

#endif
