/* The bf16 matrix-product kernels (issue 12) and the precision switch.
 *
 * Kernels.  Every bf16 kernel this CPU runs (bf16-amx, bf16-avx512, bf16-portable), and the AMX
 * and AVX512-BF16 kernels' own loops with their instructions emulated in C (emulated_amx.c,
 * emulated_avx512.c: the addressing, blocking and edges, on any x86-64), against a double-precision
 * product of the same bf16-rounded operands and against bf16-portable, on shapes that hit every
 * edge: rows that fill no row block, inputs that fill no tile depth (padding), outputs that fill
 * no panel, strided rows, several weight-panel blocks, and a scratch too small for all rows at once.
 * A kernel this CPU lacks is skipped with a message saying so (cmocka prints it as SKIPPED).
 *
 * Tolerances (measured).  Products of bf16 values are exact in f32, so a kernel differs from the
 * double reference only by the f32 rounding of its sums: |c - ref| is compared with
 * S = |preset| + sum_i |a_i w_i| (the sum's scale).  Measured worst |c - ref| / S over these shapes
 * (K up to 3072, the attention products' included): 7.5e-8 bf16-portable (OpenBLAS's blocked
 * sums), 1.2e-7 the emulated AVX512-BF16 kernel and 7.6e-8 the emulated AMX kernel (dot products
 * one pair at a time, as the hardware's); between two kernels at most 1.2e-7.  KERNEL_TOL = 1e-6
 * leaves a margin of 8 and is 2000 x below bf16's own rounding (2^-9): a wrong panel, pair or row
 * shows as errors near 1.
 *
 * Engine.  The tiny golden models (RAMS-Trans f32 and f16 files, the one-CLS ViT; two inputs
 * each) run fused in bf16 on each kernel this CPU runs; both scales' logits are held to the f32
 * golden logits (float64 reference) within 2e-2 + 2e-2 |ref|.  Measured on bf16-portable: worst
 * absolute logit error 7.3e-3 (0.41 of 1e-2 + 1e-2 |ref|, so 2e-2 leaves a margin of ~5; with the
 * attention products in bf16 too, 6.2e-3 and 0.26 of 2e-2 + 2e-2 |ref|), and the zoom box equal to
 * the golden one on every input (required: the golden inputs keep each DPPM
 * score 1e-3 from the threshold, more than bf16 moves it here).  In a full-size model the
 * errors are larger; README.md ("Precision") has the accuracy of the default model in bf16. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#define RAMSTRANS_EXPERIMENTAL
#include "cpu.h"
#include "kernels/gemm.h"
#include "model.h"
#include "ramstrans.h"
#include "test_util.h"

#define KERNEL_TOL  1e-6
#define ENGINE_RTOL 2e-2
#define ENGINE_ATOL 2e-2

#ifdef RAMS_TEST_EMULATED_KERNELS
extern const rams_gemm_backend rams_backend_bf16_amx_emulated, rams_backend_bf16_avx512_emulated;
#endif

/* ---- a product and its reference ------------------------------------------------------------- */

typedef struct {
    int rows, in_dim, out_dim, in_stride, out_stride, scratch_rows;
    int scratch_in; /* the scratch sized for this many inputs (the model's widest), 0: in_dim */
} shape;

static const shape shapes[] = {
    {1, 64, 10, 64, 10, 1},          /* one row (the head), one partial panel               */
    {7, 33, 17, 40, 20, 7},          /* odd inputs (padding to 32), 17 outputs (two panels)  */
    {13, 96, 50, 100, 64, 13},       /* 13 rows: one row block and a bit                     */
    {45, 130, 97, 130, 97, 45},      /* rows over two AMX blocks, ragged everything          */
    {40, 72, 48, 72, 50, 5},         /* scratch for 5 rows only: several sweeps              */
    {20, 3072, 200, 3072, 200, 20},  /* deep inputs: several weight-panel blocks             */
    {64, 768, 96, 768, 96, 64},      /* a ViT-B shape, smaller                               */
    {30, 200, 40, 200, 40, 3, 3072}, /* scratch sized for wider rows, fewer of them (the engine's) */
    {9, 3072, 20, 3072, 20, 9, 3072},
    /* The attention products on a bf16 attention kernel (ViT-B/16 at 448: N = 786, D = 768): */
    {96, 64, 786, 768, 786, 96, 3072}, /* scores: a tile of one head's queries . its keys^T */
    {96, 786, 64, 786, 768, 96, 3072}, /* context: the tile's probabilities . the head's values */
};

static uint32_t rng_state = 12345;
static float rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* out (rows x out_stride, every element preset) after be's product; the matrix packed by be. */
static float *run_product(const rams_gemm_backend *be, const shape *s, const float *in, const float *w,
                          const float *preset)
{
    rams_matrix W = {.out_dim = s->out_dim, .in_dim = s->in_dim, .f32 = w};
    void *packed = NULL;
    float *row = malloc((size_t)s->in_dim * sizeof *row);
    if (be->pack) {
        size_t bytes = be->packed_bytes(s->out_dim, s->in_dim);
        assert_int_equal(posix_memalign(&packed, 64, bytes), 0);
        memset(packed, 0x5a, bytes); /* pack must write every byte it uses */
        rams_strided_rows src = {w, s->in_dim, (size_t)s->in_dim, 1};
        be->pack(packed, s->out_dim, s->in_dim, rams_read_strided_row, &src, row);
        W.packed = packed;
    }
    size_t scratch_bytes = be->scratch_bytes(s->scratch_rows, s->scratch_in ? s->scratch_in : s->in_dim);
    void *scratch = malloc(scratch_bytes ? scratch_bytes : 1);
    memset(scratch, 0x7f, scratch_bytes); /* garbage the kernel must not rely on */
    float *out = malloc((size_t)s->rows * s->out_stride * sizeof *out);
    memcpy(out, preset, (size_t)s->rows * s->out_stride * sizeof *out);
    be->gemm(out, s->out_stride, in, s->in_stride, s->rows, &W, scratch, scratch_bytes);
    free(scratch), free(packed), free(row);
    return out;
}

/* The worst |c - ref| / S of one kernel over every shape; also checks the strides' gaps are
 * untouched and, when `other` is given, the distance to it. */
static double check_kernel(const rams_gemm_backend *be, const rams_gemm_backend *other)
{
    double worst = 0, worst_other = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const shape *s = &shapes[k];
        size_t n_in = (size_t)s->rows * s->in_stride, n_w = (size_t)s->out_dim * s->in_dim,
               n_out = (size_t)s->rows * s->out_stride;
        float *in = malloc(n_in * sizeof *in), *w = malloc(n_w * sizeof *w),
              *preset = malloc(n_out * sizeof *preset);
        for (size_t i = 0; i < n_in; i++) in[i] = rnd() * 3.0f;
        for (size_t i = 0; i < n_w; i++) w[i] = rnd() * 0.1f;
        for (size_t i = 0; i < n_out; i++) preset[i] = rnd();
        float *got = run_product(be, s, in, w, preset);
        float *ref_other = other ? run_product(other, s, in, w, preset) : NULL;
        for (int r = 0; r < s->rows; r++) {
            for (int o = 0; o < s->out_stride; o++) {
                size_t at = (size_t)r * s->out_stride + o;
                if (o >= s->out_dim) {
                    if (got[at] != preset[at])
                        fail_msg("%s: wrote outside the outputs (row %d, column %d)", be->name, r, o);
                    continue;
                }
                double ref = preset[at], scale = fabs(preset[at]);
                for (int i = 0; i < s->in_dim; i++) {
                    double p = (double)rams_round_bf16(in[(size_t)r * s->in_stride + i]) *
                               (double)rams_round_bf16(w[(size_t)o * s->in_dim + i]);
                    ref += p, scale += fabs(p);
                }
                double e = fabs(got[at] - ref) / scale;
                if (!(e <= KERNEL_TOL))
                    fail_msg("%s: %dx%d -> %d, row %d, output %d: %.9g, reference %.9g (error %.3g of the "
                             "sum's scale, "
                             "tolerance %.3g)",
                             be->name, s->rows, s->in_dim, s->out_dim, r, o, got[at], ref, e, KERNEL_TOL);
                if (e > worst) worst = e;
                if (ref_other) {
                    double d = fabs(got[at] - ref_other[at]) / scale;
                    if (!(d <= 2 * KERNEL_TOL))
                        fail_msg("%s vs %s: row %d, output %d: %.9g vs %.9g", be->name, other->name, r, o,
                                 got[at], ref_other[at]);
                    if (d > worst_other) worst_other = d;
                }
            }
        }
        free(in), free(w), free(preset), free(got), free(ref_other);
    }
    print_message("%s: worst error %.3g of the sum's scale (tolerance %.3g)", be->name, worst, KERNEL_TOL);
    if (other) print_message("; %.3g from %s", worst_other, other->name);
    print_message("\n");
    return worst;
}

static const rams_gemm_backend *portable(void) { return rams_gemm_backend_named("bf16-portable"); }

/* Runs the kernel named `name`, or says plainly why it cannot run here and skips. */
static void kernel_test(const char *name)
{
    const rams_gemm_backend *be = rams_gemm_backend_named(name);
    if (!be) {
        print_message("skipped: %s is not built for this architecture\n", name);
        skip();
    }
    if (!be->available()) {
        const rams_cpu_info *cpu = rams_cpu();
        if (strstr(name, "amx") && cpu->amx_in_cpuid)
            print_message("skipped: %s: this CPU has AMX but %s\n", name, cpu->amx_refused);
        else
            print_message("skipped: %s: this CPU has no %s (it has: %s)\n", name, be->needs,
                          *rams_cpu_features() ? rams_cpu_features() : "none of the listed features");
        skip();
    }
    check_kernel(be, be == portable() ? NULL : portable());
}

static void test_portable(void **state)
{
    (void)state;
    kernel_test("bf16-portable");
}
static void test_avx512(void **state)
{
    (void)state;
    kernel_test("bf16-avx512");
}
static void test_amx(void **state)
{
    (void)state;
    kernel_test("bf16-amx");
}

static void test_emulated(void **state)
{
    (void)state;
#ifdef RAMS_TEST_EMULATED_KERNELS
    check_kernel(&rams_backend_bf16_avx512_emulated, portable());
    check_kernel(&rams_backend_bf16_amx_emulated, portable());
#else
    print_message("skipped: the emulated x86 kernels are built on x86-64 only\n");
    skip();
#endif
}

/* ---- the switch ------------------------------------------------------------------------------- */

static void test_cpu_and_choice(void **state)
{
    (void)state;
    print_message("this CPU: %s\n", rams_cpu_features());
    print_message("kernels: f32 %s, bf16 %s\n", rams_kernel_for(RAMS_PRECISION_F32),
                  rams_kernel_for(RAMS_PRECISION_BF16));
    assert_non_null(rams_cpu_features());
    assert_string_equal(rams_kernel_for(RAMS_PRECISION_F32), "openblas-sgemm");
    assert_non_null(rams_kernel_for(RAMS_PRECISION_INT8)); /* int8-portable at least (issue 13) */
    const char *bf16 = rams_kernel_for(RAMS_PRECISION_BF16);
    assert_non_null(bf16);
    const rams_cpu_info *cpu = rams_cpu();
    assert_string_equal(bf16, cpu->amx_bf16      ? "bf16-amx"
                              : cpu->avx512_bf16 ? "bf16-avx512"
                                                 : "bf16-portable");
    /* The features string lists what the flags say. */
    assert_int_equal(strstr(rams_cpu_features(), "avx2") != NULL, cpu->avx2);
    assert_int_equal(strstr(rams_cpu_features(), "amx_bf16") != NULL, cpu->amx_bf16);

    rams_precision p = RAMS_PRECISION_F32;
    assert_int_equal(rams_precision_parse("BF16", &p), RAMS_OK);
    assert_int_equal(p, RAMS_PRECISION_BF16);
    assert_int_equal(rams_precision_parse("fp16", &p), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(p, RAMS_PRECISION_BF16);
    assert_string_equal(rams_precision_name(RAMS_PRECISION_INT8), "int8");
    assert_string_equal(rams_precision_name((rams_precision)9), "unknown");
}

static rams_status load_with(rams_precision precision, const char *kernel, rams_model **m)
{
    rams_model_params mp = rams_model_default_params();
    mp.precision = precision;
    mp.kernel = kernel;
    return rams_model_load(test_data_path("tiny_f32.safetensors"), &mp, m);
}

static void test_model_params(void **state)
{
    (void)state;
    rams_model_params mp = rams_model_default_params();
    assert_int_equal(mp.precision, RAMS_PRECISION_F32);
    assert_null(mp.kernel);

    rams_model *m = NULL;
    rams_model_info info;
    assert_int_equal(load_with(RAMS_PRECISION_F32, NULL, &m), RAMS_OK);
    assert_int_equal(rams_model_get_info(m, &info), RAMS_OK);
    assert_int_equal(info.precision, RAMS_PRECISION_F32);
    assert_string_equal(info.kernel, "openblas-sgemm");
    assert_null(m->packed); /* f32 weights in place */
    rams_model_free(m);

    assert_int_equal(load_with(RAMS_PRECISION_BF16, "bf16-portable", &m), RAMS_OK);
    assert_int_equal(rams_model_get_info(m, &info), RAMS_OK);
    assert_int_equal(info.precision, RAMS_PRECISION_BF16);
    assert_string_equal(info.kernel, "bf16-portable");
    assert_null(m->converted); /* f32 file: nothing widened, the matrices packed */
    assert_non_null(m->packed);
    rams_model_free(m);

    /* a kernel of another precision, an unknown one, a bad precision (int8: tests/test_gemm_int8.c). */
    m = (rams_model *)1;
    assert_int_equal(load_with(RAMS_PRECISION_INT8, "bf16-portable", &m), RAMS_ERR_INVALID_ARGUMENT);
    assert_null(m);
    assert_non_null(strstr(rams_last_error(), "bf16-portable computes in bf16"));
    assert_int_equal(load_with(RAMS_PRECISION_F32, "bf16-portable", &m), RAMS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(rams_last_error(), "bf16-portable computes in bf16"));
    assert_int_equal(load_with(RAMS_PRECISION_BF16, "bf16-fast", &m), RAMS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(rams_last_error(), "no such kernel"));
    assert_int_equal(load_with((rams_precision)7, NULL, &m), RAMS_ERR_INVALID_ARGUMENT);
    const rams_gemm_backend *amx = rams_gemm_backend_named("bf16-amx");
    if (amx && !amx->available()) {
        assert_int_equal(load_with(RAMS_PRECISION_BF16, "bf16-amx", &m), RAMS_ERR_UNSUPPORTED);
        assert_non_null(strstr(rams_last_error(), "AMX"));
    }

    /* RAMSTRANS_KERNEL chooses for its own precision only, and an unknown name is refused. */
    setenv("RAMSTRANS_KERNEL", "bf16-portable", 1);
    assert_string_equal(rams_kernel_for(RAMS_PRECISION_BF16), "bf16-portable");
    assert_string_equal(rams_kernel_for(RAMS_PRECISION_F32), "openblas-sgemm");
    assert_int_equal(load_with(RAMS_PRECISION_BF16, NULL, &m), RAMS_OK);
    assert_int_equal(rams_model_get_info(m, &info), RAMS_OK);
    assert_string_equal(info.kernel, "bf16-portable");
    rams_model_free(m);
    setenv("RAMSTRANS_KERNEL", "nonsense", 1);
    assert_int_equal(load_with(RAMS_PRECISION_BF16, NULL, &m), RAMS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(rams_last_error(), "RAMSTRANS_KERNEL=nonsense"));
    unsetenv("RAMSTRANS_KERNEL");

    /* An older caller's smaller params (the 0.2 layout, no precision) load in f32. */
    rams_model_params old;
    rams_model_params_init(&old, offsetof(rams_model_params, precision));
    old.precision = RAMS_PRECISION_INT8; /* beyond its size: never read */
    assert_int_equal(rams_model_load(test_data_path("tiny_f32.safetensors"), &old, &m), RAMS_OK);
    assert_int_equal(rams_model_get_info(m, &info), RAMS_OK);
    assert_int_equal(info.precision, RAMS_PRECISION_F32);
    rams_model_free(m);
}

/* ---- the engine in bf16 ------------------------------------------------------------------------ */

/* Runs every bf16_int8 golden case (test_util.c) in bf16 on `kernel`; checks the logits against
 * the f32 golden ones and returns the worst absolute logit error (printed). */
/* The engine tests on `kernel`, with the attention products on `attention` (NULL: the default
 * choice; else RAMSTRANS_ATTENTION_KERNEL's value, "f32" or a bf16 kernel). */
static void engine_on(const char *kernel, const char *attention)
{
    double worst = 0, worst_abs = 0;
    int boxes_equal = 0, runs = 0;
    for (size_t k = 0; k < TEST_ENGINE_CASES; k++) {
        const test_engine_case *c = &test_engine_cases[k];
        if (!c->bf16_int8) continue;
        rams_model_params mp = rams_model_default_params();
        mp.precision = RAMS_PRECISION_BF16;
        mp.kernel = kernel;
        rams_model *m;
        char *env = test_env_set("RAMSTRANS_ATTENTION_KERNEL", attention);
        rams_status loaded = rams_model_load(test_data_path(c->model), &mp, &m);
        const rams_gemm_backend *expected = NULL;
        rams_status chosen = rams_attention_backend_choose(RAMS_PRECISION_BF16, &expected);
        test_env_restore("RAMSTRANS_ATTENTION_KERNEL", env);
        if (loaded != RAMS_OK) fail_msg("%s", rams_last_error());
        assert_int_equal(chosen, RAMS_OK);
        rams_model_info info;
        assert_int_equal(rams_model_get_info(m, &info), RAMS_OK);
        assert_string_equal(info.attention_kernel, expected ? expected->name : "openblas-sgemm");
        rams_context_params cp = rams_context_default_params();
        cp.threads = 2;
        rams_context *ctx;
        assert_int_equal(rams_context_create(m, &cp, &ctx), RAMS_OK);
        size_t n;
        float *x = test_load_npy(c->input, &n, NULL, NULL);
        rams_run_params rp = rams_run_default_params();
        rp.mode = RAMS_MODE_FUSED;
        rams_result r;
        int S = m->cfg.image_size;
        assert_int_equal(rams_classify_tensor(ctx, x, 3, S, S, &rp, &r), RAMS_OK);
        double *l1 = test_golden(c, "logits1", &n), *l2 = test_golden(c, "logits2", &n),
               *box = test_golden(c, "box", &n);
        double e1 = test_golden_ratio(r.logits_scale1, l1, n, ENGINE_RTOL, ENGINE_ATOL, &worst_abs);
        if (e1 > worst) worst = e1;
        if (!(e1 <= 1))
            fail_msg("%s on %s, %s: scale-1 logits %.3fx the tolerance", kernel, c->model, c->input, e1);
        /* The zoom box: a cell's score nearer the threshold than bf16's error may flip; scale 2 is
         * compared only when the box is the golden one (it is, on these inputs: counted below). */
        int same_box = test_box_is_golden(r.box, box);
        boxes_equal += same_box, runs++;
        if (same_box) {
            double e2 = test_golden_ratio(r.logits_scale2, l2, (size_t)m->cfg.classes, ENGINE_RTOL,
                                          ENGINE_ATOL, &worst_abs);
            if (e2 > worst) worst = e2;
            if (!(e2 <= 1))
                fail_msg("%s on %s, %s: scale-2 logits %.3fx the tolerance", kernel, c->model, c->input, e2);
        }
        free(l1), free(l2), free(box), free(x);
        rams_context_free(ctx);
        rams_model_free(m);
    }
    print_message("%s (attention: %s): logits within %.2f of the tolerance (worst absolute error %.3g); zoom "
                  "box equal to f32's on %d of %d\n",
                  kernel, attention ? attention : "default", worst, worst_abs, boxes_equal, runs);
    assert_int_equal(boxes_equal, runs);
}

/* A copy of tiny_f32.safetensors whose weight matrices are BF16 (rounded to nearest even), the
 * other tensors f32: loaded in bf16 it must give bit for bit the logits of the f32 file loaded in
 * bf16 (the packing rounds the same values), with nothing of the matrices widened to f32. */
static void test_bf16_file(void **state)
{
    (void)state;
    FILE *f = fopen(test_data_path("tiny_f32.safetensors"), "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size_t size = (size_t)ftell(f);
    rewind(f);
    uint8_t *bytes = malloc(size);
    assert_int_equal(fread(bytes, 1, size, f), size);
    fclose(f);
    uint64_t hlen;
    memcpy(&hlen, bytes, 8);
    char *htext = strndup((const char *)bytes + 8, (size_t)hlen);
    cJSON *h = cJSON_Parse(htext);
    assert_non_null(h);
    const uint8_t *data = bytes + 8 + hlen;
    uint8_t *out = malloc(size);
    size_t at = 0, matrices = 0;
    for (cJSON *t = h->child; t; t = t->next) {
        if (!strcmp(t->string, "__metadata__")) continue;
        cJSON *offs = cJSON_GetObjectItem(t, "data_offsets"), *shape = cJSON_GetObjectItem(t, "shape");
        size_t b = (size_t)cJSON_GetArrayItem(offs, 0)->valuedouble,
               e = (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
        size_t n = (e - b) / 4, start = at;
        int matrix = strstr(t->string, ".weight") && cJSON_GetArraySize(shape) >= 2;
        for (size_t i = 0; i < n; i++) {
            float v;
            memcpy(&v, data + b + 4 * i, 4);
            if (matrix) {
                uint16_t hv = rams_f32_to_bf16(v);
                memcpy(out + at, &hv, 2), at += 2;
            } else {
                memcpy(out + at, &v, 4), at += 4;
            }
        }
        at = (at + 7) / 8 * 8; /* keep every tensor 8-byte aligned */
        if (matrix) cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("BF16")), matrices++;
        cJSON_ReplaceItemInObject(
            t, "data_offsets",
            cJSON_CreateIntArray((const int[]){(int)start, (int)(start + (matrix ? 2 : 4) * n)}, 2));
    }
    assert_true(matrices >= 7);
    char *text = cJSON_PrintUnformatted(h);
    size_t tlen = strlen(text), padded = (tlen + 7) / 8 * 8;
    char path[128];
    snprintf(path, sizeof path, "/tmp/ramstrans_test_bf16_matrices_%ld.safetensors", (long)getpid());
    FILE *o = fopen(path, "wb");
    assert_non_null(o);
    uint64_t plen = padded;
    fwrite(&plen, 8, 1, o);
    fwrite(text, 1, tlen, o);
    for (size_t i = tlen; i < padded; i++) fputc(' ', o);
    fwrite(out, 1, at, o);
    fclose(o);

    float logits[2][64];
    for (int k = 0; k < 2; k++) {
        rams_model_params mp = rams_model_default_params();
        mp.precision = RAMS_PRECISION_BF16;
        mp.kernel = "bf16-portable";
        rams_model *m;
        if (rams_model_load(k ? path : test_data_path("tiny_f32.safetensors"), &mp, &m) != RAMS_OK)
            fail_msg("%s", rams_last_error());
        if (k) {
            rams_model_info info;
            assert_int_equal(rams_model_get_info(m, &info), RAMS_OK);
            assert_string_equal(info.dtype, "mixed");
            /* Only the small f32 tensors could have been widened (none: they are aligned f32). */
            assert_null(m->converted);
        }
        rams_context *ctx;
        assert_int_equal(rams_context_create(m, NULL, &ctx), RAMS_OK);
        size_t n;
        float *x = test_load_npy("input.npy", &n, NULL, NULL);
        rams_run_params rp = rams_run_default_params();
        rp.mode = RAMS_MODE_SCALE1;
        rams_result r;
        int S = m->cfg.image_size;
        assert_int_equal(rams_classify_tensor(ctx, x, 3, S, S, &rp, &r), RAMS_OK);
        assert_true(r.num_classes <= 64);
        memcpy(logits[k], r.logits_scale1, (size_t)r.num_classes * sizeof(float));
        free(x);
        rams_context_free(ctx);
        rams_model_free(m);
        if (k) assert_memory_equal(logits[0], logits[1], (size_t)r.num_classes * sizeof(float));
    }
    remove(path);
    cJSON_free(text);
    cJSON_Delete(h);
    free(htext), free(bytes), free(out);
}

static void test_engine(void **state)
{
    (void)state;
    int ran = 0;
    for (int i = 0; rams_gemm_backends[i]; i++) {
        const rams_gemm_backend *be = rams_gemm_backends[i];
        if (be->precision != RAMS_PRECISION_BF16) continue;
        if (!be->available()) {
            print_message("skipped: %s: this CPU has no %s\n", be->name, be->needs);
            continue;
        }
        engine_on(be->name, NULL);
        ran++;
    }
    assert_true(ran >= 1); /* bf16-portable runs everywhere */
    /* The attention products in bf16 (what a CPU with AMX-BF16 or AVX512-BF16 runs by default), on
     * every CPU through bf16-portable, and in f32 on whatever kernel this CPU picks. */
    engine_on("bf16-portable", "bf16-portable");
    engine_on(rams_kernel_for(RAMS_PRECISION_BF16), "f32");
}

/* `test_gemm_bf16 KERNEL` (ctest gemm_bf16_amx, gemm_bf16_avx512): that kernel alone, the product
 * and the engine; exit status 77 (ctest: Skipped, shown in its summary) with the reason on stdout
 * when this CPU cannot run it. */
static const char *only_kernel;

static void test_one_kernel(void **state)
{
    (void)state;
    kernel_test(only_kernel);
    engine_on(only_kernel, NULL);
    engine_on(only_kernel, only_kernel); /* its products and its attention products alike */
}

int main(int argc, char **argv)
{
    if (argc == 2) {
        only_kernel = argv[1];
        const rams_gemm_backend *be = rams_gemm_backend_named(only_kernel);
        if (!be || !be->available()) {
            const rams_cpu_info *cpu = rams_cpu();
            if (!be) printf("skipped: %s is not built for this architecture\n", only_kernel);
            else if (strstr(only_kernel, "amx") && cpu->amx_in_cpuid)
                printf("skipped: %s: this CPU has AMX but %s\n", only_kernel, cpu->amx_refused);
            else
                printf("skipped: %s: this CPU has no %s (it has: %s)\n", only_kernel, be->needs,
                       rams_cpu_features());
            return 77;
        }
        const struct CMUnitTest one[] = {cmocka_unit_test(test_one_kernel)};
        return cmocka_run_group_tests(one, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_and_choice),
        cmocka_unit_test(test_model_params),
        cmocka_unit_test(test_portable),
        cmocka_unit_test(test_avx512),
        cmocka_unit_test(test_amx),
        cmocka_unit_test(test_emulated),
        cmocka_unit_test(test_engine),
        cmocka_unit_test(test_bf16_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
