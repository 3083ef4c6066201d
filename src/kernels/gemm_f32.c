/* The float32 GEMM backend: OpenBLAS, kept single-threaded (threadpool.h says why). */
#include <cblas.h>

#include "gemm.h"

/* A single row goes through GEMV: OpenBLAS's GEMM does not forward m = 1 to it by itself. */
void rams_gemm_f32(float *out, int out_stride, const float *in, int in_stride, int rows, int in_dim,
                   const float *W, int out_dim)
{
    if (rows == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out_dim, in_dim, 1.0f, W, in_dim, in, 1, 1.0f, out, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out_dim, in_dim, 1.0f, in, in_stride, W,
                    in_dim, 1.0f, out, out_stride);
}

static size_t no_scratch(int rows, int in_dim) { return 0; }

static void gemm_f32(float *out, int out_stride, const float *in, int in_stride, int rows,
                     const rams_matrix *W, void *scratch, size_t scratch_bytes)
{
    rams_gemm_f32(out, out_stride, in, in_stride, rows, W->in_dim, W->f32, W->out_dim);
}

const rams_gemm_backend rams_backend_f32 = {
    .name = "openblas-sgemm",
    .precision = RAMS_PRECISION_F32,
    .needs = "nothing",
    .available = rams_gemm_always_available,
    .scratch_bytes = no_scratch,
    .gemm = gemm_f32,
};
