/* Plain-C stand-ins for the instructions of the int8 kernels (src/kernels/gemm_int8_avx512vnni.c,
 * _avxvnni.c, _amx.c), so that test_gemm_int8 runs those kernels' loops (addressing, tiles, edges,
 * the tile program) on a CPU without the instructions: tests/emulated_int8_*.c compile each kernel
 * with RAMS_KERNEL_EMULATE.  The arithmetic is Intel's pseudocode for VPDPBUSD and TDPBUSD: each
 * int32 lane adds the four products of its unsigned and signed bytes (no saturation).  The AMX
 * tiles themselves are emulate_amx.h's, shared with the bf16 kernels' emulation. */
#ifndef RAMS_EMULATE_INT8_H
#define RAMS_EMULATE_INT8_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- VPDPBUSD on a register of I8_VEC_BYTES bytes (64: zmm, 32: ymm), the macros of
 * src/kernels/gemm_int8_dpbusd.h; only for a kernel that defines I8_VEC_BYTES ---------------- */
#ifdef I8_VEC_BYTES
typedef struct {
    uint8_t b[I8_VEC_BYTES];
} emu_vec;

static inline emu_vec emu_vec_zero(void)
{
    emu_vec v;
    memset(&v, 0, sizeof v);
    return v;
}
static inline emu_vec emu_vec_load(const void *p)
{
    emu_vec v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline emu_vec emu_vec_set1(const void *p)
{
    emu_vec v;
    for (int i = 0; i < I8_VEC_BYTES; i += 4) memcpy(v.b + i, p, 4);
    return v;
}
static inline emu_vec emu_vec_dpbusd(emu_vec acc, emu_vec a, emu_vec b)
{
    for (int l = 0; l < I8_VEC_BYTES / 4; l++) {
        int32_t s;
        memcpy(&s, acc.b + 4 * l, 4);
        for (int t = 0; t < 4; t++) s += (int32_t)a.b[4 * l + t] * (int32_t)(int8_t)b.b[4 * l + t];
        memcpy(acc.b + 4 * l, &s, 4);
    }
    return acc;
}
static inline void emu_vec_store(void *p, emu_vec v) { memcpy(p, &v, sizeof v); }

#define I8_VEC         emu_vec
#define VZ()           emu_vec_zero()
#define VLOAD(p)       emu_vec_load(p)
#define VSET1(p)       emu_vec_set1(p)
#define VDP(acc, a, b) emu_vec_dpbusd((acc), (a), (b))
#define VSTORE(p, v)   emu_vec_store((p), (v))
#endif

/* ---- AMX: the tiles (emulate_amx.h) and TDPBUSD ---------------------------------------------- */
#include "emulate_amx.h"

/* C[m][n] += sum over k < K/4, t < 4 of A.u8[m][4k + t] * B.s8[k][4n + t] */
static inline void emu_tile_dpbusd(int c, int a, int b)
{
    int M, K4, N;
    emu_tile_dp_shape(c, a, b, &M, &K4, &N);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            int32_t acc;
            memcpy(&acc, &emu_t.data[c][m][4 * n], 4);
            for (int k = 0; k < K4; k++)
                for (int t = 0; t < 4; t++)
                    acc +=
                        (int32_t)emu_t.data[a][m][4 * k + t] * (int32_t)(int8_t)emu_t.data[b][k][4 * n + t];
            memcpy(&emu_t.data[c][m][4 * n], &acc, 4);
        }
}
#define T_DPBUSD(c, a, b) emu_tile_dpbusd((c), (a), (b))

#endif
