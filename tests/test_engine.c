/* The C engine against the PyTorch reference (tools/reference/make_golden.py), stage by stage, for the f32
 * and the f16 model file and two inputs (one whose box touches the borders), and for a plain ViT (one
 * CLS token: [cls, patches]; both scales read it, the rollout keeps the columns after it) converted
 * from a Google .npz, with two inputs of its own.
 *
 * Tolerances.  The golden network stages are computed in float64 from the stored weights; the C
 * engine computes in float32 (LayerNorm statistics and the rollout in double).  float32 keeps
 * ~7 significant digits and this tiny model sums at most 64 products per dot product, so every
 * stage is held to |c - ref| <= 1e-5 + 1e-4 |ref| (logits, hidden states, crop) and attention
 * probabilities to 1e-6 absolute.  The rollout is computed in double from float32 maps, so
 * v and p are held to 1e-5 relative.  Mask, component and box must match exactly: the golden
 * inputs were chosen with every DPPM score at least 1e-3 away from the threshold. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define RAMSTRANS_EXPERIMENTAL
#include "dppm.h"
#include "encoder.h"
#include "model.h"
#include "ramstrans.h"
#include "test_util.h"

#define RTOL 1e-4
#define ATOL 1e-5
/* The zoom computes its source coordinates in float32 as PyTorch's CPU kernel does (the golden
 * crop is float64): a coordinate error of up to ~S * 2^-24 px times the input's local gradient
 * (a few units per pixel in these noisy inputs) gives up to ~1e-6; 1e-5 leaves a margin. */
#define CROP_RTOL 1e-5
#define CROP_ATOL 1e-5

/* Compares n floats with a golden array (rows `row0..` of width `width` when stride != width). */
static void expect_close(const char *label, const test_engine_case *c, const float *got, const double *want,
                         size_t n, double rtol, double atol)
{
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs(got[i] - want[i]) / (atol + rtol * fabs(want[i]));
        if (!(r <= worst)) worst = r, at = i;
    }
    if (!(worst <= 1.0))
        fail_msg("%s %s: element %zu is %.9g, reference %.9g (%.2fx the tolerance)", c->dir, label, at,
                 got[at], want[at], worst);
}

static rams_model *load(const test_engine_case *c)
{
    rams_model *m;
    if (rams_model_load(test_data_path(c->model), NULL, &m) != RAMS_OK) fail_msg("%s", rams_last_error());
    return m;
}

static float *load_input(const test_engine_case *c)
{
    size_t n;
    return test_load_npy(c->input, &n, NULL, NULL);
}

/* Embedding, block 0 and the attention maps, through the encoder's own entry points. */
static void test_network_stages(void **state)
{
    (void)state;
    for (size_t k = 0; k < TEST_ENGINE_CASES; k++) {
        const test_engine_case *c = &test_engine_cases[k];
        rams_model *m = load(c);
        const rams_config *cfg = &m->cfg;
        float *x = load_input(c);
        rams_encoder_state s;
        assert_int_equal(rams_encoder_state_init(&s, m, NULL), RAMS_OK);
        size_t n, ND = (size_t)cfg->num_tokens * cfg->hidden, NN = (size_t)cfg->num_tokens * cfg->num_tokens;

        rams_embed(m, &s, x);
        double *emb = test_golden(c, "embeddings", &n);
        assert_int_equal(n, ND);
        expect_close("embeddings", c, s.x, emb, n, RTOL, ATOL);

        float *map = malloc(NN * sizeof *map);
        rams_block(m, &s, 0, 0, cfg->num_tokens, map);
        double *blk = test_golden(c, "block0", &n);
        expect_close("block0", c, s.x, blk, n, RTOL, ATOL);

        /* All layers' maps from a full scale-1 pass. */
        float *maps = malloc((size_t)cfg->layers * NN * sizeof *maps), hidden[64];
        rams_encode(m, &s, x, 0, maps, hidden);
        double *attn = test_golden(c, "attn", &n);
        assert_int_equal(n, (size_t)cfg->layers * NN);
        expect_close("attention maps", c, maps, attn, n, 0, 1e-6);
        expect_close("layer-0 map from rams_block", c, map, attn, NN, 0, 1e-6);
        double *h1 = test_golden(c, "hidden1", &n);
        expect_close("scale-1 CLS hidden", c, hidden, h1, (size_t)cfg->hidden, RTOL, ATOL); /* row 0 */

        free(emb), free(blk), free(attn), free(h1), free(map), free(maps), free(x);
        rams_encoder_state_free(&s);
        rams_model_free(m);
    }
}

/* Rollout, threshold, mask, component, box and crop from the golden attention maps. */
static void test_dppm_stages(void **state)
{
    (void)state;
    for (size_t k = 0; k < TEST_ENGINE_CASES; k++) {
        const test_engine_case *c = &test_engine_cases[k];
        rams_model *m = load(c);
        const rams_config *cfg = &m->cfg;
        int G = cfg->grid, N = cfg->num_tokens;
        size_t n;
        double *attn64 = test_golden(c, "attn", &n);
        float *maps = malloc(n * sizeof *maps);
        for (size_t i = 0; i < n; i++) maps[i] = (float)attn64[i];

        double v[G * G], work[2 * N], t;
        rams_rollout(maps, cfg->layers, N, cfg->cls_tokens, v, work);
        double *v_ref = test_golden(c, "rollout_v", &n);
        for (int i = 0; i < G * G; i++) assert_float_equal(v[i], v_ref[i], 1e-5 * fabs(v_ref[i]));

        float p[G * G];
        unsigned char mask[G * G];
        rams_threshold(v, G * G, cfg->alpha, p, &t, mask);
        double *p_ref = test_golden(c, "p", &n), *t_ref = test_golden(c, "t", &n),
               *mask_ref = test_golden(c, "mask", &n);
        for (int i = 0; i < G * G; i++) assert_float_equal(p[i], p_ref[i], 1e-5);
        assert_float_equal(t, t_ref[0], 1e-5);
        for (int i = 0; i < G * G; i++) assert_int_equal(mask[i], (int)mask_ref[i]);

        int stack[G * G], r0, c0, r1, c1;
        int area = rams_largest_component(mask, G, stack, &r0, &c0, &r1, &c1);
        double *comp_ref = test_golden(c, "component", &n), *box_ref = test_golden(c, "box", &n);
        int ref_area = 0;
        for (int i = 0; i < G * G; i++) {
            assert_int_equal(mask[i] == 2, (int)comp_ref[i]);
            ref_area += comp_ref[i] != 0;
        }
        assert_int_equal(area, ref_area);
        rams_box b = rams_cells_to_box(area, r0, c0, r1, c1, cfg->patch_size, cfg->image_size);
        assert_int_equal(b.top, (int)box_ref[0]);
        assert_int_equal(b.left, (int)box_ref[1]);
        assert_int_equal(b.bottom, (int)box_ref[2]);
        assert_int_equal(b.right, (int)box_ref[3]);

        float *x = load_input(c),
              *crop = malloc(3 * (size_t)cfg->image_size * cfg->image_size * sizeof *crop);
        rams_zoom_crop(x, cfg->image_size, b, crop);
        double *crop_ref = test_golden(c, "crop", &n);
        expect_close("crop", c, crop, crop_ref, n, CROP_RTOL, CROP_ATOL);

        free(attn64), free(maps), free(v_ref), free(p_ref), free(t_ref), free(mask_ref), free(comp_ref);
        free(box_ref), free(x), free(crop), free(crop_ref);
        rams_model_free(m);
    }
}

/* The public API end to end: every mode gives the reference's logits, box and probabilities. */
static void test_classify_modes(void **state)
{
    (void)state;
    for (size_t k = 0; k < TEST_ENGINE_CASES; k++) {
        const test_engine_case *c = &test_engine_cases[k];
        rams_model *m = load(c);
        rams_context *ctx;
        assert_int_equal(rams_context_create(m, NULL, &ctx), RAMS_OK);
        float *x = load_input(c);
        size_t n;
        double *l1 = test_golden(c, "logits1", &n), *l2 = test_golden(c, "logits2", &n),
               *fused = test_golden(c, "fused", &n);
        double *box_ref = test_golden(c, "box", &n), *crop_ref = test_golden(c, "crop", &n),
               *p_ref = test_golden(c, "p", &n);
        int C = m->cfg.classes, S = m->cfg.image_size;

        for (int mode = RAMS_MODE_SCALE1; mode <= RAMS_MODE_FUSED; mode++) {
            rams_run_params p = rams_run_default_params();
            p.mode = (rams_mode)mode;
            p.top_k = 3;
            p.want_rollout = p.want_crop = 1;
            rams_result r;
            assert_int_equal(rams_classify_tensor(ctx, x, 3, S, S, &p, &r), RAMS_OK);
            assert_int_equal(r.mode, mode);
            assert_int_equal(r.top_k, 3);
            expect_close("logits scale 1", c, r.logits_scale1, l1, (size_t)C, RTOL, ATOL);
            if (mode == RAMS_MODE_SCALE1) {
                assert_null(r.logits_scale2);
                assert_false(r.has_box);
                assert_null(r.rollout);
                continue;
            }
            expect_close("logits scale 2", c, r.logits_scale2, l2, (size_t)C, RTOL, ATOL);
            assert_true(r.has_box);
            assert_false(r.box_is_fallback);
            assert_int_equal(r.box.top, (int)box_ref[0]);
            assert_int_equal(r.box.left, (int)box_ref[1]);
            assert_int_equal(r.box.bottom, (int)box_ref[2]);
            assert_int_equal(r.box.right, (int)box_ref[3]);
            expect_close("crop", c, r.crop, crop_ref, 3 * (size_t)S * S, CROP_RTOL, CROP_ATOL);
            expect_close("rollout map", c, r.rollout, p_ref, (size_t)r.grid * r.grid, 1e-5, 1e-7);
            if (mode == RAMS_MODE_FUSED) {
                expect_close("fused probabilities", c, r.probs, fused, (size_t)C, RTOL, 1e-6);
                /* The top predictions are the fused argmax, in order. */
                for (int i = 0; i < C; i++) assert_true(r.probs[i] <= r.top[0].prob);
                assert_true(r.top[0].prob >= r.top[1].prob && r.top[1].prob >= r.top[2].prob);
                assert_string_equal(r.top[0].label, rams_model_label(m, r.top[0].index));
            }
        }
        free(l1), free(l2), free(fused), free(box_ref), free(crop_ref), free(p_ref), free(x);
        rams_context_free(ctx);
        rams_model_free(m);
    }
}

/* A .npy file through rams_classify_file gives the same result as the tensor call. */
static void test_classify_npy_file(void **state)
{
    (void)state;
    const test_engine_case *c = &test_engine_cases[0];
    rams_model *m = load(c);
    rams_context *ctx;
    assert_int_equal(rams_context_create(m, NULL, &ctx), RAMS_OK);
    rams_result r;
    assert_int_equal(rams_classify_file(ctx, test_data_path(c->input), NULL, &r), RAMS_OK);
    size_t n;
    double *l2 = test_golden(c, "logits2", &n);
    expect_close("logits scale 2 (file)", c, r.logits_scale2, l2, n, RTOL, ATOL);
    assert_int_equal(r.mode, RAMS_MODE_FUSED); /* the model's default mode */
    assert_false(r.has_image_box);
    /* A tensor of the wrong size is refused with the file's name. */
    assert_int_equal(rams_classify_file(ctx, test_data_path("dppm/single_interior/v.npy"), NULL, &r),
                     RAMS_ERR_SHAPE);
    assert_non_null(strstr(rams_last_error(), "single_interior/v.npy"));
    free(l2);
    rams_context_free(ctx);
    rams_model_free(m);
}

/* Every hand-made DPPM case of tests/data/dppm (boxes written by hand in make_golden.py). */
static void test_dppm_cases(void **state)
{
    (void)state;
    FILE *f = fopen(test_data_path("dppm/cases.txt"), "r");
    assert_non_null(f);
    char name[128], path[256];
    int count = 0;
    while (fscanf(f, "%127s", name) == 1) {
        size_t n, cells;
        snprintf(path, sizeof path, "dppm/%s/params.npy", name);
        double *params = test_load_npy_f64(path, &n);
        snprintf(path, sizeof path, "dppm/%s/v.npy", name);
        double *v = test_load_npy_f64(path, &cells);
        snprintf(path, sizeof path, "dppm/%s/mask.npy", name);
        double *mask_ref = test_load_npy_f64(path, &n);
        snprintf(path, sizeof path, "dppm/%s/component.npy", name);
        double *comp_ref = test_load_npy_f64(path, &n);
        snprintf(path, sizeof path, "dppm/%s/box.npy", name);
        double *box_ref = test_load_npy_f64(path, &n);
        int G = (int)params[1], P = (int)params[2];
        assert_int_equal(cells, (size_t)G * G);
        float *p = malloc(cells * sizeof *p);
        unsigned char *mask = malloc(cells);
        int *stack = malloc(cells * sizeof *stack), r0, c0, r1, c1;
        double t;
        rams_threshold(v, G * G, params[0], p, &t, mask);
        for (size_t i = 0; i < cells; i++)
            if (mask[i] != (unsigned char)mask_ref[i]) fail_msg("case %s: mask cell %zu differs", name, i);
        int area = rams_largest_component(mask, G, stack, &r0, &c0, &r1, &c1);
        for (size_t i = 0; i < cells; i++)
            if ((mask[i] == 2) != (comp_ref[i] != 0))
                fail_msg("case %s: component cell %zu differs", name, i);
        rams_box b = rams_cells_to_box(area, r0, c0, r1, c1, P, G * P);
        if (b.top != box_ref[0] || b.left != box_ref[1] || b.bottom != box_ref[2] || b.right != box_ref[3])
            fail_msg("case %s: box (%d,%d,%d,%d), expected (%g,%g,%g,%g)", name, b.top, b.left, b.bottom,
                     b.right, box_ref[0], box_ref[1], box_ref[2], box_ref[3]);
        free(params), free(v), free(mask_ref), free(comp_ref), free(box_ref), free(p), free(mask),
            free(stack);
        count++;
    }
    fclose(f);
    assert_true(count >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_network_stages), cmocka_unit_test(test_dppm_stages),
        cmocka_unit_test(test_classify_modes), cmocka_unit_test(test_classify_npy_file),
        cmocka_unit_test(test_dppm_cases),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
