/* Plain-C stand-ins for the instructions of the AMX and AVX512-BF16 kernels, so that tests can run
 * those kernels' loops (addressing, blocking, edges, the tile program) on a CPU without the
 * instructions: compile the kernel's source with RAMS_KERNEL_EMULATE (tests/emulated_amx.c,
 * tests/emulated_avx512.c).  The arithmetic follows Intel's pseudocode for VDPBF16PS and TDPBF16PS:
 * each f32 lane adds the products of its bf16 pair (exact in f32) to the accumulator, one at a time,
 * rounding to nearest (denormals are not flushed here; the tests' values have none).  The AMX tiles
 * themselves are emulate_amx.h's, shared with the int8 kernels' emulation. */
#ifndef RAMS_EMULATE_X86_H
#define RAMS_EMULATE_X86_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline float emu_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- AVX512-BF16 ---------------------------------------------------------------------------- */
typedef struct {
    float f[16];
} v16f;
typedef struct {
    uint16_t h[32];
} v32bf;

static inline v16f emu_zero(void)
{
    v16f v;
    memset(&v, 0, sizeof v);
    return v;
}
static inline v32bf emu_load_bf(const void *p)
{
    v32bf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline v32bf emu_set1_pair(const void *p)
{
    v32bf v;
    uint16_t pair[2];
    memcpy(pair, p, 4);
    for (int i = 0; i < 16; i++) v.h[2 * i] = pair[0], v.h[2 * i + 1] = pair[1];
    return v;
}
static inline v16f emu_dp(v16f acc, v32bf a, v32bf b)
{
    for (int i = 0; i < 16; i++) {
        acc.f[i] += emu_bf16(a.h[2 * i + 1]) * emu_bf16(b.h[2 * i + 1]);
        acc.f[i] += emu_bf16(a.h[2 * i]) * emu_bf16(b.h[2 * i]);
    }
    return acc;
}
#define V_ZERO()        emu_zero()
#define V_LOAD_BF(p)    emu_load_bf(p)
#define V_SET1_PAIR(p)  emu_set1_pair(p)
#define V_DP(acc, a, b) emu_dp((acc), (a), (b))
#define V_ADD_STORE(out, v, n)                                              \
    do {                                                                    \
        for (int i_ = 0; i_ < (n) && i_ < 16; i_++) (out)[i_] += (v).f[i_]; \
    } while (0)

/* ---- AMX: the tiles (emulate_amx.h) and TDPBF16PS ----------------------------------------- */
#include "emulate_amx.h"

/* C[m][n] += sum over k of A.bf16[m][2k] B.bf16[k][2n] + A.bf16[m][2k+1] B.bf16[k][2n+1] */
static inline void emu_tile_dpbf16(int c, int a, int b)
{
    int M, Kpairs, N;
    emu_tile_dp_shape(c, a, b, &M, &Kpairs, &N);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float acc;
            memcpy(&acc, &emu_t.data[c][m][4 * n], 4);
            for (int k = 0; k < Kpairs; k++) {
                uint16_t a0, a1, b0, b1;
                memcpy(&a0, &emu_t.data[a][m][4 * k], 2), memcpy(&a1, &emu_t.data[a][m][4 * k + 2], 2);
                memcpy(&b0, &emu_t.data[b][k][4 * n], 2), memcpy(&b1, &emu_t.data[b][k][4 * n + 2], 2);
                acc += emu_bf16(a0) * emu_bf16(b0);
                acc += emu_bf16(a1) * emu_bf16(b1);
            }
            memcpy(&emu_t.data[c][m][4 * n], &acc, 4);
        }
}
#define T_DPBF16(c, a, b) emu_tile_dpbf16(c, a, b)

#endif
