/* JPEG/PNG/WebP decoding against PIL's Image.open(f).convert('RGB')
 * (tools/reference/make_image_golden.py): every kind of image bit for bit, every broken file refused
 * with a message naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "file.h"
#include "image.h"
#include "sniff.h"
#include "test_util.h"

static uint8_t *read_data(const char *name, size_t *size)
{
    uint8_t *data = NULL;
    if (rams_read_file(test_data_path(name), 1 << 24, &data, size) != RAMS_OK)
        fail_msg("%s: %s", name, rams_last_error());
    return data;
}

/* Compares a decoded image with PIL's pixels (uint8 stored as float32, H x W x 3). */
static void expect_pil_pixels(const char *name, const rams_image *img)
{
    char golden[256];
    snprintf(golden, sizeof golden, "images/%s.rgb.npy", name);
    size_t count;
    int64_t shape[4];
    int ndim;
    float *want = test_load_npy(golden, &count, shape, &ndim);
    assert_int_equal(ndim, 3);
    if (shape[0] != img->height || shape[1] != img->width || shape[2] != 3)
        fail_msg("%s: decoded %dx%d, PIL %lldx%lld", name, img->width, img->height, (long long)shape[1],
                 (long long)shape[0]);
    size_t mismatches = 0, first = 0;
    for (size_t i = 0; i < count; i++)
        if ((float)img->rgb[i] != want[i] && mismatches++ == 0) first = i;
    if (mismatches)
        fail_msg("%s: %zu of %zu samples differ from PIL, first at %zu (%d vs %g)", name, mismatches, count,
                 first, img->rgb[first], want[first]);
    free(want);
}

static rams_status status_from_name(const char *s)
{
    for (int st = RAMS_OK; st <= RAMS_ERR_INTERNAL; st++)
        if (strcmp(s, rams_status_name((rams_status)st)) == 0) return (rams_status)st;
    fail_msg("unknown status %s", s);
    return RAMS_ERR_INTERNAL;
}

/* Every file listed in images.txt: the good ones equal PIL, the bad ones give the listed status. */
static void test_all_images(void **state)
{
    (void)state;
    FILE *f = fopen(test_data_path("images/images.txt"), "r");
    assert_non_null(f);
    char name[200], status_name[64];
    int good = 0, bad = 0;
    while (fscanf(f, "%199s %63s", name, status_name) == 2) {
        char rel[256];
        snprintf(rel, sizeof rel, "images/%s", name);
        size_t size;
        uint8_t *data = read_data(rel, &size);
        rams_image img;
        rams_status want = status_from_name(status_name);
        rams_status got = rams_image_decode(data, size, name, 0, &img);
        if (got != want)
            fail_msg("%s: got %s (%s), want %s", name, rams_status_name(got), rams_last_error(), status_name);
        if (want == RAMS_OK) {
            expect_pil_pixels(name, &img);
            good++;
        } else {
            assert_null(img.rgb);
            if (!strstr(rams_last_error(), name))
                fail_msg("%s: message does not name the file: %s", name, rams_last_error());
            bad++;
        }
        rams_image_free(&img);
        free(data);
    }
    fclose(f);
    print_message("%d images equal to PIL, %d broken ones refused\n", good, bad);
    assert_true(good >= 79 && bad >= 31);
}

static void test_sniff(void **state)
{
    (void)state;
    const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0}, png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t npy[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    assert_int_equal(rams_sniff(jpeg, sizeof jpeg), RAMS_FILE_JPEG);
    assert_int_equal(rams_sniff(png, sizeof png), RAMS_FILE_PNG);
    assert_int_equal(rams_sniff(npy, sizeof npy), RAMS_FILE_NPY);
    const uint8_t webp[] = {'R', 'I', 'F', 'F', 0x24, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' '};
    assert_int_equal(rams_sniff(webp, sizeof webp), RAMS_FILE_WEBP);
    assert_int_equal(rams_sniff(webp, 12), RAMS_FILE_WEBP);
    assert_int_equal(rams_sniff(webp, 11), RAMS_FILE_UNKNOWN);
    assert_int_equal(rams_sniff((const uint8_t *)"RIFF\x24\0\0\0WAVEfmt ", 16), RAMS_FILE_UNKNOWN);
    assert_int_equal(rams_sniff(png, 7), RAMS_FILE_UNKNOWN);
    assert_int_equal(rams_sniff(jpeg, 2), RAMS_FILE_UNKNOWN);
    assert_int_equal(rams_sniff((const uint8_t *)"GIF89a", 6), RAMS_FILE_UNKNOWN);
    assert_int_equal(rams_sniff(NULL, 0), RAMS_FILE_UNKNOWN);
}

/* The pixel limit: a 45x31 image passes at 1395 pixels and is refused at 1394. */
static void test_pixel_limit(void **state)
{
    (void)state;
    const char *names[] = {"images/jpeg_420.jpg",
                           "images/png_rgb.png",
                           "images/jpeg_progressive.jpg",
                           "images/webp_lossy.webp",
                           "images/webp_lossless_alpha.webp",
                           "images/webp_anim_lossy.webp",
                           "images/webp_anim_offset_lossless.webp"};
    for (int k = 0; k < 7; k++) {
        size_t size;
        uint8_t *data = read_data(names[k], &size);
        rams_image img;
        assert_int_equal(rams_image_decode(data, size, names[k], 45 * 31 - 1, &img), RAMS_ERR_LIMIT);
        assert_null(img.rgb);
        assert_non_null(strstr(rams_last_error(), "limit"));
        assert_int_equal(rams_image_decode(data, size, names[k], 45 * 31, &img), RAMS_OK);
        assert_int_equal(img.width, 45);
        assert_int_equal(img.height, 31);
        rams_image_free(&img);
        free(data);
    }
}

/* Every proper prefix of a file is truncated, and must be refused (never a half image). */
static void test_every_truncation(void **state)
{
    (void)state;
    const char *names[] = {"images/jpeg_420.jpg",
                           "images/jpeg_progressive.jpg",
                           "images/png_rgb.png",
                           "images/png_adam7_rgb.png",
                           "images/jpeg_gray.jpg",
                           "images/webp_lossy.webp",
                           "images/webp_lossless_alpha.webp",
                           "images/webp_anim_offset_lossy_alpha.webp",
                           "images/jpeg_junk_before_dqt.jpg"};
    for (int k = 0; k < 9; k++) {
        size_t size;
        uint8_t *data = read_data(names[k], &size);
        for (size_t cut = 0; cut < size; cut++) {
            uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
            memcpy(copy, data, cut);
            rams_image img;
            rams_status st = rams_image_decode(copy, cut, "cut", 0, &img);
            if (st == RAMS_OK) fail_msg("%s cut to %zu of %zu bytes was accepted", names[k], cut, size);
            assert_null(img.rgb);
            free(copy);
        }
        free(data);
    }
}

/* Random byte changes: any outcome but a crash, a leak or a half image. */
static void test_random_damage(void **state)
{
    (void)state;
    const char *names[] = {"images/jpeg_420.jpg",          "images/jpeg_progressive.jpg",
                           "images/jpeg_cmyk_adobe.jpg",   "images/png_p4.png",
                           "images/png_adam7_rgba16.png",  "images/png_l16.png",
                           "images/webp_lossy_alpha.webp", "images/webp_lossless.webp",
                           "images/webp_anim_mixed.webp"};
    uint32_t rng = 12345;
    int refused = 0, total = 0;
    for (int k = 0; k < 9; k++) {
        size_t size;
        uint8_t *data = read_data(names[k], &size);
        for (int trial = 0; trial < 150; trial++) {
            uint8_t *copy = malloc(size);
            memcpy(copy, data, size);
            for (int flips = 0; flips < 1 + trial % 4; flips++) {
                rng = rng * 1664525u + 1013904223u;
                size_t at = (rng >> 8) % size;
                rng = rng * 1664525u + 1013904223u;
                copy[at] ^= (uint8_t)(1u << (rng >> 29));
            }
            rams_image img;
            rams_status st = rams_image_decode(copy, size, "damaged", 0, &img);
            if (st == RAMS_OK) {
                assert_non_null(img.rgb);
                assert_true(img.width > 0 && img.height > 0 && img.width <= 65535 && img.height <= 65535);
            } else {
                assert_null(img.rgb);
                refused++;
            }
            total++;
            rams_image_free(&img);
            free(copy);
        }
        free(data);
    }
    print_message("random damage: %d of %d refused\n", refused, total);
}

/* libjpeg's "N extraneous bytes before marker" (src/image_decode.c, jpeg_warning_is_harmless):
 * accepted while the header is read, with the pixels of the same file without the stray bytes
 * (and PIL's: test_all_images); refused once scan data has begun. */
static void test_jpeg_stray_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *name, *base;
    } header[] = {
        {"images/jpeg_junk_before_dqt.jpg", "images/jpeg_420.jpg"},
        {"images/jpeg_junk_ff00_before_dqt.jpg", "images/jpeg_420.jpg"},
        {"images/jpeg_junk_before_app1.jpg", "images/jpeg_exif.jpg"},
        {"images/jpeg_junk_before_sos_progressive.jpg", "images/jpeg_progressive.jpg"},
    };
    for (size_t i = 0; i < sizeof header / sizeof *header; i++) {
        size_t size, base_size;
        uint8_t *data = read_data(header[i].name, &size), *base = read_data(header[i].base, &base_size);
        rams_image img, want;
        if (rams_image_decode(data, size, header[i].name, 0, &img) != RAMS_OK)
            fail_msg("%s: %s", header[i].name, rams_last_error());
        assert_int_equal(rams_image_decode(base, base_size, header[i].base, 0, &want), RAMS_OK);
        assert_int_equal(img.width, want.width);
        assert_int_equal(img.height, want.height);
        assert_memory_equal(img.rgb, want.rgb, (size_t)img.width * img.height * 3);
        rams_image_free(&img);
        rams_image_free(&want);
        free(data);
        free(base);
    }
    const char *scan[] = {"images/bad_jpeg_junk_before_rst.jpg", "images/bad_jpeg_junk_between_scans.jpg",
                          "images/bad_jpeg_extraneous.jpg"};
    for (size_t i = 0; i < sizeof scan / sizeof *scan; i++) {
        size_t size;
        uint8_t *data = read_data(scan[i], &size);
        rams_image img;
        assert_int_equal(rams_image_decode(data, size, scan[i], 0, &img), RAMS_ERR_FORMAT);
        assert_null(img.rgb);
        if (!strstr(rams_last_error(), "extraneous bytes before marker"))
            fail_msg("%s: refused for another reason: %s", scan[i], rams_last_error());
        free(data);
    }
}

static void test_arguments(void **state)
{
    (void)state;
    rams_image img;
    assert_int_equal(rams_image_decode(NULL, 0, "x", 0, &img), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_image_decode((const uint8_t *)"abc", 3, NULL, 0, NULL), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_image_decode((const uint8_t *)"\x93NUMPY", 6, "t.npy", 0, &img), RAMS_ERR_FORMAT);
    rams_image_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_images),    cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_pixel_limit),   cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_random_damage), cmocka_unit_test(test_jpeg_stray_bytes),
        cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
