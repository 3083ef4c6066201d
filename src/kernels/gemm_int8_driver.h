/* The loops around an int8 kernel's tile, and the one dequantizing epilogue (gemm_int8.h).
 * Included by each kernel's translation unit after it defines
 *
 *   I8_MR, I8_NR          the tile's rows and columns
 *   I8_PACKED             1: weights in K4x16 panels; 0: row-major [n_pad][k_pad]
 *   I8_A_INT16            1: activations stored as int16; 0: as uint8
 *   i8_tile(a, a_stride, b, b_stride, k_pad, c)   the tile (static inline)
 *
 * so that the tile is inlined, and the epilogue and the activations' quantizer are compiled for the
 * same instruction set (their results do not depend on it: IEEE multiplications, additions and
 * comparisons, the same in every vector width).  Every such
 * file is compiled with -ffp-contract=off: the epilogue's multiply and add stay two roundings
 * everywhere, so every kernel gives the same floats from the same integers.
 *
 * The kernel's table entry then takes its shape and these functions from I8_DRIVER_FIELDS:
 *
 *   const rams_i8_kernel rams_i8_kernel_x = {.id = RAMS_I8_X, .name = "int8-x", I8_DRIVER_FIELDS}; */
#ifndef I8_MR
#error "define I8_MR, I8_NR, I8_PACKED and i8_tile before including gemm_int8_driver.h"
#endif

#include <float.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gemm_int8.h"

/* Columns per block: the block's weights (I8_BLOCK_BYTES) stay in a core's L2 cache while every
 * row block of activations passes over them. */
#ifndef I8_BLOCK_BYTES
#define I8_BLOCK_BYTES (192 * 1024)
#endif

static inline const int8_t *i8_weights_at(const rams_i8_matrix *m, int j0, size_t *b_stride)
{
    if (I8_PACKED) {
        *b_stride = (size_t)m->k_pad * 16;
        return m->data + (size_t)(j0 / 16) * *b_stride + (size_t)(j0 % 16) * 4;
    }
    *b_stride = (size_t)m->k_pad;
    return m->data + (size_t)j0 * m->k_pad;
}

static inline int i8_block_cols(const rams_i8_matrix *m)
{
    int cols = I8_BLOCK_BYTES / m->k_pad / I8_NR * I8_NR;
    return cols < I8_NR ? I8_NR : cols;
}

/* out[r][j] += (float)(c - a_zero[r] * wsum[j]) * (a_scale[r] * w_scale[j]) for the tile's valid
 * rows and columns. */
static inline void i8_epilogue(const rams_i8_matrix *m, const int32_t *c, int r0, int rows, int j0, int cols,
                               const float *a_scale, const int32_t *a_zero, float *out, int out_stride)
{
    const float *ws = m->scale + j0;
    const int32_t *wsum = m->wsum + j0;
    for (int i = 0; i < rows; i++) {
        float sa = a_scale[r0 + i];
        int32_t za = a_zero[r0 + i];
        const int32_t *ci = c + (size_t)i * I8_NR;
        float *o = out + (size_t)(r0 + i) * out_stride + j0;
        for (int j = 0; j < cols; j++) {
            float coef = sa * ws[j];
            float v = (float)(ci[j] - za * wsum[j]);
            o[j] = o[j] + v * coef;
        }
    }
}

static void i8_driver_gemm(const rams_i8_matrix *m, const void *a, size_t a_stride, const float *a_scale,
                           const int32_t *a_zero, int rows, float *out, int out_stride)
{
    _Alignas(64) int32_t c[I8_MR * I8_NR];
    int block = i8_block_cols(m);
    for (int n0 = 0; n0 < m->n; n0 += block) {
        int n1 = n0 + block < m->n ? n0 + block : m->n;
        for (int r0 = 0; r0 < rows; r0 += I8_MR) {
            const void *ar = (const char *)a + (size_t)r0 * a_stride;
            int rr = rows - r0 < I8_MR ? rows - r0 : I8_MR;
            for (int j0 = n0; j0 < n1; j0 += I8_NR) {
                size_t b_stride;
                const int8_t *b = i8_weights_at(m, j0, &b_stride);
                i8_tile(ar, a_stride, b, b_stride, m->k_pad, c);
                i8_epilogue(m, c, r0, rr, j0, n1 - j0 < I8_NR ? n1 - j0 : I8_NR, a_scale, a_zero, out,
                            out_stride);
            }
        }
    }
}

static void i8_driver_gemm_int32(const rams_i8_matrix *m, const void *a, size_t a_stride, int rows,
                                 int32_t *out, int out_stride)
{
    _Alignas(64) int32_t c[I8_MR * I8_NR];
    for (int r0 = 0; r0 < rows; r0 += I8_MR) {
        const void *ar = (const char *)a + (size_t)r0 * a_stride;
        int rr = rows - r0 < I8_MR ? rows - r0 : I8_MR;
        for (int j0 = 0; j0 < m->n; j0 += I8_NR) {
            size_t b_stride;
            const int8_t *b = i8_weights_at(m, j0, &b_stride);
            i8_tile(ar, a_stride, b, b_stride, m->k_pad, c);
            int cols = m->n - j0 < I8_NR ? m->n - j0 : I8_NR;
            for (int i = 0; i < rr; i++)
                for (int j = 0; j < cols; j++) out[(size_t)(r0 + i) * out_stride + j0 + j] = c[i * I8_NR + j];
        }
    }
}

/* ---- activations ---------------------------------------------------------------------------- */

/* Rounds to the nearest integer, ties to even, for |v| < 2^22: adding 1.5 * 2^23 pushes the
 * fraction out (the default rounding mode rounds it), subtracting brings the integer back. */
static inline float i8_round_even(float v)
{
    const float shifter = 12582912.0f;
    return (v + shifter) - shifter;
}

/* Four floats as a GCC vector (16 bytes: the same calling convention on every x86-64), and their
 * lane-wise minimum and maximum as `a < b ? a : b` gives them (a NaN lane keeps b). */
typedef float i8_v4f __attribute__((vector_size(16)));
typedef int32_t i8_v4i __attribute__((vector_size(16)));
static inline i8_v4f i8_vmin(i8_v4f a, i8_v4f b)
{
    i8_v4i m = (i8_v4i)(a < b);
    return (i8_v4f)(((i8_v4i)a & m) | ((i8_v4i)b & ~m));
}
static inline i8_v4f i8_vmax(i8_v4f a, i8_v4f b)
{
    i8_v4i m = (i8_v4i)(a > b);
    return (i8_v4f)(((i8_v4i)a & m) | ((i8_v4i)b & ~m));
}

/* rams_i8_quantize_rows (gemm_int8.h) for this kernel. */
static void i8_driver_quantize(const float *x, int x_stride, int rows, int k, int k_pad, void *a,
                               size_t a_stride, float *a_scale, int32_t *a_zero)
{
    int rows_pad = rams_i8_round_up(rows, I8_MR);
    for (int r = 0; r < rows_pad; r++) {
        uint8_t *row8 = (uint8_t *)a + (size_t)r * a_stride;
        int16_t *row16 = (int16_t *)row8;
        if (r >= rows) {
            memset(row8, 0, (size_t)k_pad * (I8_A_INT16 ? 2 : 1));
            continue;
        }
        const float *xr = x + (size_t)r * x_stride;
        /* The range always holds 0, so that zero (padding, ReLU-like zeros) is exact.  Eight lanes
         * in GCC vectors (a minimum is exact in any order, so every kernel finds the same range). */
        i8_v4f lo4[2] = {{0}, {0}}, hi4[2] = {{0}, {0}};
        float lo = 0.0f, hi = 0.0f;
        int i = 0;
        for (; i + 8 <= k; i += 8)
            for (int h = 0; h < 2; h++) {
                i8_v4f v;
                memcpy(&v, xr + i + 4 * h, sizeof v);
                lo4[h] = i8_vmin(v, lo4[h]);
                hi4[h] = i8_vmax(v, hi4[h]);
            }
        for (; i < k; i++) {
            lo = xr[i] < lo ? xr[i] : lo;
            hi = xr[i] > hi ? xr[i] : hi;
        }
        for (int j = 0; j < 8; j++) {
            lo = lo4[j / 4][j % 4] < lo ? lo4[j / 4][j % 4] : lo;
            hi = hi4[j / 4][j % 4] > hi ? hi4[j / 4][j % 4] : hi;
        }
        float scale = (hi - lo) / 255.0f;
        if (!(scale >= FLT_MIN)) scale = 1.0f; /* all zeros (or a range too small to matter) */
        float inv = 1.0f / scale;
        float z = i8_round_even(-lo * inv);
        z = z >= 0.0f ? z : 0.0f;
        z = z <= 255.0f ? z : 255.0f;
        a_scale[r] = scale;
        a_zero[r] = (int32_t)z;
        /* q = clamp(rint(x / scale) + z, 0, 255); a NaN lands on 0 (never an undefined conversion). */
        if (I8_A_INT16) {
            for (int i = 0; i < k; i++) {
                float v = i8_round_even(xr[i] * inv) + z;
                v = v >= 0.0f ? v : 0.0f;
                v = v <= 255.0f ? v : 255.0f;
                row16[i] = (int16_t)v;
            }
            memset(row16 + k, 0, (size_t)(k_pad - k) * sizeof *row16);
        } else {
            for (int i = 0; i < k; i++) {
                float v = i8_round_even(xr[i] * inv) + z;
                v = v >= 0.0f ? v : 0.0f;
                v = v <= 255.0f ? v : 255.0f;
                row8[i] = (uint8_t)v;
            }
            memset(row8 + k, 0, (size_t)(k_pad - k));
        }
    }
}

/* The fields of a kernel's table entry (gemm_int8.h) that come from its I8_* definitions and this
 * driver; the entry adds its id and name (and AMX its begin and end). */
#define I8_DRIVER_FIELDS                                                                          \
    .mr = I8_MR, .nr = I8_NR, .a_int16 = I8_A_INT16, .packed = I8_PACKED, .gemm = i8_driver_gemm, \
    .gemm_int32 = i8_driver_gemm_int32, .quantize = i8_driver_quantize
