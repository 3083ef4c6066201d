/* Measurements for `ramscli bench` (experimental API): the arithmetic of one image, and the
 * machine's f32 matrix-product rate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RAMSTRANS_EXPERIMENTAL

#include "clock.h"
#include "encoder.h"
#include "error.h"
#include "kernels/gemm.h"
#include "model.h"
#include "threadpool.h"

double rams_model_flops(const rams_model *m, rams_mode mode)
{
    if (!m) return 0;
    if (mode == RAMS_MODE_DEFAULT) mode = m->cfg.default_mode;
    const rams_config *c = &m->cfg;
    double head = 2.0 * c->hidden * c->classes;
    if (mode == RAMS_MODE_SCALE1) return rams_encode_flops(c, 0) + head;
    return rams_encode_flops(c, 1) + rams_encode_flops(c, 0) + 2 * head;
}

typedef struct {
    int m, n, k, reps;
    const rams_gemm_backend *be;
    rams_matrix W;  /* [n, k], shared                          */
    float **a, **c; /* per thread: its rows' input and output */
    char **scratch; /* per thread: the backend's scratch       */
    size_t scratch_bytes;
} gemm_job;

/* Each pool thread multiplies its share of the m rows by the one weight matrix, as the engine's row
 * blocks do (single-threaded kernels under the library's own pool). */
static void gemm_rows(void *arg, int index, int count)
{
    const gemm_job *g = arg;
    int r0, r1;
    rams_split(g->m, index, count, &r0, &r1);
    if (r1 <= r0) return;
    for (int r = 0; r < g->reps; r++)
        g->be->gemm(g->c[index], g->n, g->a[index], g->k, r1 - r0, &g->W, g->scratch[index],
                    g->scratch_bytes);
}

static rams_status measure(const rams_model *model, const rams_gemm_backend *be, int threads, double seconds,
                           double *out)
{
    if (threads == 0) threads = rams_online_cpus();
    const rams_config *c = &model->cfg;
    gemm_job g = {.m = c->num_tokens, .n = 3 * c->hidden, .k = c->hidden, .reps = 1, .be = be};
    g.W.out_dim = g.n, g.W.in_dim = g.k;
    rams_pool *pool = NULL;
    rams_status st = rams_pool_create(threads, &pool);
    if (st != RAMS_OK) return st;
    int rows_max = (g.m + threads - 1) / threads;
    g.scratch_bytes = be->scratch_bytes(rows_max, g.k);
    float *b = malloc((size_t)g.n * g.k * sizeof *b), *row = malloc((size_t)g.k * sizeof *row);
    void *packed = NULL;
    g.a = calloc((size_t)threads, sizeof *g.a);
    g.c = calloc((size_t)threads, sizeof *g.c);
    g.scratch = calloc((size_t)threads, sizeof *g.scratch);
    int ok = b && row && g.a && g.c && g.scratch;
    if (ok) {
        for (size_t i = 0; i < (size_t)g.n * g.k; i++)
            b[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
        g.W.f32 = b;
        if (be->pack) {
            size_t bytes = be->packed_bytes(g.n, g.k);
            ok = posix_memalign(&packed, 64, bytes) == 0;
            if (ok) {
                rams_strided_rows src = {b, g.k, (size_t)g.k, 1};
                be->pack(packed, g.n, g.k, rams_read_strided_row, &src, row);
                g.W.packed = packed;
            }
        }
        for (int t = 0; ok && t < threads; t++) {
            int r0, r1;
            rams_split(g.m, t, threads, &r0, &r1);
            size_t rows = (size_t)(r1 - r0);
            g.a[t] = malloc((rows ? rows : 1) * g.k * sizeof(float));
            g.c[t] = calloc((rows ? rows : 1) * g.n, sizeof(float));
            g.scratch[t] = malloc(g.scratch_bytes ? g.scratch_bytes : 1);
            ok = g.a[t] && g.c[t] && g.scratch[t];
            for (size_t i = 0; ok && i < rows * g.k; i++) g.a[t][i] = (float)(i % 7) * 0.1f;
        }
    }
    if (ok) {
        /* One round to warm up and to size the timed rounds to about `seconds`. */
        double start = rams_now();
        rams_pool_run(pool, gemm_rows, &g);
        double once = rams_now() - start;
        double reps = once > 0 ? ceil(seconds / once) : 1000;
        g.reps = reps < 1 ? 1 : reps > 100000 ? 100000 : (int)reps;
        start = rams_now();
        rams_pool_run(pool, gemm_rows, &g);
        double elapsed = rams_now() - start;
        *out = elapsed > 0 ? 2.0 * g.m * (double)g.n * g.k * g.reps / elapsed / 1e9 : 0;
    } else {
        st = rams_fail(RAMS_ERR_NO_MEMORY, "rams_measure_gemm_gflops: out of memory");
    }
    for (int t = 0; g.a && g.c && g.scratch && t < threads; t++)
        free(g.a[t]), free(g.c[t]), free(g.scratch[t]);
    free(g.a), free(g.c), free(g.scratch), free(b), free(row), free(packed);
    rams_pool_free(pool);
    return st;
}

static rams_status check_args(const char *fn, const rams_model *model, int threads, double seconds,
                              double *out)
{
    const char *null = !model ? "model" : !out ? "out" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, null);
    if (threads < 0 || threads > RAMS_MAX_THREADS)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "%s: threads = %d is outside 0..%d", fn, threads,
                         RAMS_MAX_THREADS);
    if (!(seconds > 0) || !isfinite(seconds))
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "%s: seconds = %g is not a positive number", fn, seconds);
    return RAMS_OK;
}

/* The shapes of the QKV projection: N token rows times the [3D, D] weights. */
rams_status rams_measure_gemm_gflops(const rams_model *model, int threads, double seconds, double *out)
{
    rams_clear_error();
    rams_status st = check_args("rams_measure_gemm_gflops", model, threads, seconds, out);
    if (st != RAMS_OK) return st;
    return measure(model, rams_gemm_backend_named("openblas-sgemm"), threads, seconds, out);
}

rams_status rams_measure_kernel_gflops(const rams_model *model, const char *kernel, int threads,
                                       double seconds, double *out)
{
    rams_clear_error();
    rams_status st = check_args("rams_measure_kernel_gflops", model, threads, seconds, out);
    if (st != RAMS_OK) return st;
    const rams_gemm_backend *be = kernel ? rams_gemm_backend_named(kernel) : model->gemm;
    if (!be)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_measure_kernel_gflops: no kernel named %s", kernel);
    if (!be->available())
        return rams_fail(RAMS_ERR_UNSUPPORTED, "rams_measure_kernel_gflops: %s: this CPU has no %s", be->name,
                         be->needs);
    return measure(model, be, threads, seconds, out);
}
