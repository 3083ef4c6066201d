#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The loops below are compiled twice, for AVX2 + FMA and for plain x86-64, and the loader picks
 * the one the CPU runs (GCC function multiversioning); elsewhere they are compiled once. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define RAMS_VECTOR_CLONES __attribute__((target_clones("arch=haswell", "default")))
#endif
#endif
#ifndef RAMS_VECTOR_CLONES
#define RAMS_VECTOR_CLONES
#endif

/* exp(x) for x <= 0 (softmax arguments after the max is subtracted), written so that the compiler
 * vectorises the loops that call it: the libm call does not, and one ViT-B/16 pass at 448 takes
 * 89 million of them.  x = n ln2 + r with |r| <= ln2/2 (ln2 split in two parts, Cody-Waite), e^r
 * by a degree-6 polynomial (Taylor coefficients, relative error below 2e-7 on that interval),
 * then 2^n through the exponent bits.  Below -87 the result would be denormal; softmax loses
 * nothing by flushing those to exp(-87) ~ 1.6e-38. */
static inline float exp_nonpositive(float x)
{
    x = x < -87.0f ? -87.0f : x;
    /* Rounds x / ln2 to the nearest integer: adding 1.5 * 2^23 pushes the fraction out. */
    const float shifter = 12582912.0f;
    float n = (x * 1.44269504088896341f + shifter) - shifter;
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.42860682030941723212e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* A NaN or infinite x (non-finite activations) must not reach the int conversion, which is
     * undefined for it; p is NaN then anyway, and so is the result. */
    n = n >= -127.0f && n <= 0.0f ? n : 0.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* erf(x), Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, the size of float rounding
 * of GELU's 1 + erf term), branch-free so that it vectorises. */
static inline float erf_approx(float x)
{
    float a = fabsf(x);
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float y = 1.0f - poly * exp_nonpositive(-a * a);
    return copysignf(y, x);
}

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
static void gemm_accumulate(float *out, int out_stride, const float *in, int in_stride, int rows, int in_dim,
                            const float *W, int out_dim)
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
    gemm_accumulate(out, out_stride, in, in_stride, rows, in_dim, W, out_dim);
}

void rams_linear_residual(float *out, int out_stride, const float *in, int in_stride, int rows, int in_dim,
                          const float *W, const float *b, int out_dim)
{
    if (b)
        for (int r = 0; r < rows; r++) {
            float *o = out + (size_t)r * out_stride;
            for (int j = 0; j < out_dim; j++) o[j] += b[j];
        }
    gemm_accumulate(out, out_stride, in, in_stride, rows, in_dim, W, out_dim);
}

void rams_linear_gelu(float *out, int out_stride, const float *in, int in_stride, int rows, int in_dim,
                      const float *W, const float *b, int out_dim)
{
    rams_linear(out, out_stride, in, in_stride, rows, in_dim, W, b, out_dim);
    for (int r = 0; r < rows; r++) rams_gelu(out + (size_t)r * out_stride, out_dim);
}

RAMS_VECTOR_CLONES
void rams_gelu(float *x, int n)
{
    const float inv_sqrt2 = 0.70710678118654752f;
    for (int j = 0; j < n; j++) x[j] = 0.5f * x[j] * (1.0f + erf_approx(x[j] * inv_sqrt2));
}

void rams_layernorm(float *out, int out_stride, const float *in, int in_stride, int rows, int dim,
                    const float *weight, const float *bias, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * in_stride;
        float *y = out + (size_t)r * out_stride;
        /* Two passes in double: the mean and variance of 768 floats lose nothing this way. */
        double mean = 0, var = 0;
        for (int i = 0; i < dim; i++) mean += x[i];
        mean /= dim;
        for (int i = 0; i < dim; i++) var += (x[i] - mean) * (x[i] - mean);
        var /= dim;
        float inv = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
        for (int i = 0; i < dim; i++) y[i] = (x[i] - m) * inv * weight[i] + bias[i];
    }
}

RAMS_VECTOR_CLONES
void rams_softmax_rows(float *x, int rows, int n, int stride)
{
    for (int r = 0; r < rows; r++) {
        float *v = x + (size_t)r * stride;
        float mx = v[0];
        for (int i = 1; i < n; i++) mx = v[i] > mx ? v[i] : mx;
        for (int i = 0; i < n; i++) v[i] = exp_nonpositive(v[i] - mx);
        /* The sum in double: 786 terms, order-independent to well below float rounding. */
        double sum = 0;
        for (int i = 0; i < n; i++) sum += v[i];
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < n; i++) v[i] *= inv;
    }
}

void rams_softmax(const float *logits, float *probs, int n)
{
    double mx = logits[0], sum = 0;
    for (int i = 1; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int i = 0; i < n; i++) sum += exp(logits[i] - mx);
    for (int i = 0; i < n; i++) probs[i] = (float)(exp(logits[i] - mx) / sum);
}
