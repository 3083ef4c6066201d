/* The engine at --precision int8 (issue 13).  The tiny golden models (RAMS-Trans f32 and f16 files,
 * the one-CLS ViT; two inputs each) run fused in int8 on each int8 kernel this CPU runs: every
 * kernel gives bit for bit the logits of int8-portable, and both scales' logits stay within
 * 5e-2 + 5e-2 |ref| of the f32 golden ones (float64 reference; measured: at most 0.18 of it, worst absolute error 0.012).
 * A q8 file written by rams_quantize_model_file loads as "Q8", keeps the patch embedding in f32,
 * gives in int8 bit for bit the logits of its f32 source quantized at load, and in f32 runs its
 * dequantized weights; quantizing a q8 file is refused. */
#define RAMSTRANS_EXPERIMENTAL
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kernels/gemm_int8.h"
#include "model.h"
#include "test_util.h"

#define ENGINE_RTOL 5e-2
#define ENGINE_ATOL 5e-2

typedef struct {
    float l1[64], l2[64];
    int has2, classes;
    rams_box box;
} run_out;

/* Runs `model_path` fused on `input` in `precision` on `kernel` (NULL: the choice). */
static void run(const char *model_path, const char *input, rams_precision precision, const char *kernel,
                run_out *o)
{
    rams_model_params mp = rams_model_default_params();
    mp.precision = precision;
    mp.kernel = kernel;
    rams_model *m;
    if (rams_model_load(model_path, &mp, &m) != RAMS_OK) fail_msg("%s", rams_last_error());
    rams_context_params cp = rams_context_default_params();
    cp.threads = 2;
    rams_context *ctx;
    assert_int_equal(rams_context_create(m, &cp, &ctx), RAMS_OK);
    size_t n;
    float *x = test_load_npy(input, &n, NULL, NULL);
    rams_run_params rp = rams_run_default_params();
    rp.mode = RAMS_MODE_FUSED;
    rams_result r;
    int S = m->cfg.image_size;
    assert_int_equal(rams_classify_tensor(ctx, x, 3, S, S, &rp, &r), RAMS_OK);
    memset(o, 0, sizeof *o);
    assert_true(r.num_classes <= 64);
    o->classes = r.num_classes;
    memcpy(o->l1, r.logits_scale1, (size_t)r.num_classes * sizeof(float));
    if (r.logits_scale2) o->has2 = 1, memcpy(o->l2, r.logits_scale2, (size_t)r.num_classes * sizeof(float));
    o->box = r.box;
    free(x);
    rams_context_free(ctx);
    rams_model_free(m);
}

/* Every int8 kernel this CPU runs, on the bf16_int8 golden cases (test_util.c), against the golden
 * f32 logits and against int8-portable. */
static void test_engine_int8(void **state)
{
    (void)state;
    const char *kernels[] = {"int8-portable", "int8-avx2", "int8-avx-vnni", "int8-avx512-vnni", "int8-amx"};
    run_out ref[TEST_ENGINE_CASES];
    for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
        if (!rams_i8_kernel_supported((rams_i8_kernel_id)k)) {
            print_message("  %s: this CPU lacks its instructions: SKIPPED here (test_gemm_int8 runs its "
                          "loops emulated)\n",
                          kernels[k]);
            continue;
        }
        double worst = 0, worst_abs = 0;
        int boxes = 0, runs = 0;
        for (size_t i = 0; i < TEST_ENGINE_CASES; i++) {
            const test_engine_case *c = &test_engine_cases[i];
            if (!c->bf16_int8) continue;
            runs++;
            run_out o;
            run(test_data_path(c->model), c->input, RAMS_PRECISION_INT8, kernels[k], &o);
            if (k == 0) {
                ref[i] = o;
            } else {
                assert_memory_equal(o.l1, ref[i].l1, sizeof o.l1);
                assert_memory_equal(o.l2, ref[i].l2, sizeof o.l2);
                assert_memory_equal(&o.box, &ref[i].box, sizeof o.box);
            }
            size_t n;
            double *l1 = test_golden(c, "logits1", &n), *l2 = test_golden(c, "logits2", &n),
                   *box = test_golden(c, "box", &n);
            double e = test_golden_ratio(o.l1, l1, n, ENGINE_RTOL, ENGINE_ATOL, &worst_abs);
            if (e > worst) worst = e;
            if (!(e <= 1))
                fail_msg("%s on %s, %s: scale-1 logits %.3fx the tolerance", kernels[k], c->model, c->input,
                         e);
            int same = test_box_is_golden(o.box, box);
            boxes += same;
            if (same) {
                e = test_golden_ratio(o.l2, l2, n, ENGINE_RTOL, ENGINE_ATOL, &worst_abs);
                if (e > worst) worst = e;
                if (!(e <= 1))
                    fail_msg("%s on %s, %s: scale-2 logits %.3fx the tolerance", kernels[k], c->model,
                             c->input, e);
            }
            free(l1), free(l2), free(box);
        }
        print_message(
            "  %s: logits within %.2f of the tolerance (worst absolute error %.3g), %s; zoom box equal to "
            "f32's on %d of %d\n",
            kernels[k], worst, worst_abs, k ? "bit for bit int8-portable's" : "the reference", boxes, runs);
        assert_true(boxes >= runs - 1);
    }
}

/* rams_quantize_model_file: the q8 file of tiny_f32 and of the one-CLS ViT. */
static void test_q8_file(void **state)
{
    (void)state;
    const char *sources[] = {"tiny_f32.safetensors", "vit_tiny_f32.safetensors", "tiny_f16.safetensors"};
    const char *inputs[] = {"input.npy", "vit/input.npy", "input.npy"};
    for (size_t s = 0; s < 3; s++) {
        char out[256];
        snprintf(out, sizeof out, "/tmp/test_int8_model_%ld_%zu.safetensors", (long)getpid(), s);
        const char *src = test_data_path(sources[s]);
        char src_path[512];
        snprintf(src_path, sizeof src_path, "%s", src);
        if (rams_quantize_model_file(src_path, out) != RAMS_OK) fail_msg("%s", rams_last_error());

        rams_model *m;
        rams_model_params mp = rams_model_default_params();
        mp.precision = RAMS_PRECISION_INT8;
        assert_int_equal(rams_model_load(out, &mp, &m), RAMS_OK);
        rams_model_info info;
        assert_int_equal(rams_model_get_info(m, &info), RAMS_OK);
        assert_string_equal(info.dtype, "Q8");
        assert_non_null(m->w.patch_w.f32); /* the patch embedding in f32 */
        assert_null(m->w.patch_w.packed);
        assert_non_null(m->w.layer[0].fc2_w.packed);
        rams_model_free(m);

        run_out a, b, f, g;
        run(src_path, inputs[s], RAMS_PRECISION_INT8, NULL, &a);
        run(out, inputs[s], RAMS_PRECISION_INT8, NULL, &b);
        assert_memory_equal(a.l1, b.l1, sizeof a.l1);
        assert_memory_equal(a.l2, b.l2, sizeof a.l2);
        /* in f32 the dequantized weights: near the source's f32 logits */
        run(src_path, inputs[s], RAMS_PRECISION_F32, NULL, &f);
        run(out, inputs[s], RAMS_PRECISION_F32, NULL, &g);
        double worst = 0, worst_abs = 0;
        for (int i = 0; i < f.classes; i++) {
            double r = fabs(g.l1[i] - f.l1[i]) / (ENGINE_ATOL + ENGINE_RTOL * fabs(f.l1[i]));
            if (r > worst) worst = r;
            if (fabs(g.l1[i] - f.l1[i]) > worst_abs) worst_abs = fabs(g.l1[i] - f.l1[i]);
        }
        print_message(
            "  %s -> q8: int8 logits bit for bit the f32 file's at int8; in f32 (dequantized) %.2f of the "
            "tolerance from the f32 file (worst %.3g)\n",
            sources[s], worst, worst_abs);
        assert_true(worst <= 1);

        /* a q8 file is not quantized again */
        char again[300];
        snprintf(again, sizeof again, "%s.again", out);
        assert_int_equal(rams_quantize_model_file(out, again), RAMS_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(rams_last_error(), "already a q8 model file"));
        assert_int_equal(access(again, F_OK), -1);
        unlink(out);
    }
    assert_int_equal(rams_quantize_model_file(NULL, "x"), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        rams_quantize_model_file(test_data_path("tiny_f32.safetensors"), "/nonexistent-dir/x.safetensors"),
        RAMS_ERR_IO);
    assert_non_null(strstr(rams_last_error(), "/nonexistent-dir/x.safetensors"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_int8),
        cmocka_unit_test(test_q8_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
