/* Linear layers on the model's GEMM backend: bias, the residual connection and GELU folded into the
 * product's pass. */
#include <string.h>

#include "gemm.h"
#include "kernels.h"

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

static void gemm(const rams_gemm_thread *g, float *out, int out_stride, const float *in, int in_stride,
                 int rows, const rams_matrix *W)
{
    if (rows > 0) g->be->gemm(out, out_stride, in, in_stride, rows, W, g->scratch, g->scratch_bytes);
}

void rams_linear(const rams_gemm_thread *g, float *out, int out_stride, const float *in, int in_stride,
                 int rows, const rams_matrix *W, const float *b)
{
    fill_bias(out, out_stride, rows, b, W->out_dim);
    gemm(g, out, out_stride, in, in_stride, rows, W);
}

void rams_linear_residual(const rams_gemm_thread *g, float *out, int out_stride, const float *in,
                          int in_stride, int rows, const rams_matrix *W, const float *b)
{
    if (b)
        for (int r = 0; r < rows; r++) {
            float *o = out + (size_t)r * out_stride;
            for (int j = 0; j < W->out_dim; j++) o[j] += b[j];
        }
    gemm(g, out, out_stride, in, in_stride, rows, W);
}

void rams_linear_gelu(const rams_gemm_thread *g, float *out, int out_stride, const float *in, int in_stride,
                      int rows, const rams_matrix *W, const float *b)
{
    rams_linear(g, out, out_stride, in, in_stride, rows, W, b);
    for (int r = 0; r < rows; r++) rams_gelu(out + (size_t)r * out_stride, W->out_dim);
}
