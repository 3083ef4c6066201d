/* The AVX-VNNI int8 kernel (gemm_int8.h): vpdpbusd on 256-bit registers (Intel since Alder Lake,
 * AMD since Zen 5), compiled with -mavx2 -mavxvnni -ffp-contract=off.  A tile is 6 rows x 16
 * columns (one K4x16 panel, two registers of 8 columns): per group of 4 k, two 32-byte weight
 * loads, six broadcasts of a row's 4 uint8 activations, twelve vpdpbusd (exact: no saturation).
 * RAMS_KERNEL_EMULATE compiles it with the instructions in plain C (tests/emulate_int8.h). */
#include "gemm_int8.h"

#ifdef RAMS_KERNEL_EMULATE
#include "emulate_int8.h"
#define KERNEL      rams_i8_kernel_avxvnni_emulated
#define KERNEL_NAME "int8-avx-vnni (emulated)"
#else
#include <immintrin.h>
#define KERNEL         rams_i8_kernel_avxvnni
#define KERNEL_NAME    "int8-avx-vnni"
#define Y256           __m256i
#define YZ()           _mm256_setzero_si256()
#define YLOAD(p)       _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define YSET1(p)       _mm256_set1_epi32(*(const int *)(const void *)(p))
#define YDP(acc, a, b) _mm256_dpbusd_avx_epi32((acc), (a), (b))
#define YSTORE(p, v)   _mm256_storeu_si256((__m256i *)(void *)(p), (v))
#endif

#define I8_MR      6
#define I8_NR      16
#define I8_PACKED  1
#define I8_A_INT16 0

static inline void i8_tile(const void *a, size_t a_stride, const int8_t *b, size_t b_stride, int k_pad,
                           int32_t *c)
{
    (void)b_stride;
    Y256 acc[I8_MR][2];
    for (int i = 0; i < I8_MR; i++) acc[i][0] = acc[i][1] = YZ();
    const char *a0 = (const char *)a;
    for (int g = 0; g < k_pad / 4; g++) {
        Y256 b0 = YLOAD(b + (size_t)g * 64);      /* columns 0-7  */
        Y256 b1 = YLOAD(b + (size_t)g * 64 + 32); /* columns 8-15 */
        for (int i = 0; i < I8_MR; i++) {
            Y256 av = YSET1(a0 + (size_t)i * a_stride + (size_t)g * 4);
            acc[i][0] = YDP(acc[i][0], av, b0);
            acc[i][1] = YDP(acc[i][1], av, b1);
        }
    }
    for (int i = 0; i < I8_MR; i++) {
        YSTORE(c + i * I8_NR, acc[i][0]);
        YSTORE(c + i * I8_NR + 8, acc[i][1]);
    }
}

#include "gemm_int8_driver.h"

const rams_i8_kernel KERNEL = {
    .id = RAMS_I8_AVXVNNI,
    .name = KERNEL_NAME,
    .mr = I8_MR,
    .nr = I8_NR,
    .a_int16 = I8_A_INT16,
    .packed = I8_PACKED,
    .gemm = i8_driver_gemm,
    .gemm_int32 = i8_driver_gemm_int32,
    .quantize = i8_driver_quantize,
};
