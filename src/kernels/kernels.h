/* The tensor kernels the encoder calls: row-major float32 matrices.  Linear layers run on a GEMM
 * backend (gemm.h, linear.c); the elementwise loops on the vecmath set the CPU runs (vecmath.h,
 * elementwise.c). */
#ifndef RAMS_KERNELS_H
#define RAMS_KERNELS_H

#include "gemm.h"

/* out[rows, W.out_dim] = in[rows, W.in_dim] . W^T + b, with W a Linear's weight as the model's
 * backend holds it (gemm.h), run on that backend with the calling pool thread's scratch.  `in` and
 * `out` rows are in_stride / out_stride floats apart.  b may be NULL. */
void rams_linear(const rams_gemm_thread *g, float *out, int out_stride, const float *in, int in_stride,
                 int rows, const rams_matrix *W, const float *b);

/* Same, then exact (erf) GELU on every output element, in the same pass over the output. */
void rams_linear_gelu(const rams_gemm_thread *g, float *out, int out_stride, const float *in, int in_stride,
                      int rows, const rams_matrix *W, const float *b);

/* out += in . W^T + b: the residual connection folded into the GEMM (beta = 1). */
void rams_linear_residual(const rams_gemm_thread *g, float *out, int out_stride, const float *in,
                          int in_stride, int rows, const rams_matrix *W, const float *b);

/* LayerNorm over the last dimension (biased variance, eps inside the square root), per row. */
void rams_layernorm(float *out, int out_stride, const float *in, int in_stride, int rows, int dim,
                    const float *weight, const float *bias, float eps);

/* Exact (erf) GELU in place, with an erf accurate to 1.5e-7 absolute. */
void rams_gelu(float *x, int n);

/* Numerically stable softmax of each of `rows` rows of length n, in place. */
void rams_softmax_rows(float *x, int rows, int n, int stride);

/* Softmax of a vector in double precision (for class probabilities). */
void rams_softmax(const float *logits, float *probs, int n);

#endif
