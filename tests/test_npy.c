/* rams_read_file, rams_npy_decode and rams_npy_write against files written by numpy
 * (tools/reference/make_image_golden.py) and hand-made broken headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "file.h"
#include "npy.h"
#include "test_util.h"

/* Reads tests/data/<name> and decodes it into *t: rams_npy_decode's status. */
static rams_status decode(const char *name, rams_npy *t)
{
    uint8_t *data = NULL;
    size_t size = 0;
    assert_int_equal(rams_read_file(test_data_path(name), 1 << 20, &data, &size), RAMS_OK);
    rams_status st = rams_npy_decode(data, size, name, 0, t);
    free(data);
    return st;
}

static rams_npy load_ok(const char *name)
{
    rams_npy t;
    if (decode(name, &t) != RAMS_OK) fail_msg("%s: %s", name, rams_last_error());
    return t;
}

/* The status of a file that must not decode (nothing is returned with it). */
static rams_status load_status(const char *name)
{
    rams_npy t;
    rams_status st = decode(name, &t);
    assert_null(t.data);
    return st;
}

static void test_versions_and_dtypes(void **state)
{
    (void)state;
    const char *names[] = {"images/npy_f4_v1.npy", "images/npy_f4_v2.npy", "images/npy_f4_v3.npy"};
    for (int k = 0; k < 3; k++) {
        rams_npy t = load_ok(names[k]);
        assert_int_equal(t.ndim, 3);
        assert_int_equal(t.shape[0], 2);
        assert_int_equal(t.shape[1], 3);
        assert_int_equal(t.shape[2], 4);
        for (int i = 0; i < 24; i++) assert_true(t.data[i] == (float)i * 0.25f - 1.5f);
        rams_npy_free(&t);
        assert_null(t.data);
    }
    rams_npy t = load_ok("images/npy_f8_v1.npy");
    assert_int_equal(t.ndim, 1);
    assert_int_equal(t.shape[0], 4);
    assert_true(t.data[0] == (float)0.1 && t.data[1] == -2.5f && t.data[2] == (float)1e-3 &&
                t.data[3] == 3.0f);
    rams_npy_free(&t);

    t = load_ok("images/npy_f4_scalar.npy");
    assert_int_equal(t.ndim, 0);
    assert_true(t.data[0] == 7.5f);
    rams_npy_free(&t);

    t = load_ok("images/npy_f4_4d.npy");
    assert_int_equal(t.ndim, 4);
    assert_int_equal(t.shape[3], 3);
    rams_npy_free(&t);
}

static void test_refused_numpy_files(void **state)
{
    (void)state;
    assert_int_equal(load_status("images/npy_bad_i4.npy"), RAMS_ERR_UNSUPPORTED);
    assert_non_null(strstr(rams_last_error(), "npy_bad_i4.npy"));
    assert_int_equal(load_status("images/npy_bad_be.npy"), RAMS_ERR_UNSUPPORTED);
    assert_int_equal(load_status("images/npy_bad_fortran.npy"), RAMS_ERR_UNSUPPORTED);
    assert_int_equal(load_status("images/npy_bad_5d.npy"), RAMS_ERR_FORMAT);
}

/* Builds a v1 .npy in memory from a header dict and `data_bytes` zero bytes of data. */
static uint8_t *make_npy(const char *dict, size_t data_bytes, size_t *size)
{
    size_t hlen = strlen(dict);
    *size = 10 + hlen + data_bytes;
    uint8_t *b = calloc(*size, 1);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (uint8_t)(hlen & 0xff);
    b[9] = (uint8_t)(hlen >> 8);
    memcpy(b + 10, dict, hlen);
    return b;
}

static rams_status decode_dict(const char *dict, size_t data_bytes, size_t max_elements)
{
    size_t size;
    uint8_t *b = make_npy(dict, data_bytes, &size);
    rams_npy t;
    rams_status st = rams_npy_decode(b, size, "mem.npy", max_elements, &t);
    if (st == RAMS_OK) {
        assert_non_null(t.data);
        rams_npy_free(&t);
    } else {
        assert_null(t.data);
        assert_non_null(strstr(rams_last_error(), "mem.npy"));
    }
    free(b);
    return st;
}

static void test_header_parsing(void **state)
{
    (void)state;
    /* Good: key order free, double quotes, no trailing comma, spaces. */
    assert_int_equal(decode_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24, 0),
                     RAMS_OK);
    assert_int_equal(decode_dict("{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}   \n", 24, 0),
                     RAMS_OK);
    assert_int_equal(decode_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }\n", 0, 0),
                     RAMS_OK);
    /* Lying headers: data shorter or longer than the shape says. */
    assert_int_equal(decode_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 20, 0),
                     RAMS_ERR_FORMAT);
    assert_int_equal(decode_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 28, 0),
                     RAMS_ERR_FORMAT);
    /* Overflowing shapes and limits. */
    assert_int_equal(
        decode_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", 24,
                    0),
        RAMS_ERR_LIMIT);
    assert_int_equal(
        decode_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 24, 0),
        RAMS_ERR_FORMAT);
    assert_int_equal(decode_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24, 5),
                     RAMS_ERR_LIMIT);
    assert_int_equal(decode_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24, 6),
                     RAMS_OK);
    /* Malformed dicts. */
    const char *bad[] = {
        "",
        "{",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'extra': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6,,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [6]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} x",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (6,)}",
        "{'descr': <f4, 'fortran_order': False, 'shape': (6,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 6)}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rams_status st = decode_dict(bad[i], 24, 0);
        if (st != RAMS_ERR_FORMAT) fail_msg("header %zu <%s> gave %s", i, bad[i], rams_status_name(st));
    }
    assert_int_equal(decode_dict("{'descr': '<i4', 'fortran_order': False, 'shape': (6,)}", 24, 0),
                     RAMS_ERR_UNSUPPORTED);
}

static void test_preamble(void **state)
{
    (void)state;
    size_t size;
    uint8_t *b = make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n", 24, &size);
    rams_npy t;
    for (size_t cut = 0; cut < size; cut++)
        assert_int_not_equal(rams_npy_decode(b, cut, "cut.npy", 0, &t), RAMS_OK);
    assert_int_equal(rams_npy_decode(b, size, "ok.npy", 0, &t), RAMS_OK);
    rams_npy_free(&t);
    b[0] = 'X';
    assert_int_equal(rams_npy_decode(b, size, "m.npy", 0, &t), RAMS_ERR_FORMAT);
    b[0] = 0x93;
    b[6] = 4;
    assert_int_equal(rams_npy_decode(b, size, "v.npy", 0, &t), RAMS_ERR_UNSUPPORTED);
    b[6] = 1;
    b[8] = 0xff; /* header length past the end */
    assert_int_equal(rams_npy_decode(b, size, "h.npy", 0, &t), RAMS_ERR_FORMAT);
    free(b);
    /* A v2 header whose 4-byte length is huge. */
    uint8_t v2[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xff, 0xff, 0xff, 0xff, '{', '}', ' ', '\n'};
    assert_int_equal(rams_npy_decode(v2, sizeof v2, "v2.npy", 0, &t), RAMS_ERR_FORMAT);
}

/* rams_npy_write gives the very bytes numpy writes. */
static void test_write_matches_numpy(void **state)
{
    (void)state;
    const char *tmp = "test_npy_tmp.npy";
    float a[24];
    for (int i = 0; i < 24; i++) a[i] = (float)i * 0.25f - 1.5f;
    int64_t shape3[3] = {2, 3, 4};
    const char *names[] = {"images/npy_f4_v1.npy", "images/npy_f4_1d.npy"};
    float b[3] = {1, 2, 3};
    int64_t shape1[1] = {3};
    for (int k = 0; k < 2; k++) {
        if (k == 0) assert_int_equal(rams_npy_write(tmp, a, 3, shape3), RAMS_OK);
        else assert_int_equal(rams_npy_write(tmp, b, 1, shape1), RAMS_OK);
        uint8_t *mine, *theirs;
        size_t nmine, ntheirs;
        assert_int_equal(rams_read_file(tmp, 0, &mine, &nmine), RAMS_OK);
        assert_int_equal(rams_read_file(test_data_path(names[k]), 0, &theirs, &ntheirs), RAMS_OK);
        assert_int_equal(nmine, ntheirs);
        assert_memory_equal(mine, theirs, nmine);
        free(mine);
        free(theirs);
    }
    remove(tmp);
    assert_int_equal(rams_npy_write("/nonexistent-dir/x.npy", a, 3, shape3), RAMS_ERR_IO);
    assert_non_null(strstr(rams_last_error(), "/nonexistent-dir/x.npy"));
}

static void test_read_file(void **state)
{
    (void)state;
    uint8_t *data = (uint8_t *)1;
    size_t size = 1;
    assert_int_equal(rams_read_file("/nonexistent/file.jpg", 0, &data, &size), RAMS_ERR_IO);
    assert_null(data);
    assert_non_null(strstr(rams_last_error(), "/nonexistent/file.jpg"));
    assert_int_equal(rams_read_file(test_data_path("images"), 0, &data, &size), RAMS_ERR_IO);
    assert_non_null(strstr(rams_last_error(), "directory"));
    const char *p = test_data_path("images/npy_f4_v1.npy");
    assert_int_equal(rams_read_file(p, 223, &data, &size), RAMS_ERR_LIMIT);
    assert_non_null(strstr(rams_last_error(), "npy_f4_v1.npy"));
    assert_int_equal(rams_read_file(p, 224, &data, &size), RAMS_OK);
    assert_int_equal(size, 224);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions_and_dtypes), cmocka_unit_test(test_refused_numpy_files),
        cmocka_unit_test(test_header_parsing),      cmocka_unit_test(test_preamble),
        cmocka_unit_test(test_write_matches_numpy), cmocka_unit_test(test_read_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
