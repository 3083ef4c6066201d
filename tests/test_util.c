#include "test_util.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "file.h"
#include "npy.h"

const char *test_data_path(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", RAMS_TEST_DATA, name);
    return path;
}

const char *test_default_model_path(void) { return test_data_path("../../models/default.safetensors"); }

float *test_load_npy(const char *name, size_t *count, int64_t shape[4], int *ndim)
{
    uint8_t *bytes;
    size_t size;
    const char *path = test_data_path(name);
    if (rams_read_file(path, (size_t)1 << 30, &bytes, &size) != RAMS_OK)
        fail_msg("cannot read %s: %s", path, rams_last_error());
    rams_npy t;
    if (rams_npy_decode(bytes, size, path, (size_t)1 << 28, &t) != RAMS_OK) fail_msg("%s", rams_last_error());
    free(bytes);
    size_t n = 1;
    for (int d = 0; d < t.ndim; d++) {
        n *= (size_t)t.shape[d];
        if (shape) shape[d] = t.shape[d];
    }
    if (ndim) *ndim = t.ndim;
    if (count) *count = n;
    return t.data; /* rams_npy_free only frees data */
}

double test_tolerance_ratio(const float *a, const float *b, size_t n, double rtol, double atol)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)a[i] - b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(r <= worst)) worst = r; /* NaN counts as the worst */
    }
    return worst;
}

double test_golden_ratio(const float *got, const double *want, size_t n, double rtol, double atol,
                         double *abs_err)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]);
        if (abs_err && e > *abs_err) *abs_err = e;
        double r = e / (atol + rtol * fabs(want[i]));
        if (!(r <= worst)) worst = r; /* NaN counts as the worst */
    }
    return worst;
}

const test_engine_case test_engine_cases[TEST_ENGINE_CASES] = {
    {"tiny_f32.safetensors", "f32/input", "input.npy", 1},
    {"tiny_f32.safetensors", "f32/input_border", "input_border.npy", 1},
    {"tiny_f16.safetensors", "f16/input", "input.npy", 1},
    {"tiny_f16.safetensors", "f16/input_border", "input_border.npy", 0},
    {"vit_tiny_f32.safetensors", "vit/f32/input", "vit/input.npy", 1},
    {"vit_tiny_f32.safetensors", "vit/f32/input_border", "vit/input_border.npy", 1},
};

double *test_golden(const test_engine_case *c, const char *what, size_t *n)
{
    char name[256];
    snprintf(name, sizeof name, "%s/%s.npy", c->dir, what);
    return test_load_npy_f64(name, n);
}

int test_box_is_golden(rams_box box, const double *golden)
{
    return box.top == (int)golden[0] && box.left == (int)golden[1] && box.bottom == (int)golden[2] &&
           box.right == (int)golden[3];
}

int test_open_tiny(rams_model **model, rams_context **ctx)
{
    rams_context_params cp = rams_context_default_params();
    cp.threads = 1;
    if (rams_model_load(test_data_path("tiny_f32.safetensors"), NULL, model) != RAMS_OK) return -1;
    return rams_context_create(*model, &cp, ctx) == RAMS_OK ? 0 : -1;
}

int test_close_model(rams_model *model, rams_context *ctx)
{
    rams_context_free(ctx);
    return rams_model_free(model) == RAMS_OK ? 0 : -1;
}

double *test_load_npy_f64(const char *name, size_t *count)
{
    uint8_t *bytes;
    size_t size;
    const char *path = test_data_path(name);
    if (rams_read_file(path, (size_t)1 << 30, &bytes, &size) != RAMS_OK)
        fail_msg("cannot read %s: %s", path, rams_last_error());
    if (size < 12 || memcmp(bytes, "\x93NUMPY", 6)) fail_msg("%s: not a .npy file", path);
    size_t hlen = bytes[8] | (size_t)bytes[9] << 8, start = 10;
    if (bytes[6] >= 2) hlen |= (size_t)bytes[10] << 16 | (size_t)bytes[11] << 24, start = 12;
    if (start + hlen > size) fail_msg("%s: truncated header", path);
    char *header = malloc(hlen + 1);
    memcpy(header, bytes + start, hlen);
    header[hlen] = '\0';
    const char *d = strstr(header, "'descr': '"), *sh = strstr(header, "'shape': (");
    if (!d || !sh) fail_msg("%s: header without descr or shape", path);
    d += 10;
    size_t n = 1;
    for (const char *c = sh + 10; *c && *c != ')';) {
        char *end;
        long v = strtol(c, &end, 10);
        if (end == c) {
            c++;
            continue;
        }
        n *= (size_t)v;
        c = end;
    }
    size_t elem = !strncmp(d, "<f8", 3)                            ? 8
                  : !strncmp(d, "<f4", 3) || !strncmp(d, "<i4", 3) ? 4
                  : !strncmp(d, "|u1", 3)                          ? 1
                                                                   : 0;
    if (!elem) fail_msg("%s: unsupported dtype %.3s", path, d);
    const uint8_t *data = bytes + start + hlen;
    if (data + n * elem > bytes + size) fail_msg("%s: truncated data", path);
    double *out = malloc((n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(d, "<f8", 3)) memcpy(&out[i], data + 8 * i, 8);
        else if (!strncmp(d, "<f4", 3)) {
            float f;
            memcpy(&f, data + 4 * i, 4);
            out[i] = f;
        } else if (!strncmp(d, "<i4", 3)) {
            int32_t v;
            memcpy(&v, data + 4 * i, 4);
            out[i] = v;
        } else out[i] = data[i];
    }
    free(header);
    free(bytes);
    if (count) *count = n;
    return out;
}

void test_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (size) assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

char *test_env_set(const char *name, const char *value)
{
    const char *now = getenv(name);
    char *previous = now ? strdup(now) : NULL;
    if (value) setenv(name, value, 1);
    return previous;
}

void test_env_restore(const char *name, char *previous)
{
    if (previous) setenv(name, previous, 1);
    else unsetenv(name);
    free(previous);
}
