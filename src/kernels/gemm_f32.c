/* The float32 GEMM backend: OpenBLAS, kept single-threaded (threadpool.h says why). */
#include "gemm.h"

#include <cblas.h>

/* A single row goes through GEMV: OpenBLAS's GEMM does not forward m = 1 to it by itself. */
void rams_gemm_f32(float *out, int out_stride, const float *in, int in_stride, int rows, int in_dim, const float *W,
                   int out_dim)
{
    if (rows == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out_dim, in_dim, 1.0f, W, in_dim, in, 1, 1.0f, out, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out_dim, in_dim, 1.0f, in, in_stride, W, in_dim,
                    1.0f, out, out_stride);
}
