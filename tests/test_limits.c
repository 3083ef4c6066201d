/* Hard limits, arithmetic and malformed inputs not covered by test_model_file.c / test_image.c /
 * test_npy.c: non-finite weights and inputs, an architecture whose working memory is absurd,
 * shape products that wrap, metadata of the wrong type, a deeply nested header, FIFOs,
 * and error messages through rams_classify_file.  Each case names the rule it tests; every
 * refusal must carry the right status and a one-line message naming the file.  Run in the
 * ASan+UBSan build by tests/sanitize.sh, where a case that reaches undefined behaviour fails. */
#include <cjson/cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "file.h"
#include "npy.h"
#include "ramstrans.h"
#include "test_util.h"

static uint8_t *valid_bytes;
static size_t valid_size;
static char tmp_model[256], tmp_input[256], tmp_dir[256];

static int setup(void **state)
{
    (void)state;
    if (rams_read_file(test_data_path("tiny_f32.safetensors"), 1 << 30, &valid_bytes, &valid_size) != RAMS_OK)
        return -1;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/rams_test_limits_%d", (int)getpid());
    if (mkdir(tmp_dir, 0700) != 0) return -1;
    snprintf(tmp_model, sizeof tmp_model, "%s/model.safetensors", tmp_dir);
    snprintf(tmp_input, sizeof tmp_input, "%s/input.npy", tmp_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(valid_bytes);
    unlink(tmp_model);
    unlink(tmp_input);
    rmdir(tmp_dir);
    return 0;
}

static size_t header_length(void)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | valid_bytes[i];
    return (size_t)n;
}

static cJSON *valid_header(void)
{
    cJSON *h = cJSON_ParseWithLength((const char *)valid_bytes + 8, header_length());
    assert_non_null(h);
    return h;
}

/* Writes tmp_model: header h (consumed), then the valid data section, optionally with one f32 of
 * tensor `poison` (its element `index`) replaced by `value`. */
static void write_model(cJSON *h, const char *poison, size_t index, float value)
{
    size_t data_off = 8 + header_length(), data_size = valid_size - data_off;
    uint8_t *data = malloc(data_size);
    memcpy(data, valid_bytes + data_off, data_size);
    if (poison) {
        cJSON *t = cJSON_GetObjectItemCaseSensitive(h, poison);
        assert_non_null(t);
        size_t begin =
            (size_t)cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "data_offsets"), 0)->valuedouble;
        memcpy(data + begin + 4 * index, &value, 4);
    }
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    uint8_t *buf = malloc(8 + padded + data_size);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, text, n);
    memset(buf + 8 + n, ' ', padded - n);
    memcpy(buf + 8 + padded, data, data_size);
    test_write_file(tmp_model, buf, 8 + padded + data_size);
    free(buf), free(text), free(data);
}

static cJSON *metadata(cJSON *h) { return cJSON_GetObjectItemCaseSensitive(h, "__metadata__"); }

/* The metadata key's JSON, edited by `edit` (a JSON object field set to a raw JSON value). */
static void set_metadata_field(cJSON *h, const char *key, const char *field, const char *raw)
{
    cJSON *c = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(metadata(h), key)->valuestring);
    assert_non_null(c);
    cJSON_DeleteItemFromObjectCaseSensitive(c, field);
    cJSON_AddItemToObject(c, field, cJSON_CreateRaw(raw));
    char *text = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    cJSON_ReplaceItemInObjectCaseSensitive(metadata(h), key, cJSON_CreateString(text));
    free(text);
}

static void expect_message(rams_status st, rams_status want, const char *name, const char *words)
{
    const char *msg = rams_last_error();
    if (st != want || !strstr(msg, name) || !strstr(msg, words) || strchr(msg, '\n'))
        fail_msg("got %s \"%s\", expected %s naming %s with \"%s\"", rams_status_name(st), msg,
                 rams_status_name(want), name, words);
}

static void expect_model_refusal(rams_status want, const char *words)
{
    rams_model *m = (rams_model *)0x1;
    rams_status st = rams_model_load(tmp_model, NULL, &m);
    expect_message(st, want, tmp_model, words);
    assert_null(m);
}

/* ---- non-finite weights ------------------------------------------------------------------ */

static void test_nan_in_a_bias_is_refused_at_load(void **state)
{
    (void)state;
    write_model(valid_header(), "transformer.encoder.layer.1.attn.key.bias", 3, NAN);
    expect_model_refusal(RAMS_ERR_FORMAT,
                         "transformer.encoder.layer.1.attn.key.bias holds a non-finite value");
}

static void test_inf_in_position_embeddings_is_refused_at_load(void **state)
{
    (void)state;
    write_model(valid_header(), "transformer.embeddings.position_embeddings", 100, -INFINITY);
    expect_model_refusal(RAMS_ERR_FORMAT, "non-finite");
}

static void test_nan_in_layernorm_is_refused_at_load(void **state)
{
    (void)state;
    write_model(valid_header(), "transformer.encoder.part_norm.weight", 0, NAN);
    expect_model_refusal(RAMS_ERR_FORMAT, "part_norm.weight");
}

/* A weight matrix is not scanned at load (that would read the whole file): the run refuses the
 * non-finite logits instead.  Also the regression test of the fuzz finding where the NaN
 * reached a float-to-int conversion in the vectorised exp (undefined behaviour). */
static void test_nan_in_a_weight_matrix_is_refused_at_run_time(void **state)
{
    (void)state;
    write_model(valid_header(), "transformer.encoder.layer.0.attn.value.weight", 5, NAN);
    rams_model *m;
    assert_int_equal(rams_model_load(tmp_model, NULL, &m), RAMS_OK);
    rams_context_params cp = rams_context_default_params();
    cp.threads = 1;
    rams_context *ctx;
    assert_int_equal(rams_context_create(m, &cp, &ctx), RAMS_OK);
    for (int mode = RAMS_MODE_SCALE1; mode <= RAMS_MODE_FUSED; mode++) {
        rams_run_params rp = rams_run_default_params();
        rp.mode = (rams_mode)mode;
        rams_result r;
        rams_status st = rams_classify_file(ctx, test_data_path("input.npy"), &rp, &r);
        expect_message(st, RAMS_ERR_FORMAT, "input.npy", "non-finite scale-1 logits");
    }
    rams_context_free(ctx);
    rams_model_free(m);
}

/* ---- architecture and arithmetic --------------------------------------------------------- */

/* Every field inside its own bound, but 256 layers of 16386 x 16386 attention maps would be
 * 275 GB: refused before any tensor is looked at or any context allocated. */
static void test_absurd_working_memory_is_refused(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    set_metadata_field(h, "ramstrans.config", "image_size", "2048");
    set_metadata_field(h, "ramstrans.config", "patch_size", "16");
    set_metadata_field(h, "ramstrans.config", "num_layers", "256");
    write_model(h, NULL, 0, 0);
    expect_model_refusal(RAMS_ERR_LIMIT, "working memory");
}

/* [2^31, 2^31] f32 is 2^64 bytes: the byte count must not wrap to the 0 bytes given. */
static void test_shape_whose_byte_count_wraps_is_refused(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "dtype", "F32");
    cJSON_AddItemToObject(t, "shape", cJSON_CreateRaw("[2147483648,2147483648]"));
    cJSON_AddItemToObject(t, "data_offsets", cJSON_CreateRaw("[0,0]"));
    cJSON_AddItemToObject(h, "extra.huge", t);
    write_model(h, NULL, 0, 0);
    expect_model_refusal(RAMS_ERR_LIMIT, "overflows");
}

/* ---- metadata of the wrong type or absurd values ----------------------------------------- */

static void test_metadata_wrong_types(void **state)
{
    (void)state;
    static const struct {
        const char *name, *key, *field, *raw;
        rams_status want;
        const char *words;
    } cases[] = {
        {"config field a string", "ramstrans.config", "hidden_size", "\"32\"", RAMS_ERR_FORMAT,
         "hidden_size"},
        {"config field an array", "ramstrans.config", "num_layers", "[3]", RAMS_ERR_FORMAT, "num_layers"},
        {"config field null", "ramstrans.config", "num_classes", "null", RAMS_ERR_FORMAT, "num_classes"},
        {"ln_eps zero", "ramstrans.config", "ln_eps", "0", RAMS_ERR_LIMIT, "ln_eps"},
        {"alpha huge", "ramstrans.config", "alpha", "1e300", RAMS_ERR_LIMIT, "alpha"},
        {"num_classes 10^12", "ramstrans.config", "num_classes", "1e12", RAMS_ERR_LIMIT, "num_classes"},
        {"mlp_size 10^9", "ramstrans.config", "mlp_size", "1000000000", RAMS_ERR_LIMIT, "mlp_size"},
        {"default_mode unknown", "ramstrans.config", "default_mode", "\"best\"", RAMS_ERR_FORMAT,
         "default_mode"},
        {"default_mode a number", "ramstrans.config", "default_mode", "2", RAMS_ERR_FORMAT, "default_mode"},
        {"std zero", "ramstrans.preprocess", "std", "[0.2,0,0.2]", RAMS_ERR_FORMAT, "std"},
        {"mean of 2", "ramstrans.preprocess", "mean", "[0.5,0.5]", RAMS_ERR_FORMAT, "mean"},
        {"mean strings", "ramstrans.preprocess", "mean", "[\"a\",\"b\",\"c\"]", RAMS_ERR_FORMAT, "mean"},
        {"mean beyond float", "ramstrans.preprocess", "mean", "[0.5,1e300,0.5]", RAMS_ERR_FORMAT, "mean[1]"},
        {"std 0 as a float", "ramstrans.preprocess", "std", "[0.2,0.2,1e-300]", RAMS_ERR_FORMAT, "std[2]"},
        {"resize unknown mode", "ramstrans.preprocess", "resize", "{\"mode\":\"zoom\"}", RAMS_ERR_UNSUPPORTED,
         "zoom"},
        {"resize width huge", "ramstrans.preprocess", "resize",
         "{\"mode\":\"fixed\",\"width\":1e9,\"height\":10}", RAMS_ERR_LIMIT, "width"},
        {"resize not an object", "ramstrans.preprocess", "resize", "7", RAMS_ERR_FORMAT, "resize.mode"},
        {"crop negative", "ramstrans.preprocess", "crop", "{\"width\":-64,\"height\":64}", RAMS_ERR_LIMIT,
         "crop"},
        {"interpolation bicubic", "ramstrans.preprocess", "interpolation", "\"bicubic\"",
         RAMS_ERR_UNSUPPORTED, "interpolation"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("case: %s\n", cases[i].name);
        cJSON *h = valid_header();
        set_metadata_field(h, cases[i].key, cases[i].field, cases[i].raw);
        write_model(h, NULL, 0, 0);
        expect_model_refusal(cases[i].want, cases[i].words);
    }
}

static void test_metadata_values_not_strings(void **state)
{
    (void)state;
    static const struct {
        const char *name, *key, *raw, *words;
    } cases[] = {
        {"config an object, not a string", "ramstrans.config", "{\"image_size\":64}", "not a string"},
        {"config a JSON array string", "ramstrans.config", "\"[1,2]\"", "not an object"},
        {"config not JSON", "ramstrans.config", "\"{image_size:\"", "not valid JSON"},
        {"labels numbers", "ramstrans.labels", "\"[0,1,2,3,4,5,6,7,8,9]\"", "label 0"},
        {"labels an object", "ramstrans.labels", "\"{}\"", "labels"},
        {"preprocess null", "ramstrans.preprocess", "null", "not a string"},
        {"format version a number", "ramstrans.format_version", "1", "format_version"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("case: %s\n", cases[i].name);
        cJSON *h = valid_header();
        cJSON_ReplaceItemInObjectCaseSensitive(metadata(h), cases[i].key, cJSON_CreateRaw(cases[i].raw));
        write_model(h, NULL, 0, 0);
        expect_model_refusal(RAMS_ERR_FORMAT, cases[i].words);
    }
}

/* A header of 100 000 nested arrays: a recursive parser without a depth limit would overflow
 * the stack; cJSON stops at 1000 levels. */
static void test_deeply_nested_header(void **state)
{
    (void)state;
    size_t depth = 100000, n = 2 * depth;
    uint8_t *buf = malloc(8 + n);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memset(buf + 8, '[', depth);
    memset(buf + 8 + depth, ']', depth);
    test_write_file(tmp_model, buf, 8 + n);
    free(buf);
    expect_model_refusal(RAMS_ERR_FORMAT, "not a JSON object");
}

/* Opening a FIFO blocks until a writer comes: the loader and the input reader must refuse it. */
static void test_fifo_is_refused_not_waited_for(void **state)
{
    (void)state;
    char fifo[300];
    snprintf(fifo, sizeof fifo, "%s/fifo", tmp_dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    rams_model *m = NULL;
    expect_message(rams_model_load(fifo, NULL, &m), RAMS_ERR_IO, fifo, "not a regular file");
    uint8_t *data;
    size_t size;
    expect_message(rams_read_file(fifo, 1 << 20, &data, &size), RAMS_ERR_IO, fifo, "not a regular file");
    unlink(fifo);
}

/* ---- inputs through rams_classify_file -------------------------------------------------- */

static rams_model *tiny;
static rams_context *tiny_ctx;

static int setup_tiny(void **state)
{
    (void)state;
    return test_open_tiny(&tiny, &tiny_ctx);
}

static int teardown_tiny(void **state)
{
    (void)state;
    return test_close_model(tiny, tiny_ctx);
}

static void write_npy(const float *x, int ndim, const int64_t *shape)
{
    assert_int_equal(rams_npy_write(tmp_input, x, ndim, shape), RAMS_OK);
}

static void expect_input_refusal(const char *path, rams_status want, const char *words)
{
    rams_result r;
    rams_status st = rams_classify_file(tiny_ctx, path, NULL, &r);
    expect_message(st, want, path, words);
}

static void test_input_with_nan_is_refused(void **state)
{
    (void)state;
    size_t n = 3 * 64 * 64;
    float *x = calloc(n, sizeof *x);
    x[n / 2] = NAN;
    write_npy(x, 3, (const int64_t[]){3, 64, 64});
    expect_input_refusal(tmp_input, RAMS_ERR_FORMAT, "non-finite");
    x[n / 2] = INFINITY;
    write_npy(x, 4, (const int64_t[]){1, 3, 64, 64});
    expect_input_refusal(tmp_input, RAMS_ERR_FORMAT, "non-finite");
    free(x);
}

static void test_input_of_wrong_shape_is_refused(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[4];
    } cases[] = {
        {"64x64x3 (channels last)", 3, {64, 64, 3}},
        {"2x3x64x64 (a batch)", 4, {2, 3, 64, 64}},
        {"3x32x32 (smaller)", 3, {3, 32, 32}},
        {"one dimension", 1, {12288}},
        {"scalar", 0, {0}},
    };
    float *x = calloc(2 * 3 * 64 * 64, sizeof *x);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("case: %s\n", cases[i].name);
        write_npy(x, cases[i].ndim, cases[i].shape);
        rams_result r;
        rams_status st = rams_classify_file(tiny_ctx, tmp_input, NULL, &r);
        assert_true(st == RAMS_ERR_SHAPE || st == RAMS_ERR_LIMIT);
        expect_message(st, st, tmp_input, "");
    }
    free(x);
}

static void test_bad_input_files(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *bytes;
        size_t size;
        rams_status want;
        const char *words;
    } cases[] = {
        {"empty", "", 0, RAMS_ERR_FORMAT, "not a JPEG, PNG, WebP or .npy"},
        {"text", "hello\n", 6, RAMS_ERR_FORMAT, "not a JPEG, PNG, WebP or .npy"},
        {"JPEG magic only", "\xff\xd8\xff", 3, RAMS_ERR_FORMAT, "JPEG"},
        {"PNG signature only", "\x89PNG\r\n\x1a\n", 8, RAMS_ERR_FORMAT, "PNG"},
        {"npy magic only", "\x93NUMPY", 6, RAMS_ERR_FORMAT, ".npy"},
        {"npy header longer than file", "\x93NUMPY\x01\x00\xff\x7f{", 11, RAMS_ERR_FORMAT, "header"},
        {"npy version 9", "\x93NUMPY\x09\x00\x00\x00", 10, RAMS_ERR_UNSUPPORTED, "version"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("case: %s\n", cases[i].name);
        test_write_file(tmp_input, cases[i].bytes, cases[i].size);
        expect_input_refusal(tmp_input, cases[i].want, cases[i].words);
    }
    expect_input_refusal(tmp_dir, RAMS_ERR_IO, "directory");
    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing.png", tmp_dir);
    expect_input_refusal(missing, RAMS_ERR_IO, "cannot open");
}

/* A preprocessing failure is reported as "<name>: <cause>": the library prefixes the name to the
 * message it is building from (regression: that once formatted into the buffer it read). */
static void test_preprocess_failure_message_is_one_clean_line(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    set_metadata_field(h, "ramstrans.preprocess", "resize", "{\"mode\":\"shorter\",\"size\":16384}");
    write_model(h, NULL, 0, 0);
    rams_model *m;
    assert_int_equal(rams_model_load(tmp_model, NULL, &m), RAMS_OK);
    rams_context_params cp = rams_context_default_params();
    cp.threads = 1;
    rams_context *ctx;
    assert_int_equal(rams_context_create(m, &cp, &ctx), RAMS_OK);
    int w = 1, hgt = 1 << 17; /* 1 x 131072: the long side would become 2^31 */
    uint8_t *rgb = calloc((size_t)w * hgt * 3, 1);
    rams_result r;
    rams_status st = rams_classify_rgb(ctx, rgb, w, hgt, 3, NULL, &r);
    assert_int_equal(st, RAMS_ERR_LIMIT);
    const char *msg = rams_last_error();
    if (strncmp(msg, "image: preprocess: resizing 1x131072", 36) != 0) fail_msg("message: \"%s\"", msg);
    free(rgb);
    rams_context_free(ctx);
    rams_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nan_in_a_bias_is_refused_at_load),
        cmocka_unit_test(test_inf_in_position_embeddings_is_refused_at_load),
        cmocka_unit_test(test_nan_in_layernorm_is_refused_at_load),
        cmocka_unit_test(test_nan_in_a_weight_matrix_is_refused_at_run_time),
        cmocka_unit_test(test_absurd_working_memory_is_refused),
        cmocka_unit_test(test_shape_whose_byte_count_wraps_is_refused),
        cmocka_unit_test(test_metadata_wrong_types),
        cmocka_unit_test(test_metadata_values_not_strings),
        cmocka_unit_test(test_deeply_nested_header),
        cmocka_unit_test(test_fifo_is_refused_not_waited_for),
        cmocka_unit_test_setup_teardown(test_input_with_nan_is_refused, setup_tiny, teardown_tiny),
        cmocka_unit_test_setup_teardown(test_input_of_wrong_shape_is_refused, setup_tiny, teardown_tiny),
        cmocka_unit_test_setup_teardown(test_bad_input_files, setup_tiny, teardown_tiny),
        cmocka_unit_test(test_preprocess_failure_message_is_one_clean_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
