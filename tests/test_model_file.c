/* The model file loader refuses every malformed file with the right status and a message naming
 * the file and the problem.  Each bad file is made here from the valid tiny golden model by one
 * edit of its JSON header (or its bytes), so each case tests exactly one rule. */
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "file.h"
#include "model.h"
#include "ramstrans.h"
#include "test_util.h"

static uint8_t *valid_bytes;
static size_t valid_size;
static char tmp_path[256];

static int setup(void **state)
{
    (void)state;
    if (rams_read_file(test_data_path("tiny_f32.safetensors"), 1 << 30, &valid_bytes, &valid_size) != RAMS_OK)
        return -1;
    snprintf(tmp_path, sizeof tmp_path, "/tmp/rams_test_model_%d.safetensors", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(valid_bytes);
    unlink(tmp_path);
    return 0;
}

static void write_bytes(const void *data, size_t size) { test_write_file(tmp_path, data, size); }

static uint64_t header_length(void)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | valid_bytes[i];
    return n;
}

static cJSON *valid_header(void)
{
    cJSON *h = cJSON_ParseWithLength((const char *)valid_bytes + 8, (size_t)header_length());
    assert_non_null(h);
    return h;
}

/* Writes header h (consumed) followed by the valid file's data section, minus `cut` bytes. */
static void write_with_header(cJSON *h, size_t cut)
{
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    size_t n = strlen(text), data_off = 8 + (size_t)header_length(), data_size = valid_size - data_off - cut;
    size_t padded = (n + 7) / 8 * 8;
    uint8_t *buf = malloc(8 + padded + data_size);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, text, n);
    memset(buf + 8 + n, ' ', padded - n);
    memcpy(buf + 8 + padded, valid_bytes + data_off, data_size);
    write_bytes(buf, 8 + padded + data_size);
    free(buf);
    free(text);
}

/* Sets metadata[key] (a JSON string) to the printed form of value (consumed). */
static void set_metadata_json(cJSON *h, const char *key, cJSON *value)
{
    char *text = cJSON_PrintUnformatted(value);
    cJSON_Delete(value);
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "__metadata__"), key,
                                           cJSON_CreateString(text));
    free(text);
}

static cJSON *metadata_json(cJSON *h, const char *key)
{
    return cJSON_Parse(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "__metadata__"), key)
            ->valuestring);
}

static void set_config_number(cJSON *h, const char *field, double value)
{
    cJSON *c = metadata_json(h, "ramstrans.config");
    cJSON_ReplaceItemInObjectCaseSensitive(c, field, cJSON_CreateNumber(value));
    set_metadata_json(h, "ramstrans.config", c);
}

/* Loads tmp_path, expects `want`, a message naming the file and containing `words`. */
static void expect_refusal(rams_status want, const char *words)
{
    rams_model *m = (rams_model *)0x1;
    rams_status st = rams_model_load(tmp_path, NULL, &m);
    const char *msg = rams_last_error();
    if (st != want || !strstr(msg, tmp_path) || !strstr(msg, words))
        fail_msg("got %s \"%s\", expected %s with \"%s\"", rams_status_name(st), msg, rams_status_name(want),
                 words);
    assert_null(m);
    assert_null(strchr(msg, '\n'));
}

static void test_valid_model_loads_both_ways(void **state)
{
    (void)state;
    for (int use_mmap = 0; use_mmap < 2; use_mmap++) {
        rams_model_params p = rams_model_default_params();
        p.use_mmap = use_mmap;
        rams_model *m;
        assert_int_equal(rams_model_load(test_data_path("tiny_f32.safetensors"), &p, &m), RAMS_OK);
        rams_model_info info;
        assert_int_equal(rams_model_get_info(m, &info), RAMS_OK);
        assert_string_equal(info.dtype, "F32");
        assert_int_equal(info.grid, info.image_size / info.patch_size);
        assert_non_null(rams_model_label(m, info.num_classes - 1));
        assert_null(rams_model_label(m, info.num_classes));
        rams_model_free(m);
    }
}

static void test_missing_file(void **state)
{
    (void)state;
    unlink(tmp_path);
    expect_refusal(RAMS_ERR_IO, "cannot open");
}

static void test_directory(void **state)
{
    (void)state;
    rams_model *m;
    assert_int_equal(rams_model_load("/tmp", NULL, &m), RAMS_ERR_IO);
    assert_non_null(strstr(rams_last_error(), "not a regular file"));
}

static void test_empty_and_tiny_files(void **state)
{
    (void)state;
    write_bytes("", 0);
    expect_refusal(RAMS_ERR_FORMAT, "too short");
    write_bytes(valid_bytes, 5);
    expect_refusal(RAMS_ERR_FORMAT, "too short");
}

static void test_header_longer_than_file(void **state)
{
    (void)state;
    write_bytes(valid_bytes, 8 + (size_t)header_length() / 2);
    expect_refusal(RAMS_ERR_FORMAT, "header claims");
}

static void test_absurd_header_length(void **state)
{
    (void)state;
    uint8_t *b = malloc(valid_size);
    memcpy(b, valid_bytes, valid_size);
    b[7] = 0x10; /* 2^60 + ... bytes */
    write_bytes(b, valid_size);
    free(b);
    expect_refusal(RAMS_ERR_LIMIT, "header of");
}

static void test_header_not_json(void **state)
{
    (void)state;
    uint8_t *b = malloc(valid_size);
    memcpy(b, valid_bytes, valid_size);
    b[8] = '[';
    b[9] = '!';
    write_bytes(b, valid_size);
    free(b);
    expect_refusal(RAMS_ERR_FORMAT, "not a JSON object");
}

static void test_no_metadata(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    cJSON_DeleteItemFromObjectCaseSensitive(h, "__metadata__");
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_FORMAT, "__metadata__");
}

static void test_future_format_version(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "__metadata__"),
                                           "ramstrans.format_version", cJSON_CreateString("3"));
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_UNSUPPORTED, "format version 3");
}

static void test_config_values(void **state)
{
    (void)state;
    struct {
        const char *field;
        double value;
        rams_status want;
        const char *words;
    } cases[] = {
        {"num_layers", 1e12, RAMS_ERR_LIMIT, "num_layers"},
        {"hidden_size", -4, RAMS_ERR_LIMIT, "hidden_size"},
        {"hidden_size", 2.5, RAMS_ERR_FORMAT, "must be an integer"},
        {"num_heads", 3, RAMS_ERR_FORMAT, "not a multiple of num_heads"},
        {"patch_size", 7, RAMS_ERR_FORMAT, "not a multiple of patch_size"},
        {"alpha", -1, RAMS_ERR_LIMIT, "alpha"},
        {"image_size", 1 << 20, RAMS_ERR_LIMIT, "image_size"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *h = valid_header();
        set_config_number(h, cases[i].field, cases[i].value);
        write_with_header(h, 0);
        expect_refusal(cases[i].want, cases[i].words);
    }
    cJSON *h = valid_header();
    cJSON *c = metadata_json(h, "ramstrans.config");
    cJSON_ReplaceItemInObjectCaseSensitive(c, "default_mode", cJSON_CreateString("zoom"));
    set_metadata_json(h, "ramstrans.config", c);
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_FORMAT, "default_mode");
}

/* num_cls_tokens: absent means 2 (RAMS-Trans files); 1 or 2 only; a one-CLS config over RAMS-Trans
 * tensors is refused by the position embeddings' shape (the golden tiny ViT is the valid one-CLS file). */
static void test_cls_tokens(void **state)
{
    (void)state;
    struct {
        double value;
        rams_status want;
        const char *words;
    } cases[] = {
        {3, RAMS_ERR_LIMIT, "num_cls_tokens"},
        {0, RAMS_ERR_LIMIT, "num_cls_tokens"},
        {1.5, RAMS_ERR_FORMAT, "num_cls_tokens"},
        {1, RAMS_ERR_SHAPE, "position_embeddings"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *h = valid_header();
        cJSON *c = metadata_json(h, "ramstrans.config");
        cJSON_AddNumberToObject(c, "num_cls_tokens", cases[i].value);
        set_metadata_json(h, "ramstrans.config", c);
        write_with_header(h, 0);
        expect_refusal(cases[i].want, cases[i].words);
    }
    rams_model *m;
    assert_int_equal(rams_model_load(test_data_path("vit_tiny_f32.safetensors"), NULL, &m), RAMS_OK);
    rams_model_info info;
    assert_int_equal(rams_model_get_info(m, &info), RAMS_OK);
    assert_int_equal(info.num_cls_tokens, 1);
    assert_int_equal(m->cfg.num_tokens, 8 * 8 + 1);
    assert_null(m->w.cls2);
    rams_model_free(m);
    assert_int_equal(rams_model_load(test_data_path("tiny_f32.safetensors"), NULL, &m), RAMS_OK);
    assert_int_equal(rams_model_get_info(m, &info), RAMS_OK);
    assert_int_equal(info.num_cls_tokens, 2);
    /* a caller compiled with a shorter (0.2) rams_model_info gets only those bytes; a longer one
     * gets zeros beyond what this library knows; a shorter-than-0.2 size is refused */
    unsigned char big[sizeof info + 16];
    memset(big, 0xAB, sizeof big);
    assert_int_equal(rams_model_get_info_sized(m, (rams_model_info *)(void *)big, sizeof big), RAMS_OK);
    for (size_t i = sizeof info; i < sizeof big; i++) assert_int_equal(big[i], 0);
    assert_int_equal(rams_model_get_info_sized(m, &info, 8), RAMS_ERR_INVALID_ARGUMENT);
    rams_model_free(m);
}

static void test_labels_count(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    cJSON *labels = metadata_json(h, "ramstrans.labels");
    cJSON_DeleteItemFromArray(labels, 0);
    set_metadata_json(h, "ramstrans.labels", labels);
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_FORMAT, "labels");
}

static void test_preprocess_crop_mismatch(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    cJSON *p = metadata_json(h, "ramstrans.preprocess");
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "crop"), "width",
                                           cJSON_CreateNumber(17));
    set_metadata_json(h, "ramstrans.preprocess", p);
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_SHAPE, "crop");
}

static cJSON *tensor_entry(cJSON *h, const char *name)
{
    cJSON *t = cJSON_GetObjectItemCaseSensitive(h, name);
    assert_non_null(t);
    return t;
}

static void test_unsupported_dtype(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    cJSON_ReplaceItemInObjectCaseSensitive(tensor_entry(h, "part_head.bias"), "dtype",
                                           cJSON_CreateString("I64"));
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_UNSUPPORTED, "part_head.bias");
}

static void test_offsets_outside_data(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    cJSON *offs = cJSON_GetObjectItemCaseSensitive(tensor_entry(h, "part_head.bias"), "data_offsets");
    double end = cJSON_GetArrayItem(offs, 1)->valuedouble;
    cJSON_ReplaceItemInArray(offs, 0, cJSON_CreateNumber(end + 1e9));
    cJSON_ReplaceItemInArray(offs, 1, cJSON_CreateNumber(end + 1e9 + 4));
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_FORMAT, "outside");
}

static void test_truncated_data(void **state)
{
    (void)state;
    write_with_header(valid_header(), 64);
    expect_refusal(RAMS_ERR_FORMAT, "outside");
}

static void test_overlapping_tensors(void **state)
{
    (void)state;
    /* Point part_head.weight at the start of the data section, where part_head.bias lives (the
     * writer stores tensors in name order). */
    cJSON *h = valid_header();
    cJSON *offs = cJSON_GetObjectItemCaseSensitive(tensor_entry(h, "part_head.weight"), "data_offsets");
    double len = cJSON_GetArrayItem(offs, 1)->valuedouble - cJSON_GetArrayItem(offs, 0)->valuedouble;
    cJSON_ReplaceItemInArray(offs, 0, cJSON_CreateNumber(0));
    cJSON_ReplaceItemInArray(offs, 1, cJSON_CreateNumber(len));
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_FORMAT, "overlap");
}

static void test_size_disagrees_with_shape(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(tensor_entry(h, "part_head.bias"), "shape");
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(cJSON_GetArrayItem(shape, 0)->valuedouble + 1));
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_FORMAT, "data bytes for");
}

static void test_shape_disagrees_with_architecture(void **state)
{
    (void)state;
    /* Same byte count, transposed shape: the loader must name the tensor and both shapes. */
    cJSON *h = valid_header();
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(tensor_entry(h, "part_head.weight"), "shape");
    double a = cJSON_GetArrayItem(shape, 0)->valuedouble, b = cJSON_GetArrayItem(shape, 1)->valuedouble;
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(b));
    cJSON_ReplaceItemInArray(shape, 1, cJSON_CreateNumber(a));
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_SHAPE, "part_head.weight has shape");
}

static void test_missing_tensor(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    cJSON_DeleteItemFromObjectCaseSensitive(h, "transformer.encoder.layer.0.ffn.fc2.bias");
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_FORMAT, "transformer.encoder.layer.0.ffn.fc2.bias is missing");
}

static void test_fewer_layers_in_metadata_than_file(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    cJSON *c = metadata_json(h, "ramstrans.config");
    int layers = cJSON_GetObjectItemCaseSensitive(c, "num_layers")->valueint;
    cJSON_Delete(c);
    set_config_number(h, "num_layers", layers - 1);
    write_with_header(h, 0);
    expect_refusal(RAMS_ERR_SHAPE, "num_layers");
}

static void test_dataparallel_prefix_loads(void **state)
{
    (void)state;
    cJSON *h = valid_header();
    for (cJSON *it = h->child; it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) continue;
        char *name = malloc(strlen(it->string) + 8);
        sprintf(name, "module.%s", it->string);
        free(it->string);
        it->string = name;
    }
    write_with_header(h, 0);
    rams_model *m;
    assert_int_equal(rams_model_load(tmp_path, NULL, &m), RAMS_OK);
    rams_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_model_loads_both_ways),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_empty_and_tiny_files),
        cmocka_unit_test(test_header_longer_than_file),
        cmocka_unit_test(test_absurd_header_length),
        cmocka_unit_test(test_header_not_json),
        cmocka_unit_test(test_no_metadata),
        cmocka_unit_test(test_future_format_version),
        cmocka_unit_test(test_cls_tokens),
        cmocka_unit_test(test_config_values),
        cmocka_unit_test(test_labels_count),
        cmocka_unit_test(test_preprocess_crop_mismatch),
        cmocka_unit_test(test_unsupported_dtype),
        cmocka_unit_test(test_offsets_outside_data),
        cmocka_unit_test(test_truncated_data),
        cmocka_unit_test(test_overlapping_tensors),
        cmocka_unit_test(test_size_disagrees_with_shape),
        cmocka_unit_test(test_shape_disagrees_with_architecture),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_fewer_layers_in_metadata_than_file),
        cmocka_unit_test(test_dataparallel_prefix_loads),
    };
    return cmocka_run_group_tests_name("model_file", tests, setup, teardown);
}
