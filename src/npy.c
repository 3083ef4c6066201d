/* The NumPy .npy format: float32 tensors in, float32 arrays out.
 *
 * The .npy header is a Python dict literal, e.g.
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 448, 448), }
 * It is parsed strictly: exactly these three keys, 'fortran_order' False, a shape of at most four
 * non-negative integers, and a data section of exactly the size the header announces.  We accept
 * '<f4' as is and '<f8' converted to float (numpy's default dtype is float64, so a tensor saved
 * without .astype(np.float32) still works); any other dtype is RAMS_ERR_UNSUPPORTED. */
#define _POSIX_C_SOURCE 200809L /* fileno */
#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"

/* ---- .npy header parsing ------------------------------------------------------------------- */

typedef struct {
    const char *p, *end;
} cursor;

static void skip_spaces(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int accept_char(cursor *c, char ch)
{
    skip_spaces(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A Python string literal in single or double quotes, without escapes (none occur in a header). */
static int parse_string(cursor *c, char *out, size_t cap)
{
    skip_spaces(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || n + 1 >= cap) return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    out[n] = '\0';
    return 1;
}

static int accept_word(cursor *c, const char *word)
{
    skip_spaces(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* A non-negative decimal integer (Python may print a long as 123L in very old numpy: refused). */
static int parse_dim(cursor *c, int64_t *out)
{
    skip_spaces(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return 0;
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int d = *c->p++ - '0';
        if (v > (INT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* "(a, b, c)" with an optional trailing comma; "()" is a scalar. */
static int parse_shape(cursor *c, int *ndim, int64_t shape[4])
{
    if (!accept_char(c, '(')) return 0;
    *ndim = 0;
    if (accept_char(c, ')')) return 1;
    for (;;) {
        int64_t d;
        if (*ndim >= 4 || !parse_dim(c, &d)) return 0;
        shape[(*ndim)++] = d;
        if (accept_char(c, ')')) return 1;
        if (!accept_char(c, ',')) return 0;
        if (accept_char(c, ')')) return 1;
    }
}

typedef enum { NPY_F32 = 4, NPY_F64 = 8 } npy_dtype;

static rams_status parse_header(const char *h, size_t len, const char *name, npy_dtype *dtype, int *ndim,
                                int64_t shape[4])
{
    cursor c = {h, h + len};
    int have_descr = 0, have_order = 0, have_shape = 0;
    char key[32], descr[32];
    if (!accept_char(&c, '{')) return rams_fail(RAMS_ERR_FORMAT, "%s: .npy header is not a dict", name);
    while (!accept_char(&c, '}')) {
        if (!parse_string(&c, key, sizeof key) || !accept_char(&c, ':'))
            return rams_fail(RAMS_ERR_FORMAT, "%s: malformed .npy header", name);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (!parse_string(&c, descr, sizeof descr))
                return rams_fail(RAMS_ERR_FORMAT, "%s: malformed 'descr' in .npy header", name);
            if (strcmp(descr, "<f4") == 0) *dtype = NPY_F32;
            else if (strcmp(descr, "<f8") == 0) *dtype = NPY_F64;
            else
                return rams_fail(RAMS_ERR_UNSUPPORTED,
                                 "%s: .npy dtype '%s' is not supported (need '<f4' or '<f8')", name, descr);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (accept_word(&c, "True"))
                return rams_fail(RAMS_ERR_UNSUPPORTED, "%s: Fortran-order .npy is not supported", name);
            if (!accept_word(&c, "False"))
                return rams_fail(RAMS_ERR_FORMAT, "%s: malformed 'fortran_order' in .npy header", name);
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!parse_shape(&c, ndim, shape))
                return rams_fail(RAMS_ERR_FORMAT, "%s: malformed or more than 4-D 'shape' in .npy header",
                                 name);
            have_shape = 1;
        } else {
            return rams_fail(RAMS_ERR_FORMAT, "%s: unexpected or repeated key '%s' in .npy header", name,
                             key);
        }
        if (accept_char(&c, '}')) break;
        if (!accept_char(&c, ','))
            return rams_fail(RAMS_ERR_FORMAT, "%s: malformed .npy header (expected ',')", name);
    }
    skip_spaces(&c);
    if (c.p != c.end)
        return rams_fail(RAMS_ERR_FORMAT, "%s: trailing bytes after the .npy header dict", name);
    if (!have_descr || !have_order || !have_shape)
        return rams_fail(RAMS_ERR_FORMAT, "%s: .npy header lacks 'descr', 'fortran_order' or 'shape'", name);
    return RAMS_OK;
}

static uint32_t read_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The file is little-endian; this reads it right on any host. */
static float read_le_f32(const uint8_t *p)
{
    uint32_t u = read_le32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static double read_le_f64(const uint8_t *p)
{
    uint64_t u = (uint64_t)read_le32(p) | (uint64_t)read_le32(p + 4) << 32;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

rams_status rams_npy_decode(const uint8_t *data, size_t size, const char *name, size_t max_elements,
                            rams_npy *out)
{
    if (!out) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "npy_decode: NULL output");
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (!data) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "%s: NULL data", name);
    static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size < 10 || memcmp(data, magic, 6) != 0)
        return rams_fail(RAMS_ERR_FORMAT, "%s: not a .npy file (bad magic)", name);
    int major = data[6];
    size_t header_len, header_start;
    if (major == 1) {
        header_len = (size_t)data[8] | (size_t)data[9] << 8;
        header_start = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return rams_fail(RAMS_ERR_FORMAT, "%s: truncated .npy preamble", name);
        header_len = read_le32(data + 8);
        header_start = 12;
    } else {
        return rams_fail(RAMS_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported", name, major,
                         data[7]);
    }
    if (header_len > size - header_start)
        return rams_fail(RAMS_ERR_FORMAT, "%s: .npy header of %zu bytes runs past the end of the file", name,
                         header_len);

    npy_dtype dtype = NPY_F32;
    int ndim = 0;
    int64_t shape[4] = {0, 0, 0, 0};
    rams_status st = parse_header((const char *)data + header_start, header_len, name, &dtype, &ndim, shape);
    if (st != RAMS_OK) return st;

    /* Element count, overflow-checked against the caller's limit and against the data present. */
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] != 0 && count > SIZE_MAX / (uint64_t)shape[i])
            return rams_fail(RAMS_ERR_LIMIT, "%s: .npy shape overflows", name);
        if ((uint64_t)shape[i] > SIZE_MAX) return rams_fail(RAMS_ERR_LIMIT, "%s: .npy shape overflows", name);
        count *= (size_t)shape[i];
    }
    if (max_elements && count > max_elements)
        return rams_fail(RAMS_ERR_LIMIT, "%s: .npy holds %zu elements, above the limit of %zu", name, count,
                         max_elements);
    size_t data_start = header_start + header_len;
    size_t available = size - data_start;
    if (count > SIZE_MAX / (size_t)dtype || count * (size_t)dtype != available)
        return rams_fail(RAMS_ERR_FORMAT, "%s: .npy header announces %zu elements but %zu data bytes follow",
                         name, count, available);

    float *values = malloc(count ? count * sizeof(float) : 1);
    if (!values) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: cannot allocate %zu floats", name, count);
    const uint8_t *p = data + data_start;
    if (dtype == NPY_F32)
        for (size_t i = 0; i < count; i++) values[i] = read_le_f32(p + 4 * i);
    else
        for (size_t i = 0; i < count; i++) values[i] = (float)read_le_f64(p + 8 * i);

    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) out->shape[i] = shape[i];
    out->data = values;
    return RAMS_OK;
}

void rams_npy_free(rams_npy *t)
{
    if (!t) return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

rams_status rams_npy_write(const char *path, const float *data, int ndim, const int64_t *shape)
{
    if (!path || (!data && ndim > 0) || ndim < 0 || ndim > RAMS_NPY_MAX_WRITE_DIMS || (ndim > 0 && !shape))
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "npy_write: bad arguments");
    char dict[384]; /* 8 dimensions of 19 digits fit */
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "%s: negative dimension", path);
        if (shape[i] != 0 && count > SIZE_MAX / sizeof(float) / (uint64_t)shape[i])
            return rams_fail(RAMS_ERR_LIMIT, "%s: shape overflows", path);
        count *= (size_t)shape[i];
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    /* Python writes a 1-tuple as (5,). */
    if (ndim == 1) len += snprintf(dict + len, sizeof dict - (size_t)len, ",");
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");

    /* Preamble (10 bytes) + dict + spaces + '\n' is a multiple of 64, as numpy writes it. */
    size_t total = 10 + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t header_len = padded - 10;
    uint8_t pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(header_len & 0xff), (uint8_t)(header_len >> 8)};

    FILE *f = fopen(path, "wb");
    if (!f) return rams_fail(RAMS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    /* Only a half-written regular file is removed on failure: never a device such as /dev/full. */
    struct stat st;
    int regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    int ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre && fwrite(dict, 1, (size_t)len, f) == (size_t)len;
    for (size_t i = 10 + (size_t)len; ok && i < padded - 1; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    for (size_t i = 0; ok && i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], sizeof u);
        uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        ok = fwrite(le, 1, 4, f) == 4;
    }
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        if (regular) remove(path);
        return rams_fail(RAMS_ERR_IO, "%s: write failed", path);
    }
    return RAMS_OK;
}

rams_status rams_save_npy(const char *path, const float *data, int ndim, const int *shape)
{
    rams_clear_error();
    const char *null = !path ? "path" : !data ? "data" : !shape ? "shape" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_save_npy: %s is NULL", null);
    if (ndim < 1 || ndim > RAMS_NPY_MAX_WRITE_DIMS)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_save_npy: ndim %d is outside 1..%d", ndim,
                         RAMS_NPY_MAX_WRITE_DIMS);
    int64_t dims[RAMS_NPY_MAX_WRITE_DIMS];
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_save_npy: shape[%d] = %d is negative", i,
                             shape[i]);
        dims[i] = shape[i];
    }
    return rams_npy_write(path, data, ndim, dims);
}
