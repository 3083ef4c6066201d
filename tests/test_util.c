#include "test_util.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image.h"

const char *test_data_path(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", RAMS_TEST_DATA, name);
    return path;
}

float *test_load_npy(const char *name, size_t *count, int64_t shape[4], int *ndim)
{
    uint8_t *bytes;
    size_t size;
    const char *path = test_data_path(name);
    if (rams_read_file(path, (size_t)1 << 30, &bytes, &size) != RAMS_OK) fail_msg("cannot read %s: %s", path, rams_last_error());
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
