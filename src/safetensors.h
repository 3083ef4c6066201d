/* The safetensors container, apart from what our model stores in it: an 8-byte little-endian
 * header length, a JSON header (an object of tensor name -> {dtype, shape, data_offsets}, and an
 * optional "__metadata__" object of strings), then the raw little-endian tensor data.  The file is
 * mapped (or read), the header parsed and every tensor's entry validated against the data; f16 and
 * bf16 tensors are widened to f32 on request. */
#ifndef RAMS_SAFETENSORS_H
#define RAMS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "ramstrans.h"

struct cJSON; /* <cjson/cJSON.h>, for the header's JSON tree */

/* Hard bounds on what a header may declare, so that a hostile one never gets an allocation
 * attempt of absurd size. */
#define RAMS_MAX_HEADER_BYTES (100u << 20)
#define RAMS_MAX_TENSOR_DIMS  4

/* I8 holds the int8 weight matrices of a q8 model file (README, "The model file"), whose scales
 * model_file.c applies; the container reads its values as they are. */
typedef enum {
    RAMS_DTYPE_F32 = 0,
    RAMS_DTYPE_F16 = 1,
    RAMS_DTYPE_BF16 = 2,
    RAMS_DTYPE_I8 = 3,
    RAMS_DTYPE_COUNT = 4
} rams_dtype;

const char *rams_dtype_name(rams_dtype dtype); /* "F32", "F16", "BF16", "I8" */

/* A file's bytes, mapped read-only or read into memory. */
typedef struct {
    void *bytes;
    size_t size;
    int mapped;
} rams_file_bytes;

/* Maps (use_mmap) or reads a safetensors file of at least the 8 bytes of the header length,
 * refusing one above max_bytes (0: no limit). */
rams_status rams_file_bytes_load(const char *path, int use_mmap, size_t max_bytes, rams_file_bytes *out);
void rams_file_bytes_release(rams_file_bytes *f);

typedef struct {
    const char *name; /* points into the header's JSON tree */
    rams_dtype dtype;
    int ndim;
    int64_t shape[RAMS_MAX_TENSOR_DIMS];
    size_t begin, end; /* byte offsets inside the data section */
} rams_tensor_entry;

typedef struct {
    const char *path;
    struct cJSON *header; /* the parsed JSON object                          */
    const uint8_t *data;  /* the data section (inside the file's bytes)     */
    size_t data_size;
    rams_tensor_entry *tensors; /* by data offset, after rams_safetensors_read_table */
    int count;
} rams_safetensors;

/* Parses the header of a file's bytes (which must outlive st): its length within the file and
 * RAMS_MAX_HEADER_BYTES, and a JSON object.  Release st with rams_safetensors_free, also on a
 * failure. */
rams_status rams_safetensors_open(const char *path, const rams_file_bytes *file, rams_safetensors *st);

/* The "__metadata__" object, or NULL if the header has none (or it is not an object). */
const struct cJSON *rams_safetensors_metadata(const rams_safetensors *st);

/* Validates every tensor entry (dtype, shape, offsets inside the data, byte count, no two
 * tensors overlapping) into st->tensors. */
rams_status rams_safetensors_read_table(rams_safetensors *st);

/* The entry named exactly `name`, or NULL. */
const rams_tensor_entry *rams_safetensors_find(const rams_safetensors *st, const char *name);

size_t rams_tensor_elements(const rams_tensor_entry *t);

/* The tensor's data as float32 in place: the entry's bytes when they are f32 and 4-byte aligned,
 * else NULL (widen it with rams_tensor_to_f32). */
const float *rams_tensor_f32_in_place(const rams_safetensors *st, const rams_tensor_entry *t);

/* Writes the tensor's rams_tensor_elements values as float32 to dst (f16 and bf16 widened
 * exactly, unaligned f32 copied, i8 as the integers they are). */
void rams_tensor_to_f32(const rams_safetensors *st, const rams_tensor_entry *t, float *dst);
/* The same for elements [first, first + n) (inside the tensor). */
void rams_tensor_range_to_f32(const rams_safetensors *st, const rams_tensor_entry *t, size_t first, size_t n,
                              float *dst);

void rams_safetensors_free(rams_safetensors *st);

#endif
