/* CPU feature detection (cpu.h): CPUID, XCR0, and Linux's AMX permission. */
#define _GNU_SOURCE /* syscall */
#include "cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ramstrans.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static unsigned long long xgetbv0(void)
{
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

/* Linux keeps AMX tile data (XFEATURE 18) off until a process asks for it. */
static const char *request_amx_permission(void)
{
#if defined(__linux__) && defined(SYS_arch_prctl)
    enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    unsigned long bitmask = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bitmask) == 0 &&
        (bitmask & (1ul << XFEATURE_XTILEDATA)))
        return NULL;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
        return "the Linux kernel refused AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM)";
    return NULL;
#else
    return "AMX tiles need Linux's arch_prctl(ARCH_REQ_XCOMP_PERM)";
#endif
}

static void detect_x86(rams_cpu_info *c)
{
    unsigned a, b, cx, d, max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 1) return;
    __cpuid(1, a, b, cx, d);
    int osxsave = (cx >> 27) & 1, has_fma = (cx >> 12) & 1, has_f16c = (cx >> 29) & 1,
        has_avx = (cx >> 28) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    int os_avx = (xcr0 & 0x6) == 0x6;                /* xmm, ymm                        */
    int os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0; /* opmask, zmm0-15 high, zmm16-31  */
    int os_amx = (xcr0 & 0x60000ull) == 0x60000ull;  /* XTILECFG, XTILEDATA              */
    unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0;
    if (max_leaf >= 7) {
        unsigned a7;
        __cpuid_count(7, 0, a7, b7, c7, d7);
        unsigned b71, c71, d71;
        if (a7 >= 1) __cpuid_count(7, 1, a71, b71, c71, d71);
    }
    c->fma = os_avx && has_avx && has_fma;
    c->f16c = os_avx && has_avx && has_f16c;
    c->avx2 = os_avx && has_avx && ((b7 >> 5) & 1);
    c->avx512f = os_avx512 && ((b7 >> 16) & 1);
    c->avx512bw = c->avx512f && ((b7 >> 30) & 1);
    c->avx512vl = c->avx512f && ((b7 >> 31) & 1);
    c->avx512_vnni = c->avx512f && ((c7 >> 11) & 1);
    c->avx512_bf16 = c->avx512f && ((a71 >> 5) & 1);
    c->avx_vnni = c->avx2 && ((a71 >> 4) & 1);
    int tile = (d7 >> 24) & 1, bf16 = (d7 >> 22) & 1, int8 = (d7 >> 25) & 1;
    c->amx_in_cpuid = tile && (bf16 || int8);
    if (c->amx_in_cpuid) {
        c->amx_refused =
            !os_amx ? "the operating system does not enable AMX tile state (XCR0)" : request_amx_permission();
        if (!c->amx_refused) {
            c->amx_tile = 1;
            c->amx_bf16 = bf16;
            c->amx_int8 = int8;
        }
    }
}
#endif

static rams_cpu_info info;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void detect(void)
{
#if defined(__x86_64__) || defined(__i386__)
    detect_x86(&info);
#endif
    struct {
        int on;
        const char *name;
    } f[] = {
        {info.avx2, "avx2"},
        {info.fma, "fma"},
        {info.f16c, "f16c"},
        {info.avx512f, "avx512f"},
        {info.avx512bw, "avx512bw"},
        {info.avx512vl, "avx512vl"},
        {info.avx512_vnni, "avx512_vnni"},
        {info.avx512_bf16, "avx512_bf16"},
        {info.avx_vnni, "avx_vnni"},
        {info.amx_tile, "amx_tile"},
        {info.amx_bf16, "amx_bf16"},
        {info.amx_int8, "amx_int8"},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].on)
            n += (size_t)snprintf(info.features + n, sizeof info.features - n, "%s%s", n ? " " : "",
                                  f[i].name);
}

const rams_cpu_info *rams_cpu(void)
{
    pthread_once(&once, detect);
    return &info;
}

const char *rams_cpu_features(void) { return rams_cpu()->features; }
