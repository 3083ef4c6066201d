/* The AVX2 int8 kernel (gemm_int8.h), compiled with -mavx2 -ffp-contract=off.  vpmaddubsw would
 * multiply uint8 by int8 but saturates its int16 pair sums (255 * 127 * 2 > 32767), so the operands
 * are widened to int16 and multiplied with vpmaddwd, whose int32 pair sums are exact: activations
 * are stored as int16 by the quantizer, weights are widened as they are loaded (vpmovsxbw).
 * A tile is 6 rows x 8 columns: per group of 4 k, two loads of 4 columns x 4 weights, six
 * broadcasts of a row's 4 activations, twelve vpmaddwd; each int32 lane holds half of a column's
 * sum (k 0-1 or 2-3 of each group), added pairwise at the end. */
#include <immintrin.h>

#include "gemm_int8.h"

#define I8_MR      6
#define I8_NR      8
#define I8_PACKED  1
#define I8_A_INT16 1

/* Compilers spill some of the twelve accumulators of this tile to the stack (GCC 12 did, at half
 * the speed), so the loop is written in assembly: ymm4-15 accumulate, ymm0-1 hold the widened
 * weights, ymm2 a row's broadcast activations, ymm3 each product.  Rows 0-2 are read from a,
 * rows 3-5 from a + 3 * stride; two groups of 4 k per iteration (k_pad / 4 is even). */
#define I8_MADD_ROW(addr, lo, hi)           \
    "vpbroadcastq " addr ", %%ymm2\n\t"     \
    "vpmaddwd %%ymm0, %%ymm2, %%ymm3\n\t"   \
    "vpaddd %%ymm3, %%" lo ", %%" lo "\n\t" \
    "vpmaddwd %%ymm1, %%ymm2, %%ymm3\n\t"   \
    "vpaddd %%ymm3, %%" hi ", %%" hi "\n\t"

static inline void i8_tile(const void *a, size_t a_stride, const int8_t *b, size_t b_stride, int k_pad,
                           int32_t *c)
{
    (void)b_stride;
    _Alignas(32) int32_t raw[12 * 8];
    const char *a0 = (const char *)a, *a3 = a0 + 3 * a_stride;
    long groups = k_pad / 4;
    __asm__ volatile(
        "vpxor %%xmm4, %%xmm4, %%xmm4\n\t"
        "vmovdqa %%ymm4, %%ymm5\n\t"
        "vmovdqa %%ymm4, %%ymm6\n\t"
        "vmovdqa %%ymm4, %%ymm7\n\t"
        "vmovdqa %%ymm4, %%ymm8\n\t"
        "vmovdqa %%ymm4, %%ymm9\n\t"
        "vmovdqa %%ymm4, %%ymm10\n\t"
        "vmovdqa %%ymm4, %%ymm11\n\t"
        "vmovdqa %%ymm4, %%ymm12\n\t"
        "vmovdqa %%ymm4, %%ymm13\n\t"
        "vmovdqa %%ymm4, %%ymm14\n\t"
        "vmovdqa %%ymm4, %%ymm15\n\t"
        "1:\n\t"
        "vpmovsxbw (%[b]), %%ymm0\n\t"   /* columns 0-3, 4 k each */
        "vpmovsxbw 16(%[b]), %%ymm1\n\t" /* columns 4-7           */
        I8_MADD_ROW("(%[a0])", "ymm4", "ymm5") I8_MADD_ROW("(%[a0],%[s])", "ymm6", "ymm7")
            I8_MADD_ROW("(%[a0],%[s],2)", "ymm8", "ymm9") I8_MADD_ROW("(%[a3])", "ymm10", "ymm11")
                I8_MADD_ROW("(%[a3],%[s])", "ymm12", "ymm13") I8_MADD_ROW(
                    "(%[a3],%[s],2)", "ymm14",
                    "ymm15") "vpmovsxbw 64(%[b]), %%ymm0\n\t" /* the next group of 4 k */
                             "vpmovsxbw 80(%[b]), %%ymm1\n\t" I8_MADD_ROW("8(%[a0])", "ymm4", "ymm5")
                                 I8_MADD_ROW("8(%[a0],%[s])", "ymm6", "ymm7")
                                     I8_MADD_ROW("8(%[a0],%[s],2)", "ymm8", "ymm9")
                                         I8_MADD_ROW("8(%[a3])", "ymm10", "ymm11")
                                             I8_MADD_ROW("8(%[a3],%[s])", "ymm12", "ymm13")
                                                 I8_MADD_ROW("8(%[a3],%[s],2)", "ymm14",
                                                             "ymm15") "add $16, %[a0]\n\t"
                                                                      "add $16, %[a3]\n\t"
                                                                      "add $128, %[b]\n\t"
                                                                      "sub $2, %[n]\n\t"
                                                                      "jnz 1b\n\t"
                                                                      "vmovdqa %%ymm4, (%[raw])\n\t"
                                                                      "vmovdqa %%ymm5, 32(%[raw])\n\t"
                                                                      "vmovdqa %%ymm6, 64(%[raw])\n\t"
                                                                      "vmovdqa %%ymm7, 96(%[raw])\n\t"
                                                                      "vmovdqa %%ymm8, 128(%[raw])\n\t"
                                                                      "vmovdqa %%ymm9, 160(%[raw])\n\t"
                                                                      "vmovdqa %%ymm10, 192(%[raw])\n\t"
                                                                      "vmovdqa %%ymm11, 224(%[raw])\n\t"
                                                                      "vmovdqa %%ymm12, 256(%[raw])\n\t"
                                                                      "vmovdqa %%ymm13, 288(%[raw])\n\t"
                                                                      "vmovdqa %%ymm14, 320(%[raw])\n\t"
                                                                      "vmovdqa %%ymm15, 352(%[raw])\n\t"
                                                                      "vzeroupper\n\t"
        : [a0] "+r"(a0), [a3] "+r"(a3), [b] "+r"(b), [n] "+r"(groups)
        : [s] "r"(a_stride), [raw] "r"(raw)
        : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    for (int i = 0; i < I8_MR; i++) {
        /* lanes (c0 lo, c0 hi, c1 lo, c1 hi | c2.., c3..) and (c4.. c5.. | c6.. c7..): the pair sums
         * come out as c0 c1 c4 c5 | c2 c3 c6 c7, put in order by one permutation. */
        __m256i lo = _mm256_load_si256((const __m256i *)(raw + 16 * i));
        __m256i hi = _mm256_load_si256((const __m256i *)(raw + 16 * i + 8));
        __m256i sums = _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi), 0xd8);
        _mm256_storeu_si256((__m256i *)(c + i * I8_NR), sums);
    }
}

#include "gemm_int8_driver.h"

const rams_i8_kernel rams_i8_kernel_avx2 = {.id = RAMS_I8_AVX2, .name = "int8-avx2", I8_DRIVER_FIELDS};
