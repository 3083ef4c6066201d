#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "vecmath.h"

/* Bias broadcast into every output row first, so the GEMM accumulates onto it (beta = 1):
 * one pass over the output instead of a GEMM pass plus a bias pass. */
static void fill_bias(float *out, int out_stride, int rows, const float *b, int out_dim)
{
    for (int r = 0; r < rows; r++) {
        float *o = out + (size_t)r * out_stride;
        if (b) memcpy(o, b, (size_t)out_dim * sizeof *o);
        else memset(o, 0, (size_t)out_dim * sizeof *o);
    }
}

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

void rams_linear(float *out, int out_stride, const float *in, int in_stride, int rows, int in_dim,
                 const float *W, const float *b, int out_dim)
{
    fill_bias(out, out_stride, rows, b, out_dim);
    rams_gemm_f32(out, out_stride, in, in_stride, rows, in_dim, W, out_dim);
}

void rams_linear_residual(float *out, int out_stride, const float *in, int in_stride, int rows, int in_dim,
                          const float *W, const float *b, int out_dim)
{
    if (b)
        for (int r = 0; r < rows; r++) {
            float *o = out + (size_t)r * out_stride;
            for (int j = 0; j < out_dim; j++) o[j] += b[j];
        }
    rams_gemm_f32(out, out_stride, in, in_stride, rows, in_dim, W, out_dim);
}

void rams_linear_gelu(float *out, int out_stride, const float *in, int in_stride, int rows, int in_dim,
                      const float *W, const float *b, int out_dim)
{
    rams_linear(out, out_stride, in, in_stride, rows, in_dim, W, b, out_dim);
    for (int r = 0; r < rows; r++) rams_gelu(out + (size_t)r * out_stride, out_dim);
}

void rams_gelu(float *x, int n) { rams_vecmath()->gelu(x, n); }

void rams_layernorm(float *out, int out_stride, const float *in, int in_stride, int rows, int dim,
                    const float *weight, const float *bias, float eps)
{
    rams_vecmath()->layernorm(out, out_stride, in, in_stride, rows, dim, weight, bias, eps);
}

void rams_softmax_rows(float *x, int rows, int n, int stride) { rams_vecmath()->softmax_rows(x, rows, n, stride); }

void rams_softmax(const float *logits, float *probs, int n)
{
    double mx = logits[0], sum = 0;
    for (int i = 1; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int i = 0; i < n; i++) sum += exp(logits[i] - mx);
    for (int i = 0; i < n; i++) probs[i] = (float)(exp(logits[i] - mx) / sum);
}
