/* Plain-C AMX tiles for the emulated kernels (tests/emulate_x86.h: TDPBF16PS, tests/emulate_int8.h:
 * TDPBUSD): the tile configuration, the eight tile registers of palette 1 and their loads, stores
 * and zeroing, the same for both; each of those headers adds its product over the tiles.  A tile
 * load or store reads and writes exactly the configured rows x bytes, so the sanitizer builds see
 * any overrun. */
#ifndef RAMS_EMULATE_AMX_H
#define RAMS_EMULATE_AMX_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t data[8][16][64];
    int rows[8], colsb[8];
    int configured;
} emu_tiles;
static _Thread_local emu_tiles emu_t;

/* LDTILECFG with the checks after which the CPU raises #GP: palette 1, start_row and the reserved
 * bytes 0, tiles 8-15 unused (palette 1 has eight), and each tile either unused (rows and colsb
 * both 0) or at most 16 rows of at most 64 bytes. */
static inline void emu_loadconfig(const void *cfg)
{
    const uint8_t *c = cfg;
    if (c[0] != 1) abort(); /* palette 1 */
    for (int i = 1; i < 16; i++)
        if (c[i]) abort(); /* start_row, reserved */
    for (int t = 0; t < 16; t++) {
        uint16_t colsb;
        memcpy(&colsb, c + 16 + 2 * t, 2);
        int rows = c[48 + t];
        if (t >= 8 ? colsb || rows : colsb > 64 || rows > 16 || !colsb != !rows) abort();
        if (t < 8) emu_t.colsb[t] = colsb, emu_t.rows[t] = rows;
    }
    emu_t.configured = 1;
}
static inline void emu_check(int t)
{
    if (!emu_t.configured || t < 0 || t > 7 || !emu_t.rows[t]) abort(); /* an unused tile: #UD */
}
static inline void emu_tile_zero(int t)
{
    emu_check(t);
    memset(emu_t.data[t], 0, sizeof emu_t.data[t]);
}
static inline void emu_tile_load(int t, const void *p, size_t stride)
{
    emu_check(t);
    for (int r = 0; r < emu_t.rows[t]; r++)
        memcpy(emu_t.data[t][r], (const char *)p + r * stride, (size_t)emu_t.colsb[t]);
}
static inline void emu_tile_store(int t, void *p, size_t stride)
{
    emu_check(t);
    for (int r = 0; r < emu_t.rows[t]; r++)
        memcpy((char *)p + r * stride, emu_t.data[t][r], (size_t)emu_t.colsb[t]);
}
/* The shape of a product C += A . B over tiles c, a, b of 4-byte groups: C is M x N (int32 or f32),
 * A is M rows of K groups, B is K rows of N groups; anything else aborts, as the CPU faults. */
static inline void emu_tile_dp_shape(int c, int a, int b, int *M, int *K, int *N)
{
    emu_check(c), emu_check(a), emu_check(b);
    if (c == a || c == b || a == b) abort(); /* #UD: the three tiles must differ */
    *M = emu_t.rows[a], *K = emu_t.colsb[a] / 4, *N = emu_t.colsb[b] / 4;
    if (emu_t.rows[b] != *K || emu_t.rows[c] != *M || emu_t.colsb[c] != *N * 4) abort();
}
#define T_LOADCONFIG(cfg)     emu_loadconfig(cfg)
#define T_RELEASE()           (emu_t.configured = 0)
#define T_ZERO(t)             emu_tile_zero(t)
#define T_LOAD(t, p, stride)  emu_tile_load((t), (p), (size_t)(stride))
#define T_STORE(t, p, stride) emu_tile_store((t), (p), (size_t)(stride))

#endif
