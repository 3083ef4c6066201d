/* The vpdpbusd tile of the AVX-VNNI (ymm) and AVX512-VNNI (zmm) int8 kernels: one loop, on the
 * register width of the file that includes it.  Per group of 4 k, one load of each register's
 * columns of the K4x16 panels (gemm_int8.h), then for each of the I8_MR rows one broadcast of the
 * row's 4 uint8 activations and one vpdpbusd per register (exact: no saturation).
 *
 * Included by gemm_int8_avxvnni.c and gemm_int8_avx512vnni.c (never compiled alone: each of them
 * is compiled for its own instruction set) after they define I8_MR, I8_NR, I8_VEC_BYTES (bytes of
 * one register) and the instructions, as intrinsics or, with RAMS_KERNEL_EMULATE, in plain C
 * (tests/emulate_int8.h):
 *
 *   I8_VEC             the register type
 *   VZ()               a register of zeros
 *   VLOAD(p)           I8_VEC_BYTES bytes from p (unaligned)
 *   VSET1(p)           the 4 bytes at p in every int32 lane
 *   VDP(acc, a, b)     vpdpbusd: acc + the four products of a's uint8 and b's int8 in each lane
 *   VSTORE(p, v)       I8_VEC_BYTES bytes to p (unaligned) */
#ifndef RAMS_KERNELS_GEMM_INT8_DPBUSD_H
#define RAMS_KERNELS_GEMM_INT8_DPBUSD_H

#include <stddef.h>
#include <stdint.h>

#define I8_VEC_LANES (I8_VEC_BYTES / 4)     /* int32 columns per register */
#define I8_VECS      (I8_NR / I8_VEC_LANES) /* registers per row of the tile */

/* Group g of the tile's columns col .. col + I8_VEC_LANES - 1 in the K4x16 panels that start at b
 * (one panel every b_stride bytes; the tile starts on a panel). */
static inline const int8_t *i8_dpbusd_cols(const int8_t *b, size_t b_stride, int g, int col)
{
    return b + (size_t)(col / 16) * b_stride + (size_t)g * 64 + (size_t)(col % 16) * 4;
}

static inline void i8_tile(const void *a, size_t a_stride, const int8_t *b, size_t b_stride, int k_pad,
                           int32_t *c)
{
    I8_VEC acc[I8_MR][I8_VECS];
    for (int i = 0; i < I8_MR; i++)
        for (int v = 0; v < I8_VECS; v++) acc[i][v] = VZ();
    const char *a0 = (const char *)a;
    for (int g = 0; g < k_pad / 4; g++) {
        I8_VEC bv[I8_VECS];
        for (int v = 0; v < I8_VECS; v++) bv[v] = VLOAD(i8_dpbusd_cols(b, b_stride, g, v * I8_VEC_LANES));
        for (int i = 0; i < I8_MR; i++) {
            I8_VEC av = VSET1(a0 + (size_t)i * a_stride + (size_t)g * 4);
            for (int v = 0; v < I8_VECS; v++) acc[i][v] = VDP(acc[i][v], av, bv[v]);
        }
    }
    for (int i = 0; i < I8_MR; i++)
        for (int v = 0; v < I8_VECS; v++) VSTORE(c + i * I8_NR + v * I8_VEC_LANES, acc[i][v]);
}

#endif
