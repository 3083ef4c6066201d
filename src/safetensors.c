/* The safetensors container (safetensors.h): the file's bytes, the header, the tensor table, and
 * f16 / bf16 widening.  Everything is validated before any tensor is used: header size, every
 * offset inside the data and no two tensors overlapping, dtypes, byte counts. */
#define _POSIX_C_SOURCE 200809L /* mmap flags */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "file.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "libramstrans reads little-endian tensor data in place: big-endian hosts are not supported"
#endif

/* ---- the file ---------------------------------------------------------------------------- */

rams_status rams_file_bytes_load(const char *path, int use_mmap, size_t max_bytes, rams_file_bytes *out)
{
    memset(out, 0, sizeof *out);
    int fd;
    uint64_t size;
    rams_status st = rams_open_regular(path, &fd, &size);
    if (st != RAMS_OK) return st;
    if ((max_bytes && size > max_bytes) || size > (uint64_t)SIZE_MAX - 1) {
        close(fd);
        return rams_fail(RAMS_ERR_LIMIT, "%s: %llu bytes is above the model size limit of %zu", path,
                         (unsigned long long)size, max_bytes);
    }
    if (size < 8) {
        close(fd);
        return rams_fail(RAMS_ERR_FORMAT, "%s: %llu bytes is too short for a safetensors file", path,
                         (unsigned long long)size);
    }
    if (use_mmap) {
        void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        int e = errno;
        close(fd);
        if (p == MAP_FAILED) return rams_fail(RAMS_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        *out = (rams_file_bytes){p, (size_t)size, 1};
        return RAMS_OK;
    }
    uint8_t *bytes;
    st = rams_read_fd(path, fd, (size_t)size, &bytes);
    close(fd);
    if (st != RAMS_OK) return st;
    *out = (rams_file_bytes){bytes, (size_t)size, 0};
    return RAMS_OK;
}

void rams_file_bytes_release(rams_file_bytes *f)
{
    if (f->bytes) {
        if (f->mapped) munmap(f->bytes, f->size);
        else free(f->bytes);
    }
    memset(f, 0, sizeof *f);
}

/* ---- the header -------------------------------------------------------------------------- */

rams_status rams_safetensors_open(const char *path, const rams_file_bytes *file, rams_safetensors *st)
{
    memset(st, 0, sizeof *st);
    st->path = path;
    const uint8_t *bytes = file->bytes;
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | bytes[i];
    if (header_len > RAMS_MAX_HEADER_BYTES)
        return rams_fail(RAMS_ERR_LIMIT, "%s: header of %llu bytes is above the %u-byte limit", path,
                         (unsigned long long)header_len, RAMS_MAX_HEADER_BYTES);
    if (header_len > file->size - 8)
        return rams_fail(RAMS_ERR_FORMAT,
                         "%s: header claims %llu bytes but the file has %zu after the length", path,
                         (unsigned long long)header_len, file->size - 8);
    st->data = bytes + 8 + header_len;
    st->data_size = file->size - 8 - header_len;
    st->header = cJSON_ParseWithLength((const char *)bytes + 8, (size_t)header_len);
    if (!st->header || !cJSON_IsObject(st->header))
        return rams_fail(RAMS_ERR_FORMAT, "%s: the safetensors header is not a JSON object", path);
    return RAMS_OK;
}

const cJSON *rams_safetensors_metadata(const rams_safetensors *st)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(st->header, "__metadata__");
    return cJSON_IsObject(meta) ? meta : NULL;
}

void rams_safetensors_free(rams_safetensors *st)
{
    free(st->tensors);
    cJSON_Delete(st->header);
    memset(st, 0, sizeof *st);
}

/* ---- the tensor table -------------------------------------------------------------------- */

static const char *const dtype_names[RAMS_DTYPE_COUNT] = {"F32", "F16", "BF16", "I8"};

const char *rams_dtype_name(rams_dtype dtype)
{
    return (unsigned)dtype < RAMS_DTYPE_COUNT ? dtype_names[dtype] : "?";
}

static int parse_dtype(const char *s, rams_dtype *out)
{
    for (int i = 0; i < RAMS_DTYPE_COUNT; i++)
        if (!strcmp(s, dtype_names[i])) {
            *out = (rams_dtype)i;
            return 1;
        }
    return 0;
}

static size_t dtype_bytes(rams_dtype dt) { return dt == RAMS_DTYPE_F32 ? 4 : dt == RAMS_DTYPE_I8 ? 1 : 2; }

size_t rams_tensor_elements(const rams_tensor_entry *t)
{
    return (t->end - t->begin) / dtype_bytes(t->dtype);
}

static int compare_by_offset(const void *a, const void *b)
{
    const rams_tensor_entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* A JSON number that is an exact non-negative integer no larger than max. */
static int json_uint(const cJSON *item, double max, int64_t *out)
{
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= max) || v != floor(v)) return 0;
    *out = (int64_t)v;
    return 1;
}

rams_status rams_safetensors_read_table(rams_safetensors *tt)
{
    const char *path = tt->path;
    const cJSON *header = tt->header;
    int n = 0;
    for (const cJSON *it = header->child; it; it = it->next)
        if (strcmp(it->string, "__metadata__")) n++;
    if (n == 0) return rams_fail(RAMS_ERR_FORMAT, "%s: the safetensors header lists no tensors", path);
    tt->tensors = calloc((size_t)n, sizeof *tt->tensors);
    if (!tt->tensors)
        return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory for %d tensor entries", path, n);
    tt->count = 0;
    for (const cJSON *it = header->child; it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) continue;
        rams_tensor_entry *t = &tt->tensors[tt->count++];
        t->name = it->string;
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsObject(it) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
            return rams_fail(RAMS_ERR_FORMAT,
                             "%s: tensor %s: header entry needs dtype, shape and data_offsets", path,
                             t->name);
        if (!parse_dtype(dt->valuestring, &t->dtype))
            return rams_fail(RAMS_ERR_UNSUPPORTED,
                             "%s: tensor %s: dtype %s is not supported (F32, F16, BF16 and I8 are)", path,
                             t->name, dt->valuestring);
        int ndim = cJSON_GetArraySize(shape);
        if (ndim > RAMS_MAX_TENSOR_DIMS)
            return rams_fail(RAMS_ERR_SHAPE, "%s: tensor %s: %d dimensions (at most 4 expected)", path,
                             t->name, ndim);
        t->ndim = ndim;
        /* The element count is checked against the data size below, so each dimension only needs
         * to keep the product (and the product times 4 bytes) from overflowing: 2^60 / dim at every step. */
        uint64_t count = 1;
        for (int d = 0; d < ndim; d++) {
            int64_t v;
            if (!json_uint(cJSON_GetArrayItem(shape, d), 4294967296.0, &v))
                return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s: shape[%d] is not a non-negative integer",
                                 path, t->name, d);
            t->shape[d] = v;
            if (v && count > (UINT64_C(1) << 60) / (uint64_t)v)
                return rams_fail(RAMS_ERR_LIMIT, "%s: tensor %s: shape overflows", path, t->name);
            count *= (uint64_t)v;
        }
        int64_t b, e;
        if (cJSON_GetArraySize(offs) != 2 || !json_uint(cJSON_GetArrayItem(offs, 0), 9.0e18, &b) ||
            !json_uint(cJSON_GetArrayItem(offs, 1), 9.0e18, &e))
            return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s: data_offsets must be two non-negative integers",
                             path, t->name);
        if (b > e || (uint64_t)e > tt->data_size)
            return rams_fail(RAMS_ERR_FORMAT,
                             "%s: tensor %s: data_offsets [%lld, %lld] outside the %zu data bytes", path,
                             t->name, (long long)b, (long long)e, tt->data_size);
        if ((uint64_t)(e - b) != count * dtype_bytes(t->dtype))
            return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s: %lld data bytes for %llu elements of %s", path,
                             t->name, (long long)(e - b), (unsigned long long)count, dt->valuestring);
        t->begin = (size_t)b;
        t->end = (size_t)e;
    }
    qsort(tt->tensors, (size_t)tt->count, sizeof *tt->tensors, compare_by_offset);
    for (int i = 1; i < tt->count; i++)
        if (tt->tensors[i].begin < tt->tensors[i - 1].end)
            return rams_fail(RAMS_ERR_FORMAT, "%s: tensors %s and %s overlap in the data section", path,
                             tt->tensors[i - 1].name, tt->tensors[i].name);
    return RAMS_OK;
}

const rams_tensor_entry *rams_safetensors_find(const rams_safetensors *st, const char *name)
{
    for (int i = 0; i < st->count; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

/* ---- f32 data, widened where needed ------------------------------------------------------- */

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

const float *rams_tensor_f32_in_place(const rams_safetensors *st, const rams_tensor_entry *t)
{
    const uint8_t *src = st->data + t->begin;
    return t->dtype == RAMS_DTYPE_F32 && ((uintptr_t)src % sizeof(float)) == 0 ? (const float *)src : NULL;
}

void rams_tensor_to_f32(const rams_safetensors *st, const rams_tensor_entry *t, float *dst)
{
    rams_tensor_range_to_f32(st, t, 0, rams_tensor_elements(t), dst);
}

void rams_tensor_range_to_f32(const rams_safetensors *st, const rams_tensor_entry *t, size_t first, size_t n,
                              float *dst)
{
    const uint8_t *src = st->data + t->begin + first * dtype_bytes(t->dtype);
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        if (t->dtype == RAMS_DTYPE_F32) {
            memcpy(&dst[i], src + 4 * i, 4);
            continue;
        }
        if (t->dtype == RAMS_DTYPE_I8) {
            dst[i] = (float)(int8_t)src[i];
            continue;
        }
        memcpy(&h, src + 2 * i, 2);
        dst[i] = t->dtype == RAMS_DTYPE_F16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
}
