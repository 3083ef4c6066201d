/* The elementwise kernels the encoder calls, run by the vecmath set this CPU runs (vecmath.h), and
 * the class softmax of the head in double precision. */
#include <math.h>

#include "kernels.h"
#include "vecmath.h"

void rams_gelu(float *x, int n) { rams_vecmath()->gelu(x, n); }

void rams_layernorm(float *out, int out_stride, const float *in, int in_stride, int rows, int dim,
                    const float *weight, const float *bias, float eps)
{
    rams_vecmath()->layernorm(out, out_stride, in, in_stride, rows, dim, weight, bias, eps);
}

void rams_softmax_rows(float *x, int rows, int n, int stride)
{
    rams_vecmath()->softmax_rows(x, rows, n, stride);
}

void rams_softmax(const float *logits, float *probs, int n)
{
    double mx = logits[0], sum = 0;
    for (int i = 1; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int i = 0; i < n; i++) sum += exp(logits[i] - mx);
    for (int i = 0; i < n; i++) probs[i] = (float)(exp(logits[i] - mx) / sum);
}
