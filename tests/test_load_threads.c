/* rams_model_params.threads: the weight matrices of a bf16 or int8 model are packed at load on that
 * many threads, and the packed bytes (and where each matrix lies in them) are the same on 1, 2, 3
 * and the online CPUs' threads: the default model from its f32 file in bf16 and int8, and from its
 * q8 file in int8.  threads outside 0..256 is refused with a message; an older caller's params
 * without the field load with the default; an f32 model packs nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model.h"
#include "test_util.h"

static rams_model *load(const char *path, rams_precision precision, int threads)
{
    rams_model_params mp = rams_model_default_params();
    mp.precision = precision;
    mp.threads = threads;
    rams_model *m = NULL;
    if (rams_model_load(path, &mp, &m) != RAMS_OK) fail_msg("%s", rams_last_error());
    return m;
}

/* Where each matrix lies in m->packed (its offset), in binding order. */
static size_t matrix_offsets(const rams_model *m, ptrdiff_t *out)
{
    size_t n = 0;
    const char *base = m->packed;
    for (int i = 0; i < m->cfg.layers; i++) {
        const rams_layer_weights *l = &m->w.layer[i];
        const rams_matrix *mats[] = {&l->q_w, &l->k_w, &l->v_w, &l->out_w, &l->fc1_w, &l->fc2_w};
        for (size_t k = 0; k < sizeof mats / sizeof mats[0]; k++)
            out[n++] = (const char *)mats[k]->packed - base;
    }
    out[n++] = (const char *)m->w.head_w.packed - base;
    if (m->w.patch_w.packed) out[n++] = (const char *)m->w.patch_w.packed - base; /* bf16 only */
    return n;
}

static void check_same_packing(const char *path, rams_precision precision)
{
    rams_model *one = load(path, precision, 1);
    assert_non_null(one->packed);
    assert_true(one->packed_bytes > 0);
    /* int8 keeps the patch embedding in f32, bf16 packs it too */
    assert_true((one->w.patch_w.packed != NULL) == (precision == RAMS_PRECISION_BF16));
    ptrdiff_t want[RAMS_MAX_LAYERS * 6 + 2], got[RAMS_MAX_LAYERS * 6 + 2];
    size_t n = matrix_offsets(one, want);
    assert_true(n == (size_t)one->cfg.layers * 6 + 1 + (precision == RAMS_PRECISION_BF16));
    const int counts[] = {2, 3, 0, 256};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        rams_model *m = load(path, precision, counts[c]);
        assert_string_equal(m->gemm->name, one->gemm->name);
        assert_int_equal(m->packed_bytes, one->packed_bytes);
        if (memcmp(m->packed, one->packed, one->packed_bytes) != 0)
            fail_msg("%s in %s: the packed weights on %d threads differ from those on 1", path,
                     rams_precision_name(precision), counts[c]);
        assert_int_equal(matrix_offsets(m, got), n);
        assert_memory_equal(got, want, n * sizeof *want);
        assert_int_equal(rams_model_free(m), RAMS_OK);
    }
    assert_int_equal(rams_model_free(one), RAMS_OK);
}

static void test_bf16(void **state)
{
    (void)state;
    check_same_packing(test_default_model_path(), RAMS_PRECISION_BF16);
}

static void test_int8(void **state)
{
    (void)state;
    check_same_packing(test_default_model_path(), RAMS_PRECISION_INT8);
}

static void test_int8_q8_file(void **state)
{
    (void)state;
    char q8[256];
    snprintf(q8, sizeof q8, "/tmp/test_load_threads_%ld.safetensors", (long)getpid());
    if (rams_quantize_model_file(test_default_model_path(), q8) != RAMS_OK) fail_msg("%s", rams_last_error());
    check_same_packing(q8, RAMS_PRECISION_INT8);
    unlink(q8);
}

static void test_params(void **state)
{
    (void)state;
    rams_model_params mp = rams_model_default_params();
    assert_int_equal(mp.threads, 0);
    const int bad[] = {-1, 257, -1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rams_model *m = (rams_model *)1;
        mp.threads = bad[i];
        mp.precision = RAMS_PRECISION_BF16;
        assert_int_equal(rams_model_load(test_default_model_path(), &mp, &m), RAMS_ERR_INVALID_ARGUMENT);
        assert_null(m);
        char want[64];
        snprintf(want, sizeof want, "threads = %d is outside 0..256", bad[i]);
        if (!strstr(rams_last_error(), want)) fail_msg("message: %s", rams_last_error());
    }

    /* An older caller's params (the layout before `threads`): the field is never read. */
    rams_model_params old;
    rams_model_params_init(&old, offsetof(rams_model_params, threads));
    assert_int_equal(old.size, offsetof(rams_model_params, threads));
    old.precision = RAMS_PRECISION_INT8;
    old.threads = -1; /* beyond its size */
    rams_model *m = NULL;
    assert_int_equal(rams_model_load(test_default_model_path(), &old, &m), RAMS_OK);
    assert_non_null(m->packed);
    assert_int_equal(rams_model_free(m), RAMS_OK);

    /* f32: nothing packed, whatever the threads. */
    m = load(test_default_model_path(), RAMS_PRECISION_F32, 4);
    assert_null(m->packed);
    assert_int_equal(m->packed_bytes, 0);
    assert_int_equal(rams_model_free(m), RAMS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_int8_q8_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
