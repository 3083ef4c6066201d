/* PIL-exact bilinear resizing and the torchvision pipeline, against tools/reference/make_image_golden.py:
 * resized bytes identical to Image.resize(BILINEAR), final tensors within 1e-6 of torchvision. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "preprocess.h"
#include "test_util.h"

/* The synthetic source of the golden script (source_pixels), in the same uint32 arithmetic. */
static uint8_t *source_pixels(int w, int h, size_t stride)
{
    uint8_t *p = calloc((size_t)h * stride, 1);
    for (uint32_t y = 0; y < (uint32_t)h; y++)
        for (uint32_t x = 0; x < (uint32_t)w; x++)
            for (uint32_t c = 0; c < 3; c++) {
                uint32_t v = (x * 73856093u) ^ (y * 19349663u) ^ (c * 83492791u);
                v ^= v >> 13;
                v *= 0x5BD1E995u;
                v ^= v >> 15;
                uint32_t smooth = (x * 3 + y * 5 + c * 60) % 256;
                p[y * stride + x * 3 + c] = (uint8_t)((smooth >> 1) + (v & 127));
            }
    return p;
}

static FILE *open_cases(void)
{
    FILE *f = fopen(test_data_path("images/resize.txt"), "r");
    assert_non_null(f);
    return f;
}

static void test_resize_matches_pil(void **state)
{
    (void)state;
    FILE *f = open_cases();
    char line[512], file[200];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        int sw, sh, dw, dh;
        if (sscanf(line, "resize %d %d %d %d %199s", &sw, &sh, &dw, &dh, file) != 5) continue;
        char rel[256];
        snprintf(rel, sizeof rel, "images/%s", file);
        size_t count;
        int64_t shape[4];
        int ndim;
        float *want = test_load_npy(rel, &count, shape, &ndim);
        assert_int_equal(count, (size_t)dw * dh * 3);
        /* Twice: packed rows, and rows with padding after them (stride > width * 3). */
        for (int padded = 0; padded < 2; padded++) {
            size_t stride = (size_t)sw * 3 + (padded ? 5 : 0);
            uint8_t *src = source_pixels(sw, sh, stride);
            uint8_t *dst = malloc(count);
            assert_int_equal(rams_resize_bilinear_rgb8(src, sw, sh, stride, dst, dw, dh), RAMS_OK);
            size_t bad = 0, first = 0;
            for (size_t i = 0; i < count; i++)
                if ((float)dst[i] != want[i] && bad++ == 0) first = i;
            if (bad)
                fail_msg("%dx%d -> %dx%d: %zu of %zu bytes differ from PIL, first at %zu (%d vs %g)", sw, sh,
                         dw, dh, bad, count, first, dst[first], want[first]);
            free(src);
            free(dst);
        }
        free(want);
        cases++;
    }
    fclose(f);
    print_message("%d resize cases identical to PIL\n", cases);
    assert_true(cases >= 15);
}

static void test_pipeline_matches_torchvision(void **state)
{
    (void)state;
    FILE *f = open_cases();
    char line[512], mode[32], file[200];
    int cases = 0;
    double worst = 0;
    size_t exact = 0, total = 0;
    while (fgets(line, sizeof line, f)) {
        int sw, sh, a1, a2, cw, ch, rw, rh, cx, cy;
        if (sscanf(line, "pre %d %d %31s %d %d %d %d %d %d %d %d %199s", &sw, &sh, mode, &a1, &a2, &cw, &ch,
                   &rw, &rh, &cx, &cy, file) != 12)
            continue;
        rams_preprocess pp = {0};
        if (strcmp(mode, "fixed") == 0) {
            pp.resize_mode = RAMS_RESIZE_FIXED;
            pp.resize_width = a1;
            pp.resize_height = a2;
        } else if (strcmp(mode, "shorter") == 0) {
            pp.resize_mode = RAMS_RESIZE_SHORTER;
            pp.resize_shorter = a1;
        } else {
            pp.resize_mode = RAMS_RESIZE_NONE;
        }
        pp.crop_width = cw;
        pp.crop_height = ch;
        const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
        memcpy(pp.mean, mean, sizeof mean);
        memcpy(pp.std, std, sizeof std);

        char rel[256];
        snprintf(rel, sizeof rel, "images/%s", file);
        size_t count;
        int64_t shape[4];
        int ndim;
        float *want = test_load_npy(rel, &count, shape, &ndim);
        assert_int_equal(ndim, 3);
        assert_int_equal(shape[0], 3);
        assert_int_equal(shape[1], ch);
        assert_int_equal(shape[2], cw);

        uint8_t *src = source_pixels(sw, sh, (size_t)sw * 3);
        float *got = malloc(sizeof(float) * count);
        rams_geometry geo;
        if (rams_preprocess_rgb(src, sw, sh, (size_t)sw * 3, &pp, got, &geo) != RAMS_OK)
            fail_msg("%s: %s", file, rams_last_error());
        if (geo.resized_width != rw || geo.resized_height != rh || geo.crop_x != cx || geo.crop_y != cy)
            fail_msg("%s: geometry resized %dx%d crop at %d,%d; torchvision %dx%d at %d,%d", file,
                     geo.resized_width, geo.resized_height, geo.crop_x, geo.crop_y, rw, rh, cx, cy);
        assert_int_equal(geo.image_width, sw);
        assert_int_equal(geo.crop_width, cw);
        double ratio = test_tolerance_ratio(got, want, count, 0.0, 1e-6);
        if (!(ratio <= 1.0)) fail_msg("%s: differs from torchvision by %g x 1e-6", file, ratio);
        if (ratio > worst) worst = ratio;
        for (size_t i = 0; i < count; i++) exact += got[i] == want[i];
        total += count;
        free(src);
        free(got);
        free(want);
        cases++;
    }
    fclose(f);
    print_message("%d pipelines within 1e-6 of torchvision (worst %g e-6), %zu of %zu values bit-identical\n",
                  cases, worst, exact, total);
    assert_true(cases >= 10);
}

/* The released evaluation's geometry: Resize((600, 600)) then CenterCrop(448) at offset 76. */
static void test_released_geometry(void **state)
{
    (void)state;
    int w = 123, h = 77;
    uint8_t *src = source_pixels(w, h, (size_t)w * 3);
    rams_preprocess pp = {RAMS_RESIZE_FIXED,       600, 600, 0, 448, 448, {0.485f, 0.456f, 0.406f},
                          {0.229f, 0.224f, 0.225f}};
    float *out = malloc(sizeof(float) * 3 * 448 * 448);
    rams_geometry geo;
    assert_int_equal(rams_preprocess_rgb(src, w, h, (size_t)w * 3, &pp, out, &geo), RAMS_OK);
    assert_int_equal(geo.crop_x, 76);
    assert_int_equal(geo.crop_y, 76);
    assert_int_equal(geo.resized_width, 600);
    /* The crop equals the middle of the full resize. */
    uint8_t *full = malloc(600 * 600 * 3);
    assert_int_equal(rams_resize_bilinear_rgb8(src, w, h, (size_t)w * 3, full, 600, 600), RAMS_OK);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 448; y += 37)
            for (int x = 0; x < 448; x += 41) {
                float v = (float)full[((size_t)(y + 76) * 600 + x + 76) * 3 + c] / 255.0f;
                assert_true(out[(size_t)c * 448 * 448 + (size_t)y * 448 + x] == (v - pp.mean[c]) / pp.std[c]);
            }
    free(full);
    free(out);
    free(src);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    uint8_t px[12] = {0};
    float out[3 * 4];
    rams_preprocess pp = {RAMS_RESIZE_FIXED, 2, 2, 0, 2, 2, {0, 0, 0}, {1, 1, 1}};
    assert_int_equal(rams_preprocess_rgb(px, 2, 2, 6, &pp, out, NULL), RAMS_OK);
    assert_int_equal(rams_preprocess_rgb(NULL, 2, 2, 6, &pp, out, NULL), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_preprocess_rgb(px, 2, 2, 5, &pp, out, NULL), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_preprocess_rgb(px, 0, 2, 6, &pp, out, NULL), RAMS_ERR_INVALID_ARGUMENT);
    pp.std[1] = 0;
    assert_int_equal(rams_preprocess_rgb(px, 2, 2, 6, &pp, out, NULL), RAMS_ERR_INVALID_ARGUMENT);
    pp.std[1] = 1;
    pp.crop_width = 0;
    assert_int_equal(rams_preprocess_rgb(px, 2, 2, 6, &pp, out, NULL), RAMS_ERR_INVALID_ARGUMENT);
    pp.crop_width = 2;
    pp.resize_mode = (rams_resize_mode)9;
    assert_int_equal(rams_preprocess_rgb(px, 2, 2, 6, &pp, out, NULL), RAMS_ERR_INVALID_ARGUMENT);
    pp.resize_mode = RAMS_RESIZE_SHORTER;
    pp.resize_shorter = 0;
    assert_int_equal(rams_preprocess_rgb(px, 2, 2, 6, &pp, out, NULL), RAMS_ERR_INVALID_ARGUMENT);
    /* A 1 x 2 image whose shorter side goes to 2^30: the long side would not fit an int. */
    pp.resize_shorter = 1 << 30;
    assert_int_equal(rams_preprocess_rgb(px, 1, 2, 3, &pp, out, NULL), RAMS_ERR_LIMIT);
    assert_int_equal(rams_resize_bilinear_rgb8(px, 2, 2, 6, NULL, 2, 2), RAMS_ERR_INVALID_ARGUMENT);
    assert_int_equal(rams_resize_bilinear_rgb8(px, 2, 2, 6, px, 0, 2), RAMS_ERR_INVALID_ARGUMENT);
}

static void test_box_to_image(void **state)
{
    (void)state;
    /* 1000 x 800 photo, Resize((600, 600)), CenterCrop(448) at 76. */
    rams_geometry geo = {1000, 800, 600, 600, 76, 76, 448, 448};
    rams_box b = rams_box_to_image(&geo, (rams_box){0, 0, 447, 447});
    assert_int_equal(b.left, 126);                           /* floor(76 * 1000 / 600)          */
    assert_int_equal(b.right, 873);                          /* ceil(524 * 1000 / 600) - 1      */
    assert_int_equal(b.top, 101);                            /* floor(76 * 800 / 600)           */
    assert_int_equal(b.bottom, 698);                         /* ceil(524 * 800 / 600) - 1       */
    b = rams_box_to_image(&geo, (rams_box){10, 20, 10, 20}); /* one input pixel */
    assert_int_equal(b.left, 160);                           /* floor(96 * 1000 / 600) */
    assert_int_equal(b.right, 161);                          /* ceil(97 * 1000 / 600) - 1 */
    assert_int_equal(b.top, 114);                            /* floor(86 * 800 / 600) */
    assert_int_equal(b.bottom, 115);                         /* ceil(87 * 800 / 600) - 1 */
    /* No resize, no crop: the identity. */
    rams_geometry same = {64, 48, 64, 48, 0, 0, 64, 48};
    b = rams_box_to_image(&same, (rams_box){3, 5, 40, 60});
    assert_true(b.top == 3 && b.left == 5 && b.bottom == 40 && b.right == 60);
    /* Zero-padded crop (offset < 0): boxes in the padding clamp to the image. */
    rams_geometry pad = {5, 3, 5, 3, -2, -2, 9, 8};
    b = rams_box_to_image(&pad, (rams_box){0, 0, 7, 8});
    assert_true(b.top == 0 && b.left == 0 && b.bottom == 2 && b.right == 4);
    b = rams_box_to_image(&pad, (rams_box){0, 0, 0, 0});
    assert_true(b.top == 0 && b.left == 0 && b.bottom == 0 && b.right == 0);
    /* Upscaled tiny image: every input pixel maps inside it. */
    rams_geometry up = {3, 2, 600, 600, 76, 76, 448, 448};
    b = rams_box_to_image(&up, (rams_box){0, 0, 447, 447});
    assert_true(b.left == 0 && b.right == 2 && b.top == 0 && b.bottom == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_matches_pil), cmocka_unit_test(test_pipeline_matches_torchvision),
        cmocka_unit_test(test_released_geometry),  cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_box_to_image),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
