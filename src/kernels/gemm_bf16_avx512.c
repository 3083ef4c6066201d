/* bf16-avx512: AVX512-BF16's vdpbf16ps on the VNNI-packed weights (gemm.h).  Compiled with
 * -mavx512f -mavx512bf16 in this file alone (CMakeLists.txt) and chosen only when the CPU has
 * them (cpu.h), after AMX.  A 12 x 32 block of outputs lives in 24 zmm accumulators; per pair of
 * inputs, two 64-byte loads of the weights and twelve broadcasts of activation pairs feed 24
 * vdpbf16ps.  Activations are rounded to bf16 into the thread's scratch once per product; the
 * weight panels are walked in blocks of ~512 KB that stay in L2 (gemm_bf16_x86.h). */
#include <stdint.h>
#include <string.h>

#include "gemm_bf16_x86.h"

#ifdef RAMS_KERNEL_EMULATE
#include "emulate_x86.h" /* tests: the same loops in plain C */
#define BACKEND      rams_backend_bf16_avx512_emulated
#define BACKEND_NAME "bf16-avx512 (emulated)"
static int available(void) { return 1; }
#else
#include <immintrin.h>

#include "../cpu.h"
#define BACKEND         rams_backend_bf16_avx512
#define BACKEND_NAME    "bf16-avx512"
typedef __m512 v16f;
typedef __m512i v32bf;
#define V_ZERO()        _mm512_setzero_ps()
#define V_ZERO_BF()     _mm512_setzero_si512()
#define V_LOAD_BF(p)    _mm512_loadu_si512((const void *)(p))
/* A pair of bf16 activations broadcast to every lane (_mm_loadu_si32 may alias the uint16_t
 * scratch, which an int32_t pointer may not; it compiles to one broadcast load). */
static inline __m512i set1_pair(const uint16_t *p) { return _mm512_broadcastd_epi32(_mm_loadu_si32(p)); }
#define V_SET1_PAIR(p)  set1_pair(p)
#define V_DP(acc, a, b) _mm512_dpbf16_ps((acc), (__m512bh)(a), (__m512bh)(b))
/* out[0..n) += v, for n <= 16 */
#define V_ADD_STORE(out, v, n)                                                                  \
    do {                                                                                        \
        __mmask16 k_ = (__mmask16)((n) >= 16 ? 0xffff : ((1u << (n)) - 1));                     \
        _mm512_mask_storeu_ps((out), k_, _mm512_add_ps(_mm512_maskz_loadu_ps(k_, (out)), (v))); \
    } while (0)
static int available(void) { return rams_cpu()->avx512_bf16; }
#endif

#define MR 12 /* rows of a block */

/* The block (rams_bf16_x86_block): rows [0, MR) of a (bf16 [.][Kp]) times panels w0, w1, added to
 * out's rows_valid x cols_valid corner; no tile. */
static inline __attribute__((always_inline)) void block_12x32(const uint16_t *a, int Kp, const uint16_t *w0,
                                                              const uint16_t *w1, float *out, int out_stride,
                                                              int rows_valid, int cols_valid, void *tile)
{
    v16f acc[MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) acc[r][0] = V_ZERO(), acc[r][1] = V_ZERO();
    for (int kp = 0; kp < Kp / 2; kp++) {
        v32bf b0 = V_LOAD_BF(w0 + (size_t)kp * 32), b1 = V_LOAD_BF(w1 + (size_t)kp * 32);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            v32bf ar = V_SET1_PAIR(a + (size_t)r * Kp + 2 * kp);
            acc[r][0] = V_DP(acc[r][0], ar, b0);
            acc[r][1] = V_DP(acc[r][1], ar, b1);
        }
    }
    int n0 = cols_valid < 16 ? cols_valid : 16, n1 = cols_valid - 16;
    for (int r = 0; r < rows_valid; r++) {
        float *o = out + (size_t)r * out_stride;
        V_ADD_STORE(o, acc[r][0], n0);
        if (n1 > 0) V_ADD_STORE(o + 16, acc[r][1], n1);
    }
}

static size_t scratch_bytes(int rows, int in_dim) { return rams_bf16_x86_scratch(rows, in_dim, MR, 0); }

static void gemm(float *out, int out_stride, const float *in, int in_stride, int rows, const rams_matrix *W,
                 void *scratch, size_t scratch_bytes)
{
    rams_bf16_x86_gemm(out, out_stride, in, in_stride, rows, W, scratch, scratch_bytes, MR, 0, block_12x32);
}

const rams_gemm_backend BACKEND = {
    .name = BACKEND_NAME,
    .needs = "AVX512-BF16",
    .available = available,
    .scratch_bytes = scratch_bytes,
    .gemm = gemm,
    RAMS_BF16_VNNI_FIELDS,
};
