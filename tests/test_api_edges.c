/* The edges of the public API (issue 18): a NULL out pointer is a status and a message in every
 * function that has one, never a crash; the model must outlive its contexts, and
 * rams_model_free refuses (and frees nothing) while contexts made from it are alive, counted
 * atomically across threads; max_pixels = 0 is the library default in rams_classify_rgb and
 * rams_classify_file alike.  Run in the ASan+UBSan build by tests/sanitize.sh, where a model freed
 * under its context would be a use-after-free. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define RAMSTRANS_EXPERIMENTAL
#include "file.h"
#include "image.h"
#include "ramstrans.h"
#include "test_util.h"

static rams_model *model;
static rams_context *ctx;

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

/* The status, and one line naming the function and the words. */
static void expect_message(rams_status st, rams_status want, const char *function, const char *words)
{
    const char *msg = rams_last_error();
    if (st != want || !strstr(msg, function) || !strstr(msg, words) || strchr(msg, '\n'))
        fail_msg("got %s \"%s\", expected %s naming %s with \"%s\"", rams_status_name(st), msg,
                 rams_status_name(want), function, words);
}

/* ---- NULL out pointers ----------------------------------------------------------------------- */

static void test_null_out_pointers_are_refused(void **state)
{
    (void)state;
    const rams_status E = RAMS_ERR_INVALID_ARGUMENT;
    rams_model_info info;
    rams_model_get_info(model, &info);
    int S = info.image_size;
    float *chw = calloc(3 * (size_t)S * S, sizeof *chw);
    uint8_t rgb[4 * 4 * 3] = {0};
    double seconds[RAMS_STAGE_COUNT];

    /* The crash: a valid name and no out. */
    expect_message(rams_mode_parse("scale1", NULL), E, "rams_mode_parse", "out is NULL");
    expect_message(rams_mode_parse(NULL, NULL), E, "rams_mode_parse", "out is NULL");
    rams_mode mode = RAMS_MODE_FUSED;
    expect_message(rams_mode_parse(NULL, &mode), E, "mode", "(null)");
    assert_int_equal(mode, RAMS_MODE_FUSED);
    assert_int_equal(rams_mode_parse("scale2", &mode), RAMS_OK);
    assert_int_equal(mode, RAMS_MODE_SCALE2);
    assert_string_equal(rams_last_error(), "");

    expect_message(rams_model_load(test_data_path("tiny_f32.safetensors"), NULL, NULL), E, "rams_model_load",
                   "out is NULL");
    expect_message(rams_model_get_info(model, NULL), E, "rams_model_get_info", "out is NULL");
    expect_message(rams_model_get_info(NULL, &info), E, "rams_model_get_info", "model is NULL");
    expect_message(rams_context_create(model, NULL, NULL), E, "rams_context_create", "out is NULL");
    rams_context *c = (rams_context *)0x1;
    expect_message(rams_context_create(NULL, NULL, &c), E, "rams_context_create", "model is NULL");
    expect_message(rams_classify_tensor(ctx, chw, 3, S, S, NULL, NULL), E, "rams_classify_tensor",
                   "out is NULL");
    expect_message(rams_classify_file(ctx, test_data_path("input.npy"), NULL, NULL), E, "rams_classify_file",
                   "out is NULL");
    expect_message(rams_classify_rgb(ctx, rgb, 4, 4, 12, NULL, NULL), E, "rams_classify_rgb", "out is NULL");
    expect_message(rams_context_stage_seconds(ctx, NULL), E, "rams_context_stage_seconds", "seconds is NULL");

    /* The other pointers, each named. */
    rams_result r;
    expect_message(rams_classify_tensor(NULL, chw, 3, S, S, NULL, &r), E, "rams_classify_tensor",
                   "ctx is NULL");
    expect_message(rams_classify_tensor(ctx, NULL, 3, S, S, NULL, &r), E, "rams_classify_tensor",
                   "chw is NULL");
    expect_message(rams_classify_file(NULL, "x.npy", NULL, &r), E, "rams_classify_file", "ctx is NULL");
    expect_message(rams_classify_file(ctx, NULL, NULL, &r), E, "rams_classify_file", "path is NULL");
    expect_message(rams_classify_rgb(NULL, rgb, 4, 4, 12, NULL, &r), E, "rams_classify_rgb", "ctx is NULL");
    expect_message(rams_classify_rgb(ctx, NULL, 4, 4, 12, NULL, &r), E, "rams_classify_rgb", "rgb is NULL");
    expect_message(rams_context_stage_seconds(NULL, seconds), E, "rams_context_stage_seconds", "ctx is NULL");

    /* The context still runs, and the refused creations left no context counted. */
    assert_int_equal(rams_classify_file(ctx, test_data_path("input.npy"), NULL, &r), RAMS_OK);
    assert_int_equal(rams_context_stage_seconds(ctx, seconds), RAMS_OK);
    free(chw);
}

/* ---- the model outlives its contexts --------------------------------------------------------- */

static void test_model_free_with_live_contexts_fails(void **state)
{
    (void)state;
    rams_model *m;
    assert_int_equal(rams_model_load(test_data_path("tiny_f32.safetensors"), NULL, &m), RAMS_OK);
    rams_context_params cp = rams_context_default_params();
    cp.threads = 1;
    rams_context *a, *b;
    assert_int_equal(rams_context_create(m, &cp, &a), RAMS_OK);
    assert_int_equal(rams_context_create(m, &cp, &b), RAMS_OK);

    expect_message(rams_model_free(m), RAMS_ERR_INVALID_ARGUMENT, "rams_model_free", "2 contexts");
    assert_non_null(strstr(rams_last_error(), "not freed"));
    /* Nothing was freed: the contexts still run (under ASan a freed model would be caught here). */
    rams_result r;
    assert_int_equal(rams_classify_file(a, test_data_path("input.npy"), NULL, &r), RAMS_OK);
    assert_non_null(r.top[0].label);
    rams_model_info info;
    assert_int_equal(rams_model_get_info(m, &info), RAMS_OK);

    rams_context_free(a);
    expect_message(rams_model_free(m), RAMS_ERR_INVALID_ARGUMENT, "rams_model_free", "1 context ");
    assert_int_equal(rams_classify_file(b, test_data_path("input.npy"), NULL, &r), RAMS_OK);

    /* A refused creation (bad thread count, NULL out) is not a live context. */
    rams_context *c = NULL;
    cp.threads = -1;
    assert_int_equal(rams_context_create(m, &cp, &c), RAMS_ERR_INVALID_ARGUMENT);
    assert_null(c);
    assert_int_equal(rams_context_create(m, NULL, NULL), RAMS_ERR_INVALID_ARGUMENT);

    rams_context_free(b);
    rams_context_free(NULL);
    assert_int_equal(rams_model_free(m), RAMS_OK);
    assert_string_equal(rams_last_error(), "");
    assert_int_equal(rams_model_free(NULL), RAMS_OK);
}

/* Contexts made and freed from several threads at once: the count must end at exactly zero (a
 * non-atomic count loses updates, and the model would then refuse to be freed, or free early). */
#define COUNT_THREADS 8
#define COUNT_ROUNDS  25

typedef struct {
    rams_model *model;
    pthread_barrier_t *start;
    int failures;
} count_arg;

static void *create_and_free(void *p)
{
    count_arg *arg = p;
    rams_context_params cp = rams_context_default_params();
    cp.threads = 1;
    pthread_barrier_wait(arg->start);
    for (int i = 0; i < COUNT_ROUNDS; i++) {
        rams_context *c1, *c2;
        if (rams_context_create(arg->model, &cp, &c1) != RAMS_OK) {
            arg->failures++;
            continue;
        }
        if (rams_context_create(arg->model, &cp, &c2) != RAMS_OK) arg->failures++, c2 = NULL;
        rams_context_free(c1);
        rams_context_free(c2);
    }
    return NULL;
}

static void test_context_count_is_atomic(void **state)
{
    (void)state;
    rams_model *m;
    assert_int_equal(rams_model_load(test_data_path("tiny_f32.safetensors"), NULL, &m), RAMS_OK);
    rams_context_params cp = rams_context_default_params();
    cp.threads = 1;
    rams_context *held;
    assert_int_equal(rams_context_create(m, &cp, &held), RAMS_OK);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, COUNT_THREADS);
    pthread_t threads[COUNT_THREADS];
    count_arg args[COUNT_THREADS];
    for (int t = 0; t < COUNT_THREADS; t++) {
        args[t] = (count_arg){m, &start, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, create_and_free, &args[t]), 0);
    }
    for (int t = 0; t < COUNT_THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    pthread_barrier_destroy(&start);
    /* Exactly the one held context is left. */
    expect_message(rams_model_free(m), RAMS_ERR_INVALID_ARGUMENT, "rams_model_free", "1 context ");
    rams_context_free(held);
    assert_int_equal(rams_model_free(m), RAMS_OK);
}

/* ---- max_pixels = 0 ---------------------------------------------------------------------------- */

/* One photo through both calls: the same status, and on success the same probabilities. */
static void classify_both(const rams_image *img, const char *path, size_t max_pixels, rams_status want)
{
    rams_run_params rp = rams_run_default_params();
    rp.max_pixels = max_pixels;
    rams_result r;
    int C = 0;
    float probs[64];
    rams_status st =
        rams_classify_rgb(ctx, img->rgb, img->width, img->height, (size_t)img->width * 3, &rp, &r);
    if (st != want)
        fail_msg("classify_rgb, max_pixels %zu: %s \"%s\"", max_pixels, rams_status_name(st),
                 rams_last_error());
    if (st == RAMS_OK) {
        C = r.num_classes;
        assert_true(C <= 64);
        memcpy(probs, r.probs, (size_t)C * sizeof(float));
    }
    st = rams_classify_file(ctx, path, &rp, &r);
    if (st != want)
        fail_msg("classify_file, max_pixels %zu: %s \"%s\"", max_pixels, rams_status_name(st),
                 rams_last_error());
    if (st == RAMS_OK) assert_memory_equal(probs, r.probs, (size_t)C * sizeof(float));
}

static void test_max_pixels_zero_is_the_default_everywhere(void **state)
{
    (void)state;
    const char *path = test_data_path("images/png_adam7_rgb.png");
    uint8_t *data;
    size_t size;
    assert_int_equal(rams_read_file(path, 1 << 20, &data, &size), RAMS_OK);
    rams_image img;
    assert_int_equal(rams_image_decode(data, size, path, 0, &img), RAMS_OK);
    free(data);
    size_t pixels = (size_t)img.width * img.height;

    /* 0 and the default both accept a small photo in both calls (0 once refused everything in
     * classify_rgb); a non-zero limit means the same in both too. */
    assert_int_equal(rams_run_default_params().max_pixels, 100000000);
    classify_both(&img, path, 0, RAMS_OK);
    classify_both(&img, path, rams_run_default_params().max_pixels, RAMS_OK);
    classify_both(&img, path, pixels, RAMS_OK);
    classify_both(&img, path, pixels - 1, RAMS_ERR_LIMIT);
    rams_image_free(&img);

    /* Above the default: refused by both with 0, naming the default limit.  (classify_rgb must
     * refuse before it reads a pixel: the buffer is far smaller than the size claimed.) */
    rams_run_params rp = rams_run_default_params();
    rp.max_pixels = 0;
    rams_result r;
    const char *huge = test_data_path("images/bad_png_huge.png"); /* claims 200000 x 200000 */
    rams_status st = rams_classify_file(ctx, huge, &rp, &r);
    assert_int_equal(st, RAMS_ERR_LIMIT);
    assert_non_null(strstr(rams_last_error(), "100000000"));
    uint8_t tiny[3] = {0};
    st = rams_classify_rgb(ctx, tiny, 10001, 10000, 3 * 10001, &rp, &r);
    assert_int_equal(st, RAMS_ERR_LIMIT);
    assert_non_null(strstr(rams_last_error(), "100000000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_out_pointers_are_refused),
        cmocka_unit_test(test_model_free_with_live_contexts_fails),
        cmocka_unit_test(test_context_count_is_atomic),
        cmocka_unit_test(test_max_pixels_zero_is_the_default_everywhere),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
