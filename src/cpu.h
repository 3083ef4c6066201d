/* What this CPU offers, detected once: CPUID for the instruction sets, XCR0 for the register state
 * the operating system saves (AVX's ymm, AVX-512's zmm and mask registers, AMX's tiles), and on
 * Linux the permission to use AMX tile data (arch_prctl(ARCH_REQ_XCOMP_PERM), asked once for the
 * whole process).  A feature counts only when all three allow it.  The kernels are chosen from
 * this (kernels/gemm.h). */
#ifndef RAMS_CPU_H
#define RAMS_CPU_H

typedef struct {
    int avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512_vnni, avx512_bf16;
    int avx_vnni;
    int amx_tile, amx_bf16, amx_int8; /* usable: CPUID, XCR0 and the kernel's permission       */
    int amx_in_cpuid;                 /* the CPU has AMX (whether or not the OS lets us use it) */
    const char *amx_refused;          /* why AMX is unusable although CPUID has it, else NULL   */
    char features[200];               /* rams_cpu_features()                                    */
} rams_cpu_info;

/* Detected on first use (thread-safe), then constant. */
const rams_cpu_info *rams_cpu(void);

#endif
