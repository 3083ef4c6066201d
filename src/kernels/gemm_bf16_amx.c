/* bf16-amx: AMX tiles (tdpbf16ps) on the VNNI-packed weights (gemm.h).  Compiled with -mamx-tile
 * -mamx-bf16 in this file alone (CMakeLists.txt) and chosen only when CPUID, XCR0 and Linux's
 * arch_prctl permission all allow AMX (cpu.h).  Eight tiles of 16 rows x 64 bytes: four f32
 * accumulators C (a 32 x 32 block of outputs), two activation tiles A (16 rows x 32 inputs) and
 * two weight tiles B (16 input pairs x 16 outputs x 2, one tile row = one pair of one panel of
 * the packed layout, so B loads with a 64-byte stride straight from the packed weights).  Each
 * step of 32 inputs is four loads and four tdpbf16ps.  Activations are rounded to bf16 into the
 * thread's scratch once per product ([rows padded to 32][Kp], loaded with a stride of Kp * 2
 * bytes); a finished block is stored to a 32 x 32 f32 tile in the scratch and added to the
 * outputs (which hold the bias or the residual), only the rows and columns that exist. */
#include <stdint.h>

#include "gemm_bf16_x86.h"

#ifdef RAMS_KERNEL_EMULATE
#include "emulate_x86.h" /* tests: the same tile program in plain C */
#define BACKEND      rams_backend_bf16_amx_emulated
#define BACKEND_NAME "bf16-amx (emulated)"
static int available(void) { return 1; }
#else
#include <immintrin.h>

#include "../cpu.h"
#define BACKEND           rams_backend_bf16_amx
#define BACKEND_NAME      "bf16-amx"
#define T_DPBF16(c, a, b) _tile_dpbf16ps(c, a, b) /* registers only: GCC's macro is exact */
static int available(void) { return rams_cpu()->amx_bf16; }
#endif
#include "amx.h" /* the configuration; T_LOADCONFIG, T_LOAD, ... on hardware */

#define MR 32 /* rows of a block: two A tiles */

/* The scratch's tile: the finished 32 x 32 f32 block (and a spare 64 bytes), before the
 * activations. */
#define TILE_BYTES (32 * 32 * 4 + 64)

static size_t scratch_bytes(int rows, int in_dim)
{
    return rams_bf16_x86_scratch(rows, in_dim, MR, TILE_BYTES);
}

/* The block (rams_bf16_x86_block): rows [0, 32) of a (bf16 [.][Kp]) times panels b0, b1, stored to
 * the f32 tile c and added to out's rows_valid x cols_valid corner. */
static inline __attribute__((always_inline)) void block_32x32(const uint16_t *a0, int Kp, const uint16_t *b0,
                                                              const uint16_t *b1, float *out, int out_stride,
                                                              int rows_valid, int cols_valid, void *tile)
{
    size_t a_stride = (size_t)Kp * 2; /* bytes */
    const uint16_t *a1 = a0 + (size_t)16 * Kp;
    float *c = tile;
    T_ZERO(0);
    T_ZERO(1);
    T_ZERO(2);
    T_ZERO(3);
    for (int k0 = 0; k0 < Kp; k0 += 32) {
        T_LOAD(4, a0 + k0, a_stride);
        T_LOAD(5, a1 + k0, a_stride);
        T_LOAD(6, b0 + (size_t)k0 * 16, 64);
        T_LOAD(7, b1 + (size_t)k0 * 16, 64);
        T_DPBF16(0, 4, 6);
        T_DPBF16(1, 4, 7);
        T_DPBF16(2, 5, 6);
        T_DPBF16(3, 5, 7);
    }
    T_STORE(0, c, 128);
    T_STORE(1, c + 16, 128);
    T_STORE(2, c + 16 * 32, 128);
    T_STORE(3, c + 16 * 32 + 16, 128);
    for (int r = 0; r < rows_valid; r++) {
        float *o = out + (size_t)r * out_stride;
        const float *s = c + r * 32;
        for (int j = 0; j < cols_valid; j++) o[j] += s[j];
    }
}

static void gemm(float *out, int out_stride, const float *in, int in_stride, int rows, const rams_matrix *W,
                 void *scratch, size_t scratch_bytes)
{
    T_LOADCONFIG(&rams_amx_config_16x64);
    rams_bf16_x86_gemm(out, out_stride, in, in_stride, rows, W, scratch, scratch_bytes, MR, TILE_BYTES,
                       block_32x32);
    T_RELEASE();
}

const rams_gemm_backend BACKEND = {
    .name = BACKEND_NAME,
    .needs = "AMX-BF16",
    .available = available,
    .scratch_bytes = scratch_bytes,
    .gemm = gemm,
    RAMS_BF16_VNNI_FIELDS,
};
