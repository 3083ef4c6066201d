/* The AVX-VNNI int8 kernel (gemm_int8.h): vpdpbusd on 256-bit registers (Intel since Alder Lake,
 * AMD since Zen 5), compiled with -mavx2 -mavxvnni -ffp-contract=off.  A tile is 6 rows x 16
 * columns (one K4x16 panel, two registers of 8 columns): per group of 4 k, two 32-byte weight
 * loads, six broadcasts of a row's 4 uint8 activations, twelve vpdpbusd (exact: no saturation);
 * the loop is gemm_int8_dpbusd.h's, shared with the AVX512-VNNI kernel.  RAMS_KERNEL_EMULATE
 * compiles it with the instructions in plain C (tests/emulate_int8.h). */
#include "gemm_int8.h"

#define I8_MR        6
#define I8_NR        16
#define I8_PACKED    1
#define I8_A_INT16   0
#define I8_VEC_BYTES 32

#ifdef RAMS_KERNEL_EMULATE
#include "emulate_int8.h"
#define KERNEL      rams_i8_kernel_avxvnni_emulated
#define KERNEL_NAME "int8-avx-vnni (emulated)"
#else
#include <immintrin.h>
#define KERNEL         rams_i8_kernel_avxvnni
#define KERNEL_NAME    "int8-avx-vnni"
#define I8_VEC         __m256i
#define VZ()           _mm256_setzero_si256()
#define VLOAD(p)       _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define VSET1(p)       _mm256_set1_epi32(*(const int *)(const void *)(p))
#define VDP(acc, a, b) _mm256_dpbusd_avx_epi32((acc), (a), (b))
#define VSTORE(p, v)   _mm256_storeu_si256((__m256i *)(void *)(p), (v))
#endif

#include "gemm_int8_dpbusd.h"
#include "gemm_int8_driver.h"

const rams_i8_kernel KERNEL = {.id = RAMS_I8_AVXVNNI, .name = KERNEL_NAME, I8_DRIVER_FIELDS};
