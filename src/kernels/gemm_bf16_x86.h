/* What the AMX and AVX512-BF16 kernels share (included by gemm_bf16_amx.c and gemm_bf16_avx512.c):
 * the activations rounded to bf16 into the scratch, rows padded with zeros to the kernel's row
 * block and inputs to Kp, and the panels of the VNNI layout (gemm.h) taken in blocks that stay in
 * L2.  Each kernel's instructions are reached through a few macros, so that a test can compile the
 * same file with RAMS_KERNEL_EMULATE and run its loops, tile by tile, in plain C on a CPU without
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

#endif
