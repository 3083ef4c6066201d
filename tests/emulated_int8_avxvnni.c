/* The avxvnni int8 kernel compiled with its instructions emulated in C (tests/emulate_int8.h), so that
 * test_gemm_int8 runs its loops on CPUs without them. */
#define RAMS_KERNEL_EMULATE 1
#include "../src/kernels/gemm_int8_avxvnni.c"
