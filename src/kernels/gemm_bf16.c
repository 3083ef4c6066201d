/* bf16-portable: the bf16 numerics on any CPU.  The weights are kept as bf16 [out_dim, in_dim]
 * (half the bytes of f32); each product rounds its activations to bf16 (stored as the f32 values
 * they are), widens the weights one panel of output rows at a time into f32 (exact), and lets
 * single-threaded OpenBLAS sgemm multiply them.  A product of two bf16 values is exact in f32, so
 * this is "bf16 operands, f32 accumulation", the numerics of the AMX and AVX512-BF16 kernels (they
 * differ from it only in the order of the f32 additions).  Also the pack of the VNNI layout those
 * two share (gemm.h). */
#include <cblas.h>
#include <string.h>

#include "gemm.h"

/* ---- the bf16 [out_dim, in_dim] layout of this backend ------------------------------------- */

static size_t rowmajor_bytes(int out_dim, int in_dim)
{
    return (size_t)out_dim * (size_t)in_dim * sizeof(uint16_t);
}

static void rowmajor_pack(void *dst, int out_dim, int in_dim, rams_row_reader read, const void *src,
                          float *row)
{
    uint16_t *w = dst;
    for (int o = 0; o < out_dim; o++) {
        read(src, o, row);
        for (int i = 0; i < in_dim; i++) w[(size_t)o * in_dim + i] = rams_f32_to_bf16(row[i]);
    }
}

/* Weights widened per product: about 1 M floats (4 MB) a panel, at least 16 rows, whole panels of 16.
 * The scratch holds max(PANEL_FLOATS, 16 * in_dim) floats for the panel, which bounds the panel of
 * any narrower matrix too, then the rounded activations. */
#define PANEL_FLOATS (1 << 20)

static int panel_rows(int out_dim, int in_dim)
{
    int n = PANEL_FLOATS / in_dim / 16 * 16;
    if (n < 16) n = 16;
    return n < out_dim ? n : out_dim;
}

static size_t panel_room(int in_dim)
{
    size_t sixteen = (size_t)16 * in_dim;
    return sixteen > PANEL_FLOATS ? sixteen : PANEL_FLOATS;
}

static size_t portable_scratch_bytes(int rows, int in_dim)
{
    return (panel_room(in_dim) + (size_t)(rows < 1 ? 1 : rows) * in_dim) * sizeof(float);
}

static void portable_gemm(float *out, int out_stride, const float *in, int in_stride, int rows,
                          const rams_matrix *W, void *scratch, size_t scratch_bytes)
{
    int K = W->in_dim, N = W->out_dim, NC = panel_rows(N, K);
    const uint16_t *w = W->packed;
    size_t floats = scratch_bytes / sizeof(float), panel = (size_t)NC * K;
    /* The callers give at least scratch_bytes(1, K); the activations take what the panel leaves. */
    size_t room = floats > panel + (size_t)K ? floats - panel : (size_t)K;
    float *a = (float *)scratch + panel;
    float *widened = scratch;
    int block = room / (size_t)K > (size_t)rows ? rows : (int)(room / (size_t)K); /* rows per sweep */
    for (int r0 = 0; r0 < rows; r0 += block) {
        int m = rows - r0 < block ? rows - r0 : block;
        for (int r = 0; r < m; r++) {
            const float *src = in + (size_t)(r0 + r) * in_stride;
            float *dst = a + (size_t)r * K;
            for (int i = 0; i < K; i++) dst[i] = rams_round_bf16(src[i]);
        }
        for (int n0 = 0; n0 < N; n0 += NC) {
            int n = N - n0 < NC ? N - n0 : NC;
            const uint16_t *src = w + (size_t)n0 * K;
            for (size_t i = 0; i < (size_t)n * K; i++) widened[i] = rams_bf16_to_f32(src[i]);
            float *o = out + (size_t)r0 * out_stride + n0;
            if (m == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, n, K, 1.0f, widened, K, a, 1, 1.0f, o, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, K, 1.0f, a, K, widened, K, 1.0f, o,
                            out_stride);
        }
    }
}

const rams_gemm_backend rams_backend_bf16_portable = {
    .name = "bf16-portable",
    .precision = RAMS_PRECISION_BF16,
    .needs = "nothing",
    .available = rams_gemm_always_available,
    .packed_bytes = rowmajor_bytes,
    .pack = rowmajor_pack,
    .scratch_bytes = portable_scratch_bytes,
    .gemm = portable_gemm,
};

/* ---- the VNNI layout of the AMX and AVX512-BF16 kernels (gemm.h) ---------------------------- */

size_t rams_bf16_vnni_bytes(int out_dim, int in_dim)
{
    size_t panels = (size_t)(out_dim + 31) / 32 * 2; /* an even count: the kernels take panels in pairs */
    return panels * (size_t)rams_bf16_kpad(in_dim) * 16 * sizeof(uint16_t);
}

void rams_bf16_vnni_pack(void *dst, int out_dim, int in_dim, rams_row_reader read, const void *src,
                         float *row)
{
    uint16_t *w = dst;
    int Kp = rams_bf16_kpad(in_dim);
    memset(dst, 0, rams_bf16_vnni_bytes(out_dim, in_dim));
    for (int o = 0; o < out_dim; o++) {
        read(src, o, row);
        uint16_t *panel = w + (size_t)(o / 16) * Kp * 16;
        for (int i = 0; i < in_dim; i++)
            panel[(size_t)(i / 2) * 32 + (o % 16) * 2 + (i % 2)] = rams_f32_to_bf16(row[i]);
    }
}
