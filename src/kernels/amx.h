/* What the two AMX kernels (gemm_bf16_amx.c, gemm_int8_amx.c) share: their tile configuration and,
 * on hardware, the tile instructions with the memory they touch declared to the compiler.
 *
 * Both use palette 1 with tiles 0-7 of 16 rows x 64 bytes, so the configuration is one constant.
 * It is a constant, and the instructions are our own asm rather than GCC 12's <immintrin.h> macros,
 * because those declare less memory than the instructions use: _tile_loadconfig says ldtilecfg
 * reads 8 bytes (it reads 64), so a configuration built on the stack lost its tile shapes to
 * dead-store elimination at -O2 and -O3 (objdump showed only the palette byte written: ldtilecfg
 * then faults on real hardware, where the C emulation in the tests cannot see it); and _tile_loadd
 * declares no memory read at all, so the stores that fill a tile's source (the activations just
 * rounded or quantized) are not ordered before it.  Here ldtilecfg reads the whole 64-byte object,
 * tileloadd and tilestored clobber "memory", and nothing depends on the compiler's view of AMX. */
#ifndef RAMS_KERNELS_AMX_H
#define RAMS_KERNELS_AMX_H

#include <stdint.h>

typedef struct {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((aligned(64))) rams_amx_tile_config;

_Static_assert(sizeof(rams_amx_tile_config) == 64, "ldtilecfg reads 64 bytes");

/* Palette 1, tiles 0-7: 16 rows of 64 bytes (16 f32 or int32, 32 bf16 or 64 int8 per row). */
static const rams_amx_tile_config rams_amx_config_16x64 = {
    .palette_id = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

#ifndef RAMS_KERNEL_EMULATE
/* clang-format off */
#define T_LOADCONFIG(cfg) __asm__ volatile("ldtilecfg %0" :: "m"(*(const rams_amx_tile_config *)(cfg)))
#define T_RELEASE()       __asm__ volatile("tilerelease" ::: "memory")
#define T_ZERO(t)         __asm__ volatile("tilezero %%tmm" #t ::)
#define T_LOAD(t, p, stride) \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t :: "r"((const void *)(p)), "r"((long)(stride)) \
                     : "memory")
#define T_STORE(t, p, stride) \
    __asm__ volatile("tilestored %%tmm" #t ", (%0,%1,1)" :: "r"((void *)(p)), "r"((long)(stride)) : "memory")
/* clang-format on */
#endif

#endif
