/* Linear layers on the GEMM: bias, the residual connection and GELU folded into the product's pass. */
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
