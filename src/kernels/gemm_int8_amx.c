/* The AMX-INT8 kernel (gemm_int8.h), compiled with -mamx-tile -mamx-int8 -ffp-contract=off.  Eight
 * tile registers: four 16 x 16 int32 accumulators (a 32 x 32 tile), two 16-row x 64-byte
 * activation tiles (uint8) and two weight tiles, each 16 groups of 4 k of a K4x16 panel: 16 rows
 * of 64 bytes, exactly the B layout tdpbusd (uint8 x int8, int32 sums, exact) reads.  The tile configuration is loaded at the start of each GEMM call in the calling
 * thread and released at its end.  Linux must first grant the tile state to the process
 * (src/cpu.c asks once, when it detects the CPU).  RAMS_KERNEL_EMULATE compiles the same tile
 * program with the instructions in plain C (tests/emulate_int8.h), for tests on any CPU. */
#include "gemm_int8.h"

#ifdef RAMS_KERNEL_EMULATE
#include "emulate_int8.h"
#define KERNEL      rams_i8_kernel_amx_emulated
#define KERNEL_NAME "int8-amx (emulated)"
#else
#include <immintrin.h>
#define KERNEL            rams_i8_kernel_amx
#define KERNEL_NAME       "int8-amx"
#define T_DPBUSD(c, a, b) _tile_dpbusd(c, a, b) /* registers only: GCC's macro is exact */
#endif
#include "amx.h" /* the configuration; T_LOADCONFIG, T_LOAD, ... on hardware */

#define I8_MR      32
#define I8_NR      32
#define I8_PACKED  1
#define I8_A_INT16 0

static void amx_begin(void) { T_LOADCONFIG(&rams_amx_config_16x64); }

static void amx_end(void) { T_RELEASE(); }

static inline void i8_tile(const void *a, size_t a_stride, const int8_t *b, size_t b_stride, int k_pad,
                           int32_t *c)
{
    const char *a0 = (const char *)a, *a1 = a0 + 16 * a_stride;
    T_ZERO(0);
    T_ZERO(1);
    T_ZERO(2);
    T_ZERO(3);
    for (int kb = 0; kb < k_pad / 64; kb++) {
        T_LOAD(4, a0 + (size_t)kb * 64, (long)a_stride);
        T_LOAD(5, a1 + (size_t)kb * 64, (long)a_stride);
        T_LOAD(6, b + (size_t)kb * 1024, 64);
        T_LOAD(7, b + b_stride + (size_t)kb * 1024, 64);
        T_DPBUSD(0, 4, 6);
        T_DPBUSD(1, 4, 7);
        T_DPBUSD(2, 5, 6);
        T_DPBUSD(3, 5, 7);
    }
    T_STORE(0, c, I8_NR * 4);
    T_STORE(1, c + 16, I8_NR * 4);
    T_STORE(2, c + 16 * I8_NR, I8_NR * 4);
    T_STORE(3, c + 16 * I8_NR + 16, I8_NR * 4);
}

#include "gemm_int8_driver.h"

const rams_i8_kernel KERNEL = {
    .id = RAMS_I8_AMX, .name = KERNEL_NAME, .begin = amx_begin, .end = amx_end, I8_DRIVER_FIELDS};
