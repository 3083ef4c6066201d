/* The AVX512-BF16 kernel compiled with its instructions emulated in C (tests/emulate_x86.h), so
 * that test_gemm_bf16 runs its loops on CPUs without AVX512-BF16. */
#define RAMS_KERNEL_EMULATE 1
#include "../src/kernels/gemm_bf16_avx512.c"
