/* The AMX kernel compiled with its instructions emulated in C (tests/emulate_x86.h), so that
 * test_gemm_bf16 runs its tile program on CPUs without AMX. */
#define RAMS_KERNEL_EMULATE 1
#include "../src/kernels/gemm_bf16_amx.c"
