/* What the AMX and AVX512-BF16 kernels share (included by gemm_bf16_amx.c and gemm_bf16_avx512.c,
 * never compiled alone): the loops around a kernel's block (rams_bf16_x86_gemm: the activations
 * rounded to bf16 into the scratch, rows padded with zeros to the kernel's row block and inputs to
 * Kp, and the panels of the VNNI layout (gemm.h) taken in blocks that stay in L2) and their table
 * entry's common fields.  Each kernel's instructions are reached through a few macros, so that a
 * test can compile the same file with RAMS_KERNEL_EMULATE and run its loops, tile by tile, in plain C on a CPU without
 * the instructions (tests/emulate_x86.h): what is checked on every machine is then the kernel's
 * addressing, blocking and edges; only the instructions themselves need the CPU. */
#ifndef RAMS_GEMM_BF16_X86_H
#define RAMS_GEMM_BF16_X86_H

#include <string.h>

#include "gemm.h"

/* Panels of Kp * 16 bf16 values per block of the output columns: about 512 KB of weights, which
 * stay in L2 while every row block of the activations passes over them. */
static inline int rams_bf16_panel_block(int Kp)
{
    int n = (512 * 1024) / (Kp * 32) / 2 * 2;
    return n < 2 ? 2 : n;
}

/* Scratch layout: the rounded activations [rows_cap][Kp] bf16, then `extra` bytes (a tile's f32
 * result), each 64-byte aligned. */
static inline size_t rams_bf16_x86_scratch(int rows, int in_dim, int row_block, size_t extra)
{
    size_t r = (size_t)((rows < 1 ? 1 : rows) + row_block - 1) / row_block * row_block;
    return r * (size_t)rams_bf16_kpad(in_dim) * 2 + extra + 128;
}

/* Rows [0, m) of `in` rounded to bf16 into a[m_pad][Kp], zeros in the padding. */
static inline void rams_bf16_round_rows(uint16_t *a, int Kp, const float *in, int in_stride, int m, int m_pad,
                                        int K)
{
    for (int r = 0; r < m; r++) {
        const float *src = in + (size_t)r * in_stride;
        uint16_t *dst = a + (size_t)r * Kp;
        for (int i = 0; i < K; i++) dst[i] = rams_f32_to_bf16(src[i]);
        if (Kp > K) memset(dst + K, 0, (size_t)(Kp - K) * sizeof *dst);
    }
    if (m_pad > m) memset(a + (size_t)m * Kp, 0, (size_t)(m_pad - m) * Kp * sizeof *a);
}

static inline void *rams_align64(void *p) { return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

/* A kernel's block: rows [0, mr) of a (bf16 [.][Kp], padded rows included) times the pair of
 * panels w0, w1 (32 columns), added to the rows_valid x cols_valid corner of out; `tile` is the
 * kernel's own part of the scratch (tile_bytes, 64-byte aligned). */
typedef void rams_bf16_x86_block(const uint16_t *a, int Kp, const uint16_t *w0, const uint16_t *w1,
                                 float *out, int out_stride, int rows_valid, int cols_valid, void *tile);

/* out[rows, N] += in[rows, K] . W^T through `block`: the scratch (rams_bf16_x86_scratch(rows, K, mr,
 * tile_bytes) or less, never under that of one row) holds the block's tile, then the rounded
 * activations of as many row blocks as fit.  Always inlined into each kernel's gemm with `block`
 * a constant, so that the block is inlined in turn and everything is compiled for that kernel's
 * instruction set. */
static inline __attribute__((always_inline)) void rams_bf16_x86_gemm(
    float *out, int out_stride, const float *in, int in_stride, int rows, const rams_matrix *W, void *scratch,
    size_t scratch_bytes, int mr, size_t tile_bytes, rams_bf16_x86_block *block)
{
    int K = W->in_dim, N = W->out_dim, Kp = rams_bf16_kpad(K);
    int panels = (N + 31) / 32 * 2, panel_block = rams_bf16_panel_block(Kp);
    const uint16_t *w = W->packed;
    void *tile = rams_align64(scratch);
    uint16_t *a = (uint16_t *)((char *)tile + tile_bytes);
    int cap = (int)((scratch_bytes - 128 - tile_bytes) / ((size_t)Kp * 2)) / mr * mr; /* rows per sweep */
    if (cap < mr) cap = mr; /* never: scratch_bytes(1, K) holds one block */
    for (int m0 = 0; m0 < rows; m0 += cap) {
        int m = rows - m0 < cap ? rows - m0 : cap, m_pad = (m + mr - 1) / mr * mr;
        rams_bf16_round_rows(a, Kp, in + (size_t)m0 * in_stride, in_stride, m, m_pad, K);
        for (int p0 = 0; p0 < panels; p0 += panel_block) {
            int p1 = p0 + panel_block < panels ? p0 + panel_block : panels;
            for (int r0 = 0; r0 < m_pad; r0 += mr) {
                int rv = m - r0 < mr ? m - r0 : mr;
                for (int p = p0; p < p1; p += 2) {
                    int cv = N - p * 16;
                    if (cv <= 0) break;
                    const uint16_t *w0 = w + (size_t)p * Kp * 16;
                    block(a + (size_t)r0 * Kp, Kp, w0, w0 + (size_t)Kp * 16,
                          out + (size_t)(m0 + r0) * out_stride + p * 16, out_stride, rv, cv < 32 ? cv : 32,
                          tile);
                }
            }
        }
    }
}

/* The table entry's fields both kernels share: the precision and the packed layout (gemm.h). */
#define RAMS_BF16_VNNI_FIELDS \
    .precision = RAMS_PRECISION_BF16, .packed_bytes = rams_bf16_vnni_bytes, .pack = rams_bf16_vnni_pack

#endif
