#define _GNU_SOURCE /* memmem */
/* The 0.2 API: params read within their size and results written within result_size, the per-scale
 * probabilities and top-k, the decoded image and the preprocessed input on request, file kinds,
 * rams_save_npy and the GEMM rate. */
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

#define RAMSTRANS_EXPERIMENTAL
#include "file.h"
#include "image.h"
#include "npy.h"
#include "ramstrans.h"
#include "test_util.h"

static rams_model *model;
static rams_context *ctx;
static const char *photo = "images/png_adam7_rgb.png";

static int setup(void **state)
{
    (void)state;
    return test_open_tiny(&model, &ctx);
}

static int teardown(void **state)
{
    (void)state;
    return test_close_model(model, ctx);
}

static void expect_refusal(rams_status st, const char *words)
{
    assert_int_equal(st, RAMS_ERR_INVALID_ARGUMENT);
    if (!strstr(rams_last_error(), words)) fail_msg("message \"%s\" lacks \"%s\"", rams_last_error(), words);
}

/* ---- sizes ------------------------------------------------------------------------------------ */

static void test_default_params_record_the_sizes(void **state)
{
    (void)state;
    rams_model_params mp = rams_model_default_params();
    rams_context_params cp = rams_context_default_params();
    rams_run_params rp = rams_run_default_params();
    assert_int_equal(mp.size, sizeof mp);
    assert_int_equal(cp.size, sizeof cp);
    assert_int_equal(rp.size, sizeof rp);
    assert_int_equal(rp.result_size, sizeof(rams_result));
    assert_int_equal(mp.use_mmap, 1);
    assert_int_equal(cp.threads, 0);
    assert_int_equal(rp.mode, RAMS_MODE_DEFAULT);
    assert_int_equal(rp.top_k, 5);
    assert_int_equal(rp.want_image, 0);
    assert_int_equal(rp.want_input, 0);

    /* A newer header's larger struct: the fields known filled, the bytes beyond them zeroed. */
    unsigned char big[sizeof(rams_run_params) + 32];
    memset(big, 0xab, sizeof big);
    rams_run_params_init((rams_run_params *)big, sizeof big, sizeof(rams_result) + 16);
    rams_run_params known;
    memcpy(&known, big, sizeof known);
    assert_int_equal(known.size, sizeof big);
    assert_int_equal(known.result_size, sizeof(rams_result) + 16);
    assert_int_equal(known.top_k, 5);
    for (size_t i = sizeof known; i < sizeof big; i++) assert_int_equal(big[i], 0);
    /* A smaller size writes no further. */
    memset(big, 0xab, sizeof big);
    rams_run_params_init((rams_run_params *)big, 8, 0);
    for (size_t i = 8; i < sizeof big; i++) assert_int_equal(big[i], 0xab);
    rams_model_params_init(NULL, 0);
}

static void test_params_without_a_size_are_refused(void **state)
{
    (void)state;
    rams_model_params mp = {.use_mmap = 1};
    rams_model *m = NULL;
    expect_refusal(rams_model_load(test_data_path("tiny_f32.safetensors"), &mp, &m),
                   "rams_model_default_params");
    assert_null(m);

    rams_context_params cp = {.threads = 1};
    rams_context *c = NULL;
    expect_refusal(rams_context_create(model, &cp, &c), "rams_context_default_params");
    assert_null(c);

    rams_run_params rp = {.top_k = 5};
    rams_result r;
    expect_refusal(rams_classify_file(ctx, test_data_path("input.npy"), &rp, &r), "rams_run_default_params");
    /* A size but a result_size below the 0.2 result. */
    rp = rams_run_default_params();
    rp.result_size = sizeof r - 8;
    expect_refusal(rams_classify_file(ctx, test_data_path("input.npy"), &rp, &r), "result_size");
    uint8_t rgb[12] = {0};
    expect_refusal(rams_classify_rgb(ctx, rgb, 2, 2, 6, &rp, &r), "result_size");
    size_t count;
    int64_t shape[4];
    int ndim;
    float *chw = test_load_npy("input.npy", &count, shape, &ndim);
    expect_refusal(rams_classify_tensor(ctx, chw, 3, (int)shape[ndim - 2], (int)shape[ndim - 1], &rp, &r),
                   "result_size");
    free(chw);
}

/* The library writes result_size bytes: zeros past the result it knows, nothing past result_size. */
static void test_result_written_within_result_size(void **state)
{
    (void)state;
    struct {
        rams_result r;
        unsigned char newer[24]; /* fields of a newer header */
        unsigned char beyond[16];
    } big;
    memset(&big, 0xab, sizeof big);
    rams_run_params rp = rams_run_default_params();
    rp.result_size = sizeof big.r + sizeof big.newer;
    assert_int_equal(rams_classify_file(ctx, test_data_path("input.npy"), &rp, &big.r), RAMS_OK);
    assert_non_null(big.r.top);
    for (size_t i = 0; i < sizeof big.newer; i++) assert_int_equal(big.newer[i], 0);
    for (size_t i = 0; i < sizeof big.beyond; i++) assert_int_equal(big.beyond[i], 0xab);

    /* Params of a newer header: larger than this library's struct, the extra bytes ignored. */
    struct {
        rams_run_params p;
        int newer_field;
    } newer;
    rams_run_params_init(&newer.p, sizeof newer, sizeof(rams_result));
    newer.newer_field = 12345;
    newer.p.mode = RAMS_MODE_SCALE1;
    rams_result r;
    assert_int_equal(rams_classify_file(ctx, test_data_path("input.npy"), &newer.p, &r), RAMS_OK);
    assert_int_equal(r.mode, RAMS_MODE_SCALE1);
}

/* ---- per-scale probabilities ------------------------------------------------------------------ */

static void expect_softmax(const float *logits, const float *probs, int n)
{
    double mx = logits[0], sum = 0;
    for (int i = 1; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int i = 0; i < n; i++) sum += exp(logits[i] - mx);
    for (int i = 0; i < n; i++) assert_true(fabs(probs[i] - exp(logits[i] - mx) / sum) < 1e-6);
}

static void expect_top(const rams_prediction *top, int k, const float *probs, int n)
{
    assert_non_null(top);
    for (int t = 0; t < k; t++) {
        assert_true(top[t].index >= 0 && top[t].index < n);
        assert_true(top[t].prob == probs[top[t].index]);
        assert_string_equal(top[t].label, rams_model_label(model, top[t].index));
        if (t > 0) assert_true(top[t].prob <= top[t - 1].prob);
    }
    /* Nothing outside the list is more probable than its last entry. */
    for (int i = 0; i < n; i++) {
        int listed = 0;
        for (int t = 0; t < k; t++) listed |= top[t].index == i;
        if (!listed) assert_true(probs[i] <= top[k - 1].prob);
    }
}

static void test_per_scale_probabilities(void **state)
{
    (void)state;
    const char *input = test_data_path("input.npy");
    rams_run_params rp = rams_run_default_params();
    rp.top_k = 3;
    rams_result fused, s1, s2;
    rp.mode = RAMS_MODE_FUSED;
    assert_int_equal(rams_classify_file(ctx, input, &rp, &fused), RAMS_OK);
    int C = fused.num_classes, k = fused.top_k;
    assert_int_equal(k, C < 3 ? C : 3);
    float *keep = malloc(3 * (size_t)C * sizeof *keep); /* the pointers die with the next run */
    memcpy(keep, fused.probs_scale1, (size_t)C * sizeof *keep);
    memcpy(keep + C, fused.probs_scale2, (size_t)C * sizeof *keep);
    memcpy(keep + 2 * C, fused.probs_fused, (size_t)C * sizeof *keep);
    assert_ptr_equal(fused.probs, fused.probs_fused);
    assert_ptr_equal(fused.top, fused.top_fused);
    expect_softmax(fused.logits_scale1, fused.probs_scale1, C);
    expect_softmax(fused.logits_scale2, fused.probs_scale2, C);
    for (int i = 0; i < C; i++)
        assert_true(fused.probs_fused[i] == 0.5f * (fused.probs_scale1[i] + fused.probs_scale2[i]));
    expect_top(fused.top_scale1, k, fused.probs_scale1, C);
    expect_top(fused.top_scale2, k, fused.probs_scale2, C);
    expect_top(fused.top_fused, k, fused.probs_fused, C);

    /* Scale 1 alone: no second pass, so no scale-2 or fused lists; the same scale-1 numbers. */
    rp.mode = RAMS_MODE_SCALE1;
    assert_int_equal(rams_classify_file(ctx, input, &rp, &s1), RAMS_OK);
    assert_ptr_equal(s1.probs, s1.probs_scale1);
    assert_ptr_equal(s1.top, s1.top_scale1);
    assert_null(s1.probs_scale2);
    assert_null(s1.probs_fused);
    assert_null(s1.top_scale2);
    assert_null(s1.top_fused);
    /* (Without the maps the last block computes only the CLS row's query: GEMMs of other shapes,
     * so the last bits may differ.) */
    assert_true(test_tolerance_ratio(s1.probs_scale1, keep, (size_t)C, 1e-4, 1e-6) <= 1);

    /* Scale 2: its probabilities are the mode's, and the fused ones come along. */
    rp.mode = RAMS_MODE_SCALE2;
    assert_int_equal(rams_classify_file(ctx, input, &rp, &s2), RAMS_OK);
    assert_ptr_equal(s2.probs, s2.probs_scale2);
    assert_ptr_equal(s2.top, s2.top_scale2);
    assert_memory_equal(s2.probs_scale1, keep, (size_t)C * sizeof *keep);
    assert_memory_equal(s2.probs_scale2, keep + C, (size_t)C * sizeof *keep);
    assert_memory_equal(s2.probs_fused, keep + 2 * C, (size_t)C * sizeof *keep);
    free(keep);
}

/* ---- the decoded image and the preprocessed input ---------------------------------------------- */

static void test_image_and_input_on_request(void **state)
{
    (void)state;
    const char *path = test_data_path(photo);
    uint8_t *data;
    size_t size;
    assert_int_equal(rams_read_file(path, 1 << 20, &data, &size), RAMS_OK);
    rams_image img;
    assert_int_equal(rams_image_decode(data, size, path, 0, &img), RAMS_OK);
    free(data);
    size_t bytes = (size_t)img.width * img.height * 3;

    /* Not asked: NULL; input_size is S all the same. */
    rams_run_params rp = rams_run_default_params();
    rams_result r;
    assert_int_equal(rams_classify_file(ctx, path, &rp, &r), RAMS_OK);
    assert_null(r.image_rgb);
    assert_null(r.input);
    rams_model_info info;
    assert_int_equal(rams_model_get_info(model, &info), RAMS_OK);
    assert_int_equal(r.input_size, info.image_size);
    size_t S = (size_t)info.image_size, n = 3 * S * S;

    rp.want_image = rp.want_input = 1;
    assert_int_equal(rams_classify_file(ctx, path, &rp, &r), RAMS_OK);
    assert_non_null(r.image_rgb);
    assert_int_equal(r.image_width, img.width);
    assert_int_equal(r.image_height, img.height);
    assert_memory_equal(r.image_rgb, img.rgb, bytes);
    assert_non_null(r.input);
    float *input = malloc(n * sizeof *input), *probs = malloc((size_t)r.num_classes * sizeof *probs);
    memcpy(input, r.input, n * sizeof *input);
    memcpy(probs, r.probs, (size_t)r.num_classes * sizeof *probs);

    /* The input tensor is what ran: classifying it gives the same probabilities. */
    rams_result t;
    assert_int_equal(rams_classify_tensor(ctx, input, 3, (int)S, (int)S, &rp, &t), RAMS_OK);
    assert_null(t.image_rgb);
    assert_non_null(t.input);
    assert_memory_equal(t.input, input, n * sizeof *input);
    assert_memory_equal(t.probs, probs, (size_t)t.num_classes * sizeof *probs);

    /* classify_rgb with padded rows: a packed copy, and the same input. */
    size_t stride = (size_t)img.width * 3 + 5;
    uint8_t *padded = calloc((size_t)img.height, stride);
    for (int y = 0; y < img.height; y++)
        memcpy(padded + stride * y, img.rgb + (size_t)img.width * 3 * y, (size_t)img.width * 3);
    assert_int_equal(rams_classify_rgb(ctx, padded, img.width, img.height, stride, &rp, &r), RAMS_OK);
    free(padded);
    assert_memory_equal(r.image_rgb, img.rgb, bytes);
    assert_memory_equal(r.input, input, n * sizeof *input);

    /* A .npy tensor: no image, the tensor itself as the input. */
    size_t count;
    int64_t shape[4];
    int ndim;
    float *npy = test_load_npy("input.npy", &count, shape, &ndim);
    assert_int_equal(rams_classify_file(ctx, test_data_path("input.npy"), &rp, &r), RAMS_OK);
    assert_null(r.image_rgb);
    assert_memory_equal(r.input, npy, n * sizeof *npy);
    free(npy), free(input), free(probs);
    rams_image_free(&img);
}

/* ---- files ------------------------------------------------------------------------------------ */

static void test_file_kinds(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        rams_file_kind kind;
    } cases[] = {
        {"input.npy", RAMS_FILE_NPY},
        {"images/png_adam7_rgb.png", RAMS_FILE_PNG},
        {"images/jpeg_420.jpg", RAMS_FILE_JPEG},
        {"images/webp_anim_lossy.webp", RAMS_FILE_WEBP},
        {"images/bad_text.png", RAMS_FILE_UNKNOWN}, /* by content, never by name */
        {"images/bad_empty.jpg", RAMS_FILE_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rams_file_kind kind = (rams_file_kind)99;
        assert_int_equal(rams_file_kind_of(test_data_path(cases[i].name), &kind), RAMS_OK);
        if (kind != cases[i].kind) fail_msg("%s: %s", cases[i].name, rams_file_kind_name(kind));
    }
    rams_file_kind kind;
    assert_int_equal(rams_file_kind_of(test_data_path("images"), &kind), RAMS_ERR_IO);
    assert_int_equal(rams_file_kind_of("/nonexistent/x.png", &kind), RAMS_ERR_IO);
    assert_int_equal(rams_file_kind_of(NULL, &kind), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_file_kind_of(test_data_path("input.npy"), NULL), RAMS_ERR_INVALID_ARGUMENT);
    assert_string_equal(rams_file_kind_name(RAMS_FILE_JPEG), "jpeg");
    assert_string_equal(rams_file_kind_name(RAMS_FILE_PNG), "png");
    assert_string_equal(rams_file_kind_name(RAMS_FILE_NPY), "npy");
    assert_string_equal(rams_file_kind_name(RAMS_FILE_WEBP), "webp");
    assert_string_equal(rams_file_kind_name(RAMS_FILE_UNKNOWN), "unknown");
    assert_string_equal(rams_file_kind_name((rams_file_kind)42), "unknown");
}

static void test_save_npy(void **state)
{
    (void)state;
    char path[] = "/tmp/rams_save_npy_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    float x[2 * 3 * 1 * 1 * 1 * 1 * 1 * 2];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = (float)i * 0.5f - 1.0f;
    assert_int_equal(rams_save_npy(path, x, 3, (const int[]){2, 3, 2}), RAMS_OK);
    uint8_t *data;
    size_t size;
    assert_int_equal(rams_read_file(path, 0, &data, &size), RAMS_OK);
    rams_npy t;
    assert_int_equal(rams_npy_decode(data, size, path, 0, &t), RAMS_OK);
    assert_int_equal(t.ndim, 3);
    assert_int_equal(t.shape[0], 2);
    assert_int_equal(t.shape[1], 3);
    assert_int_equal(t.shape[2], 2);
    assert_memory_equal(t.data, x, sizeof x);
    rams_npy_free(&t);
    free(data);
    /* Eight dimensions are written (this library reads four). */
    assert_int_equal(rams_save_npy(path, x, 8, (const int[]){2, 3, 1, 1, 1, 1, 1, 2}), RAMS_OK);
    assert_int_equal(rams_read_file(path, 0, &data, &size), RAMS_OK);
    assert_non_null(memmem(data, size, "(2, 3, 1, 1, 1, 1, 1, 2)", 24));
    assert_int_equal(size % 64, sizeof x % 64);
    free(data);
    assert_int_equal(rams_save_npy(path, x, 0, (const int[]){1}), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_save_npy(path, x, 9, (const int[]){1, 1, 1, 1, 1, 1, 1, 1, 1}),
                     RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_save_npy(path, x, 1, (const int[]){-1}), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_save_npy(path, NULL, 1, (const int[]){1}), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_save_npy("/nonexistent-dir/x.npy", x, 1, (const int[]){1}), RAMS_ERR_IO);
    unlink(path);
}

static void test_gemm_rate(void **state)
{
    (void)state;
    double rate = 0;
    assert_int_equal(rams_measure_gemm_gflops(model, 1, 0.02, &rate), RAMS_OK);
    assert_true(rate > 0 && isfinite(rate));
    assert_int_equal(rams_measure_gemm_gflops(model, 2, 0.02, &rate), RAMS_OK);
    assert_true(rate > 0);
    assert_int_equal(rams_measure_gemm_gflops(model, 1, 0, &rate), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_measure_gemm_gflops(model, -1, 0.02, &rate), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_measure_gemm_gflops(NULL, 1, 0.02, &rate), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_measure_gemm_gflops(model, 1, 0.02, NULL), RAMS_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_params_record_the_sizes),
        cmocka_unit_test(test_params_without_a_size_are_refused),
        cmocka_unit_test(test_result_written_within_result_size),
        cmocka_unit_test(test_per_scale_probabilities),
        cmocka_unit_test(test_image_and_input_on_request),
        cmocka_unit_test(test_file_kinds),
        cmocka_unit_test(test_save_npy),
        cmocka_unit_test(test_gemm_rate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
