/* Plain-C stand-ins for the instructions of the int8 kernels (src/kernels/gemm_int8_avx512vnni.c,
 * _avxvnni.c, _amx.c), so that test_gemm_int8 runs those kernels' loops (addressing, tiles, edges,
 * the tile program) on a CPU without the instructions: tests/emulated_int8_*.c compile each kernel
 * with RAMS_KERNEL_EMULATE.  The arithmetic is Intel's pseudocode for VPDPBUSD and TDPBUSD: each
 * int32 lane adds the four products of its unsigned and signed bytes (no saturation).  A tile load
 * or store touches exactly the configured rows x bytes, so the sanitizer builds see any overrun. */
#ifndef RAMS_EMULATE_INT8_H
#define RAMS_EMULATE_INT8_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- VPDPBUSD on 512 and 256 bits ----------------------------------------------------------- */
typedef struct {
    uint8_t b[64];
} emu_v512;
typedef struct {
    uint8_t b[32];
} emu_v256;

#define EMU_VEC_OPS(T, BYTES)                                                                           \
    static inline T T##_zero(void)                                                                      \
    {                                                                                                   \
        T v;                                                                                            \
        memset(&v, 0, sizeof v);                                                                        \
        return v;                                                                                       \
    }                                                                                                   \
    static inline T T##_load(const void *p)                                                             \
    {                                                                                                   \
        T v;                                                                                            \
        memcpy(&v, p, BYTES);                                                                           \
        return v;                                                                                       \
    }                                                                                                   \
    static inline T T##_set1(const void *p)                                                             \
    {                                                                                                   \
        T v;                                                                                            \
        for (int i = 0; i < BYTES; i += 4) memcpy(v.b + i, p, 4);                                       \
        return v;                                                                                       \
    }                                                                                                   \
    static inline T T##_dpbusd(T acc, T a, T b)                                                         \
    {                                                                                                   \
        for (int l = 0; l < BYTES / 4; l++) {                                                           \
            int32_t s;                                                                                  \
            memcpy(&s, acc.b + 4 * l, 4);                                                               \
            for (int t = 0; t < 4; t++) s += (int32_t)a.b[4 * l + t] * (int32_t)(int8_t)b.b[4 * l + t]; \
            memcpy(acc.b + 4 * l, &s, 4);                                                               \
        }                                                                                               \
        return acc;                                                                                     \
    }                                                                                                   \
    static inline void T##_store(void *p, T v) { memcpy(p, &v, BYTES); }

EMU_VEC_OPS(emu_v512, 64)
EMU_VEC_OPS(emu_v256, 32)

#define V512           emu_v512
#define VZ()           emu_v512_zero()
#define VLOAD(p)       emu_v512_load(p)
#define VSET1(p)       emu_v512_set1(p)
#define VDP(acc, a, b) emu_v512_dpbusd((acc), (a), (b))
#define VSTORE(p, v)   emu_v512_store((p), (v))

#define Y256           emu_v256
#define YZ()           emu_v256_zero()
#define YLOAD(p)       emu_v256_load(p)
#define YSET1(p)       emu_v256_set1(p)
#define YDP(acc, a, b) emu_v256_dpbusd((acc), (a), (b))
#define YSTORE(p, v)   emu_v256_store((p), (v))

/* ---- AMX tiles: TDPBUSD ---------------------------------------------------------------------- */
typedef struct {
    uint8_t data[8][16][64];
    int rows[8], colsb[8];
    int configured;
} emu_i8_tiles;
static _Thread_local emu_i8_tiles emu_i8_t;

static inline void emu_i8_loadconfig(const void *cfg)
{
    const uint8_t *c = cfg;
    if (c[0] != 1) abort(); /* palette 1 */
    for (int t = 0; t < 8; t++) {
        uint16_t colsb;
        memcpy(&colsb, c + 16 + 2 * t, 2);
        emu_i8_t.colsb[t] = colsb;
        emu_i8_t.rows[t] = c[48 + t];
        if (colsb > 64 || emu_i8_t.rows[t] > 16) abort();
    }
    emu_i8_t.configured = 1;
}
static inline void emu_i8_check(int t)
{
    if (!emu_i8_t.configured || t < 0 || t > 7) abort();
}
static inline void emu_i8_zero(int t)
{
    emu_i8_check(t);
    memset(emu_i8_t.data[t], 0, sizeof emu_i8_t.data[t]);
}
static inline void emu_i8_load(int t, const void *p, size_t stride)
{
    emu_i8_check(t);
    for (int r = 0; r < emu_i8_t.rows[t]; r++)
        memcpy(emu_i8_t.data[t][r], (const char *)p + r * stride, (size_t)emu_i8_t.colsb[t]);
}
static inline void emu_i8_store(int t, void *p, size_t stride)
{
    emu_i8_check(t);
    for (int r = 0; r < emu_i8_t.rows[t]; r++)
        memcpy((char *)p + r * stride, emu_i8_t.data[t][r], (size_t)emu_i8_t.colsb[t]);
}
/* C[m][n] += sum over k < K/4, t < 4 of A.u8[m][4k + t] * B.s8[k][4n + t] */
static inline void emu_i8_dpbusd(int c, int a, int b)
{
    emu_i8_check(c), emu_i8_check(a), emu_i8_check(b);
    int M = emu_i8_t.rows[a], K4 = emu_i8_t.colsb[a] / 4, N = emu_i8_t.colsb[b] / 4;
    if (emu_i8_t.rows[b] != K4 || emu_i8_t.rows[c] != M || emu_i8_t.colsb[c] != N * 4) abort();
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            int32_t acc;
            memcpy(&acc, &emu_i8_t.data[c][m][4 * n], 4);
            for (int k = 0; k < K4; k++)
                for (int t = 0; t < 4; t++)
                    acc += (int32_t)emu_i8_t.data[a][m][4 * k + t] *
                           (int32_t)(int8_t)emu_i8_t.data[b][k][4 * n + t];
            memcpy(&emu_i8_t.data[c][m][4 * n], &acc, 4);
        }
}
#define T_LOADCONFIG(cfg)     emu_i8_loadconfig(cfg)
#define T_RELEASE()           (emu_i8_t.configured = 0)
#define T_ZERO(t)             emu_i8_zero(t)
#define T_LOAD(t, p, stride)  emu_i8_load((t), (p), (size_t)(stride))
#define T_STORE(t, p, stride) emu_i8_store((t), (p), (size_t)(stride))
#define T_DPBUSD(c, a, b)     emu_i8_dpbusd((c), (a), (b))

#endif
