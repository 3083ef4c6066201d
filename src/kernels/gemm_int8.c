/* The int8 GEMM backend's common part (gemm_int8.h): the portable kernel, the choice of kernel at
 * run time, the q8 weight rule, packing, and the per-row quantization of activations.  Compiled
 * with -ffp-contract=off like every gemm_int8*.c (gemm_int8_driver.h says why). */
#include "gemm_int8.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu.h"
#include "gemm.h"

/* ---- the portable kernel: the reference every other kernel must equal ----------------------- */

#define I8_MR      4
#define I8_NR      16
#define I8_PACKED  0
#define I8_A_INT16 0

static inline void i8_tile(const void *a, size_t a_stride, const int8_t *b, size_t b_stride, int k_pad,
                           int32_t *c)
{
    for (int i = 0; i < I8_MR; i++) {
        const uint8_t *ai = (const uint8_t *)a + (size_t)i * a_stride;
        for (int j = 0; j < I8_NR; j++) {
            const int8_t *bj = b + (size_t)j * b_stride;
            int32_t s = 0;
            for (int t = 0; t < k_pad; t++) s += (int32_t)ai[t] * (int32_t)bj[t];
            c[i * I8_NR + j] = s;
        }
    }
}

#include "gemm_int8_driver.h"

static const rams_i8_kernel kernel_portable = {
    .id = RAMS_I8_PORTABLE, .name = "int8-portable", I8_DRIVER_FIELDS};

/* ---- which kernels this CPU runs ---------------------------------------------------------- */

const rams_i8_kernel *rams_i8_kernel_get(rams_i8_kernel_id id)
{
    switch (id) {
    case RAMS_I8_PORTABLE: return &kernel_portable;
#ifdef RAMS_HAVE_I8_X86_KERNELS
    case RAMS_I8_AVX2: return &rams_i8_kernel_avx2;
    case RAMS_I8_AVXVNNI: return &rams_i8_kernel_avxvnni;
    case RAMS_I8_AVX512VNNI: return &rams_i8_kernel_avx512vnni;
    case RAMS_I8_AMX: return &rams_i8_kernel_amx;
#endif
    default: return NULL;
    }
}

int rams_i8_kernel_supported(rams_i8_kernel_id id)
{
    if (!rams_i8_kernel_get(id)) return 0;
    const rams_cpu_info *c = rams_cpu();
    switch (id) {
    case RAMS_I8_PORTABLE: return 1;
    case RAMS_I8_AVX2: return c->avx2;
    case RAMS_I8_AVXVNNI: return c->avx_vnni;
    case RAMS_I8_AVX512VNNI: return c->avx512f && c->avx512bw && c->avx512_vnni;
    case RAMS_I8_AMX: return c->amx_tile && c->amx_int8;
    default: return 0;
    }
}

/* ---- the q8 weight rule --------------------------------------------------------------------- */

void rams_q8_quantize_matrix(const float *w, int rows, int cols, int8_t *q, float *scale)
{
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (size_t)r * cols;
        int8_t *qr = q + (size_t)r * cols;
        float amax = 0.0f;
        for (int i = 0; i < cols; i++) {
            float a = fabsf(wr[i]);
            amax = a > amax ? a : amax;
        }
        float s = amax / 127.0f;
        scale[r] = s;
        if (s == 0.0f) {
            memset(qr, 0, (size_t)cols);
            continue;
        }
        for (int i = 0; i < cols; i++) {
            float v = nearbyintf(wr[i] / s); /* ties to even, as numpy's rint */
            qr[i] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : (int)v);
        }
    }
}

/* ---- packing -------------------------------------------------------------------------------- */

static void dims(int n, int k, int *n_pad, int *k_pad)
{
    *n_pad = rams_i8_round_up(n, RAMS_I8_N_ALIGN);
    *k_pad = rams_i8_round_up(k, RAMS_I8_K_ALIGN);
}

size_t rams_i8_packed_bytes(int n, int k)
{
    int n_pad, k_pad;
    dims(n, k, &n_pad, &k_pad);
    return (size_t)n_pad * k_pad + (size_t)n_pad * (sizeof(float) + sizeof(int32_t));
}

rams_i8_matrix rams_i8_view(const rams_i8_kernel *kernel, const void *block, int n, int k)
{
    rams_i8_matrix m = {.kernel = kernel, .n = n, .k = k};
    dims(n, k, &m.n_pad, &m.k_pad);
    m.data = block;
    m.scale = (const float *)(m.data + (size_t)m.n_pad * m.k_pad);
    m.wsum = (const int32_t *)(m.scale + m.n_pad);
    return m;
}

void rams_i8_pack_clear(void *block, int n, int k) { memset(block, 0, rams_i8_packed_bytes(n, k)); }

void rams_i8_pack_row(const rams_i8_kernel *kernel, void *block, int n, int k, int row, const int8_t *q,
                      float scale)
{
    rams_i8_matrix m = rams_i8_view(kernel, block, n, k);
    int8_t *data = (int8_t *)block;
    int32_t s = 0;
    for (int i = 0; i < k; i++) s += q[i];
    ((int32_t *)m.wsum)[row] = s;
    ((float *)m.scale)[row] = scale;
    if (!kernel->packed) {
        memcpy(data + (size_t)row * m.k_pad, q, (size_t)k);
        return;
    }
    int8_t *panel = data + (size_t)(row / 16) * m.k_pad * 16 + (size_t)(row % 16) * 4;
    int g = 0;
    for (; 4 * g + 4 <= k; g++) memcpy(panel + (size_t)g * 64, q + 4 * g, 4); /* whole groups of 4 */
    for (int i = 4 * g; i < k; i++) panel[(size_t)(i / 4) * 64 + i % 4] = q[i];
}

void rams_i8_pack(const rams_i8_kernel *kernel, void *block, int n, int k, const int8_t *q,
                  const float *scale)
{
    rams_i8_pack_clear(block, n, k);
    for (int j = 0; j < n; j++) rams_i8_pack_row(kernel, block, n, k, j, q + (size_t)j * k, scale[j]);
}

/* ---- activations ---------------------------------------------------------------------------- */

void rams_i8_quantize_rows(const rams_i8_kernel *kernel, const float *x, int x_stride, int rows, int k,
                           int k_pad, void *a, size_t a_stride, float *a_scale, int32_t *a_zero)
{
    kernel->quantize(x, x_stride, rows, k, k_pad, a, a_stride, a_scale, a_zero);
}

/* ---- the product ---------------------------------------------------------------------------- */

void rams_i8_gemm(const rams_i8_matrix *m, const void *a, size_t a_stride, const float *a_scale,
                  const int32_t *a_zero, int rows, float *out, int out_stride)
{
    const rams_i8_kernel *k = m->kernel;
    if (rows <= 0) return;
    if (k->begin) k->begin();
    k->gemm(m, a, a_stride, a_scale, a_zero, rows, out, out_stride);
    if (k->end) k->end();
}

void rams_i8_gemm_int32(const rams_i8_matrix *m, const void *a, size_t a_stride, int rows, int32_t *c,
                        int c_stride)
{
    const rams_i8_kernel *k = m->kernel;
    if (rows <= 0) return;
    if (k->begin) k->begin();
    k->gemm_int32(m, a, a_stride, rows, c, c_stride);
    if (k->end) k->end();
}

/* ---- the GEMM backends (gemm.h) ----------------------------------------------------------- */

/* Each output row read as f32, quantized by the q8 rule and packed.  The int8 row is written over
 * the start of the float row it comes from: byte i lies in float i / 4, already read. */
static void pack_rows(rams_i8_kernel_id id, void *dst, int out_dim, int in_dim, rams_row_reader read,
                      const void *src, float *row)
{
    const rams_i8_kernel *kernel = rams_i8_kernel_get(id);
    rams_i8_pack_clear(dst, out_dim, in_dim);
    for (int o = 0; o < out_dim; o++) {
        read(src, o, row);
        float scale;
        rams_q8_quantize_matrix(row, 1, in_dim, (int8_t *)row, &scale);
        rams_i8_pack_row(kernel, dst, out_dim, in_dim, o, (const int8_t *)row, scale);
    }
}

/* Scratch: activations for `cap` rows (a whole number of row blocks plus RAMS_I8_MAX_MR rows of
 * padding for the kernel's tile), each k_pad int16 at most, and a scale and zero point per row. */
static size_t scratch_row_bytes(int in_dim)
{
    return (size_t)rams_i8_round_up(in_dim, RAMS_I8_K_ALIGN) * 2 + 8;
}

static size_t i8_scratch_bytes(int rows, int in_dim)
{
    size_t cap = (size_t)rams_i8_round_up(rows < 1 ? 1 : rows, RAMS_I8_MAX_MR) + RAMS_I8_MAX_MR;
    return cap * scratch_row_bytes(in_dim) + 128;
}

static void i8_gemm(rams_i8_kernel_id id, float *out, int out_stride, const float *in, int in_stride,
                    int rows, const rams_matrix *W, void *scratch, size_t scratch_bytes)
{
    if (!W->packed) { /* a matrix this precision keeps in f32 (the patch embedding) */
        rams_gemm_f32(out, out_stride, in, in_stride, rows, W->in_dim, W->f32, W->out_dim);
        return;
    }
    const rams_i8_kernel *kernel = rams_i8_kernel_get(id);
    rams_i8_matrix m = rams_i8_view(kernel, W->packed, W->out_dim, W->in_dim);
    size_t row_bytes = rams_i8_a_row_bytes(kernel, m.k_pad);
    uint8_t *a = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    size_t cap = (scratch_bytes - (size_t)(a - (uint8_t *)scratch) - 64) / scratch_row_bytes(W->in_dim);
    int block = (int)(cap - RAMS_I8_MAX_MR) / RAMS_I8_MAX_MR * RAMS_I8_MAX_MR;
    float *a_scale = (float *)(a + cap * row_bytes);
    int32_t *a_zero = (int32_t *)(a_scale + cap);
    for (int r0 = 0; r0 < rows; r0 += block) {
        int n = rows - r0 < block ? rows - r0 : block;
        rams_i8_quantize_rows(kernel, in + (size_t)r0 * in_stride, in_stride, n, m.k, m.k_pad, a, row_bytes,
                              a_scale, a_zero);
        rams_i8_gemm(&m, a, row_bytes, a_scale, a_zero, n, out + (size_t)r0 * out_stride, out_stride);
    }
}

static size_t i8_packed_bytes(int out_dim, int in_dim) { return rams_i8_packed_bytes(out_dim, in_dim); }

#define I8_BACKEND(ID, SYM, NAME, NEEDS)                                                               \
    static int available_##SYM(void) { return rams_i8_kernel_supported(ID); }                          \
    static void pack_##SYM(void *dst, int out_dim, int in_dim, rams_row_reader read, const void *src,  \
                           float *row)                                                                 \
    {                                                                                                  \
        pack_rows(ID, dst, out_dim, in_dim, read, src, row);                                           \
    }                                                                                                  \
    static void pack_q8_##SYM(void *dst, int out_dim, int in_dim, const int8_t *q, const float *scale) \
    {                                                                                                  \
        rams_i8_pack(rams_i8_kernel_get(ID), dst, out_dim, in_dim, q, scale);                          \
    }                                                                                                  \
    static void gemm_##SYM(float *out, int out_stride, const float *in, int in_stride, int rows,       \
                           const rams_matrix *W, void *scratch, size_t scratch_bytes)                  \
    {                                                                                                  \
        i8_gemm(ID, out, out_stride, in, in_stride, rows, W, scratch, scratch_bytes);                  \
    }                                                                                                  \
    const rams_gemm_backend rams_backend_##SYM = {                                                     \
        .name = NAME,                                                                                  \
        .precision = RAMS_PRECISION_INT8,                                                              \
        .needs = NEEDS,                                                                                \
        .available = available_##SYM,                                                                  \
        .packed_bytes = i8_packed_bytes,                                                               \
        .pack = pack_##SYM,                                                                            \
        .scratch_bytes = i8_scratch_bytes,                                                             \
        .gemm = gemm_##SYM,                                                                            \
        .pack_q8 = pack_q8_##SYM,                                                                      \
    };

I8_BACKEND(RAMS_I8_PORTABLE, int8_portable, "int8-portable", "nothing")
#ifdef RAMS_HAVE_I8_X86_KERNELS
I8_BACKEND(RAMS_I8_AMX, int8_amx, "int8-amx", "AMX-INT8")
I8_BACKEND(RAMS_I8_AVX512VNNI, int8_avx512_vnni, "int8-avx512-vnni", "AVX512-VNNI (with AVX512BW)")
I8_BACKEND(RAMS_I8_AVXVNNI, int8_avx_vnni, "int8-avx-vnni", "AVX-VNNI")
I8_BACKEND(RAMS_I8_AVX2, int8_avx2, "int8-avx2", "AVX2")
#endif
