/* Compiled with -O3 -fno-signed-zeros -ffinite-math-only -fno-trapping-math (CMakeLists.txt): the
 * clamps and maxima below only vectorise when the compiler may ignore NaN ordering and the sign of
 * zero.  Inputs here are finite (scores and activations of a finite model); a non-finite input
 * gives a non-finite or meaningless result, never a crash. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "vecmath.h"

#ifdef RAMS_VECMATH_AVX2
#define VEC(name) name##_avx2
#else
#define VEC(name) name##_generic
#endif

/* exp(x) for x <= 0 (softmax arguments after the max is subtracted).  x = n ln2 + r with
 * |r| <= ln2/2 (ln2 split in two parts, Cody-Waite), e^r by its degree-6 Taylor polynomial
 * (relative error below 2e-7 on that interval), 2^n through the exponent bits.  Below -87 the
 * result would be denormal; softmax loses nothing by flushing to exp(-87) ~ 1.6e-38. */
static inline float exp_nonpositive(float x)
{
    x = x < -87.0f ? -87.0f : x;
    /* Rounds x / ln2 to the nearest integer: adding 1.5 * 2^23 pushes the fraction out. */
    const float shifter = 12582912.0f;
    float shifted = x * 1.44269504088896341f + shifter, n = shifted - shifter;
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.42860682030941723212e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^n from the bits of n + 1.5 * 2^23 (0x4b400000 + n): integer arithmetic only, because
     * converting a NaN or infinite float to int (non-finite activations) is undefined. */
    uint32_t shifted_bits, bits;
    memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
    bits = (shifted_bits - 0x4b400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* erf(x), Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7, the size of float rounding of
 * GELU's 1 + erf term. */
static inline float erf_approx(float x)
{
    float a = fabsf(x);
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = t * (0.254829592f +
                      t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float y = 1.0f - poly * exp_nonpositive(-a * a);
    return copysignf(y, x);
}

void VEC(rams_gelu)(float *x, int n)
{
    const float inv_sqrt2 = 0.70710678118654752f;
    for (int j = 0; j < n; j++) x[j] = 0.5f * x[j] * (1.0f + erf_approx(x[j] * inv_sqrt2));
}

/* Eight independent lanes: the compiler vectorises these without reassociating a reduction. */
#define LANES 8

void VEC(rams_softmax_rows)(float *x, int rows, int n, int stride)
{
    for (int r = 0; r < rows; r++) {
        float *v = x + (size_t)r * stride;
        float mx[LANES], sum[LANES];
        int i = 0, tail = n - n % LANES;
        for (int l = 0; l < LANES; l++) mx[l] = v[0];
        for (; i < tail; i += LANES)
            for (int l = 0; l < LANES; l++) mx[l] = v[i + l] > mx[l] ? v[i + l] : mx[l];
        float m = mx[0];
        for (int l = 1; l < LANES; l++) m = mx[l] > m ? mx[l] : m;
        for (; i < n; i++) m = v[i] > m ? v[i] : m;
        for (int j = 0; j < n; j++) v[j] = exp_nonpositive(v[j] - m);
        for (int l = 0; l < LANES; l++) sum[l] = 0.0f;
        for (i = 0; i < tail; i += LANES)
            for (int l = 0; l < LANES; l++) sum[l] += v[i + l];
        double total = 0; /* lanes hold <= n / 8 terms each; their sum in double */
        for (int l = 0; l < LANES; l++) total += sum[l];
        for (; i < n; i++) total += v[i];
        float inv = (float)(1.0 / total);
        for (int j = 0; j < n; j++) v[j] *= inv;
    }
}

/* Two passes (mean, then the mean square deviation), each in eight float lanes of at most
 * dim / 8 terms combined in double: as exact as PyTorch's float LayerNorm, and vectorised. */
void VEC(rams_layernorm)(float *out, int out_stride, const float *in, int in_stride, int rows, int dim,
                         const float *weight, const float *bias, float eps)
{
    int tail = dim - dim % LANES;
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * in_stride;
        float *y = out + (size_t)r * out_stride;
        float lane[LANES];
        double total = 0;
        for (int l = 0; l < LANES; l++) lane[l] = 0.0f;
        for (int i = 0; i < tail; i += LANES)
            for (int l = 0; l < LANES; l++) lane[l] += x[i + l];
        for (int l = 0; l < LANES; l++) total += lane[l];
        for (int i = tail; i < dim; i++) total += x[i];
        float mean = (float)(total / dim);
        total = 0;
        for (int l = 0; l < LANES; l++) lane[l] = 0.0f;
        for (int i = 0; i < tail; i += LANES)
            for (int l = 0; l < LANES; l++) lane[l] += (x[i + l] - mean) * (x[i + l] - mean);
        for (int l = 0; l < LANES; l++) total += lane[l];
        for (int i = tail; i < dim; i++) total += (double)(x[i] - mean) * (x[i] - mean);
        float inv = (float)(1.0 / sqrt(total / dim + eps));
        for (int i = 0; i < dim; i++) y[i] = (x[i] - mean) * inv * weight[i] + bias[i];
    }
}

#ifndef RAMS_VECMATH_AVX2
#if defined(__x86_64__) && defined(RAMS_HAVE_AVX2_OBJECT)
static rams_vecmath_set pick(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (rams_vecmath_set){rams_softmax_rows_avx2, rams_gelu_avx2, rams_layernorm_avx2, "avx2"};
    return (rams_vecmath_set){rams_softmax_rows_generic, rams_gelu_generic, rams_layernorm_generic,
                              "generic"};
}
#else
static rams_vecmath_set pick(void)
{
    return (rams_vecmath_set){rams_softmax_rows_generic, rams_gelu_generic, rams_layernorm_generic,
                              "generic"};
}
#endif

static rams_vecmath_set chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;
static void choose(void) { chosen = pick(); }

const rams_vecmath_set *rams_vecmath(void)
{
    pthread_once(&chosen_once, choose);
    return &chosen;
}
#endif
