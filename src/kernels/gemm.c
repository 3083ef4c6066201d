/* The registry of matrix-product backends (gemm.h) and the choice among them. */
#include "gemm.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../cpu.h"
#include "../error.h"

extern const rams_gemm_backend rams_backend_f32, rams_backend_bf16_portable;
extern const rams_gemm_backend rams_backend_int8_portable;
#ifdef RAMS_HAVE_X86_KERNELS
extern const rams_gemm_backend rams_backend_int8_amx, rams_backend_int8_avx512_vnni,
    rams_backend_int8_avx_vnni, rams_backend_int8_avx2;
#endif
#ifdef RAMS_HAVE_X86_KERNELS
extern const rams_gemm_backend rams_backend_bf16_amx, rams_backend_bf16_avx512;
#endif

/* Fastest first within a precision: the choice takes the first one this CPU runs. */
const rams_gemm_backend *const rams_gemm_backends[] = {
    &rams_backend_f32,
#ifdef RAMS_HAVE_X86_KERNELS
    &rams_backend_bf16_amx,      &rams_backend_bf16_avx512,
#endif
    &rams_backend_bf16_portable,
#ifdef RAMS_HAVE_X86_KERNELS
    &rams_backend_int8_amx,      &rams_backend_int8_avx512_vnni,
    &rams_backend_int8_avx_vnni, &rams_backend_int8_avx2,
#endif
    &rams_backend_int8_portable, NULL,
};

const rams_gemm_backend *rams_gemm_backend_named(const char *name)
{
    for (int i = 0; name && rams_gemm_backends[i]; i++)
        if (!strcmp(rams_gemm_backends[i]->name, name)) return rams_gemm_backends[i];
    return NULL;
}

static void list_names(char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; rams_gemm_backends[i] && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", rams_gemm_backends[i]->name);
}

rams_status rams_gemm_backend_choose(rams_precision precision, const char *kernel,
                                     const rams_gemm_backend **out)
{
    const char *origin = "kernel";
    if (!kernel) {
        /* RAMSTRANS_KERNEL applies to the precision of the kernel it names. */
        const char *env = getenv("RAMSTRANS_KERNEL");
        if (env && *env) {
            const rams_gemm_backend *be = rams_gemm_backend_named(env);
            if (!be) {
                char names[256];
                list_names(names, sizeof names);
                return rams_fail(RAMS_ERR_INVALID_ARGUMENT,
                                 "RAMSTRANS_KERNEL=%s names no kernel (there are %s)", env, names);
            }
            if (be->precision == precision) kernel = env, origin = "RAMSTRANS_KERNEL";
        }
    }
    if (kernel) {
        const rams_gemm_backend *be = rams_gemm_backend_named(kernel);
        if (!be) {
            char names[256];
            list_names(names, sizeof names);
            return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "%s %s: no such kernel (there are %s)", origin,
                             kernel, names);
        }
        if (be->precision != precision)
            return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "%s %s computes in %s, not in the %s asked for",
                             origin, kernel, rams_precision_name(be->precision),
                             rams_precision_name(precision));
        if (!be->available()) {
            const rams_cpu_info *cpu = rams_cpu();
            if (strstr(be->name, "-amx") && cpu->amx_in_cpuid && cpu->amx_refused)
                return rams_fail(RAMS_ERR_UNSUPPORTED, "%s %s: this CPU has AMX but %s", origin, kernel,
                                 cpu->amx_refused);
            return rams_fail(RAMS_ERR_UNSUPPORTED, "%s %s: this CPU has no %s", origin, kernel, be->needs);
        }
        *out = be;
        return RAMS_OK;
    }
    for (int i = 0; rams_gemm_backends[i]; i++)
        if (rams_gemm_backends[i]->precision == precision && rams_gemm_backends[i]->available()) {
            *out = rams_gemm_backends[i];
            return RAMS_OK;
        }
    if (precision == RAMS_PRECISION_INT8)
        return rams_fail(RAMS_ERR_UNSUPPORTED, "precision int8 is not supported yet (f32 and bf16 are)");
    return rams_fail(RAMS_ERR_UNSUPPORTED, "no kernel for precision %s", rams_precision_name(precision));
}

void rams_read_strided_row(const void *src, int row, float *dst)
{
    const rams_strided_rows *m = src;
    const float *r = m->w + (size_t)row * m->row_stride;
    if (m->col_stride == 1) memcpy(dst, r, (size_t)m->in_dim * sizeof *dst);
    else
        for (int i = 0; i < m->in_dim; i++) dst[i] = r[(size_t)i * m->col_stride];
}

rams_status rams_attention_backend_choose(rams_precision precision, const rams_gemm_backend **out)
{
    *out = NULL;
    if (precision == RAMS_PRECISION_F32) return RAMS_OK;
    const char *env = getenv("RAMSTRANS_ATTENTION_KERNEL");
    if (env && *env) {
        if (!strcasecmp(env, "f32")) return RAMS_OK;
        rams_status st = rams_gemm_backend_choose(RAMS_PRECISION_BF16, env, out);
        if (st != RAMS_OK) {
            char why[300];
            snprintf(why, sizeof why, "%s", rams_last_error());
            *out = NULL;
            return rams_fail(st, "RAMSTRANS_ATTENTION_KERNEL: %s", why);
        }
        return RAMS_OK;
    }
    for (int i = 0; rams_gemm_backends[i]; i++) {
        const rams_gemm_backend *be = rams_gemm_backends[i];
        if (be->precision == RAMS_PRECISION_BF16 && be != &rams_backend_bf16_portable && be->available()) {
            *out = be;
            break;
        }
    }
    return RAMS_OK;
}

const rams_gemm_backend *rams_gemm_backend_for(rams_precision precision)
{
    const rams_gemm_backend *be = NULL;
    return rams_gemm_backend_choose(precision, NULL, &be) == RAMS_OK ? be : NULL;
}

const char *rams_kernel_for(rams_precision precision)
{
    const rams_gemm_backend *be = rams_gemm_backend_for(precision);
    return be ? be->name : NULL;
}

static const char *const precision_names[] = {"f32", "bf16", "int8"};

const char *rams_precision_name(rams_precision precision)
{
    return (unsigned)precision < 3 ? precision_names[precision] : "unknown";
}

rams_status rams_precision_parse(const char *name, rams_precision *out)
{
    rams_clear_error();
    if (!out) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_precision_parse: out is NULL");
    for (int i = 0; name && i < 3; i++)
        if (!strcasecmp(name, precision_names[i])) {
            *out = (rams_precision)i;
            return RAMS_OK;
        }
    return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "unknown precision \"%s\" (f32, bf16 or int8)",
                     name ? name : "(null)");
}
