/* The AVX512-VNNI int8 kernel (gemm_int8.h), compiled with -mavx512f -mavx512bw -mavx512vnni
 * -ffp-contract=off.  vpdpbusd multiplies 4 uint8 activations by 4 int8 weights per int32 lane
 * and adds the sum to the lane without saturating: exact.  A tile is 12 rows x 32 columns (two
 * K4x16 panels): per group of 4 k, two 64-byte weight loads, twelve broadcasts of a row's 4
 * activations, 24 vpdpbusd into 24 accumulators (the loop is gemm_int8_dpbusd.h's, shared with
 * the AVX-VNNI kernel).  The instructions are reached through a few macros, so that
 * tests/emulated_int8_avx512vnni.c can compile this file with RAMS_KERNEL_EMULATE and run its
 * loops in plain C on any CPU (tests/emulate_int8.h). */
#include "gemm_int8.h"

#define I8_MR        12
#define I8_NR        32
#define I8_PACKED    1
#define I8_A_INT16   0
#define I8_VEC_BYTES 64

#ifdef RAMS_KERNEL_EMULATE
#include "emulate_int8.h"
#define KERNEL      rams_i8_kernel_avx512vnni_emulated
#define KERNEL_NAME "int8-avx512-vnni (emulated)"
#else
#include <immintrin.h>
#define KERNEL         rams_i8_kernel_avx512vnni
#define KERNEL_NAME    "int8-avx512-vnni"
#define I8_VEC         __m512i
#define VZ()           _mm512_setzero_si512()
#define VLOAD(p)       _mm512_loadu_si512((const void *)(p))
#define VSET1(p)       _mm512_set1_epi32(*(const int *)(const void *)(p))
#define VDP(acc, a, b) _mm512_dpbusd_epi32((acc), (a), (b))
#define VSTORE(p, v)   _mm512_storeu_si512((void *)(p), (v))
#endif

#include "gemm_int8_dpbusd.h"
#include "gemm_int8_driver.h"

const rams_i8_kernel KERNEL = {.id = RAMS_I8_AVX512VNNI, .name = KERNEL_NAME, I8_DRIVER_FIELDS};
