/* DPPM rules on hand-made maps (SPEC 2): strict threshold, 8-connectivity, largest component with
 * the row-major tie rule, the released box formula, the empty-mask fallback, the zoom.  Expected
 * values are worked out by hand in the comments; the PyTorch golden data (test_engine.c) checks
 * the same code on a real model. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dppm.h"

#define G 6
#define P 4
#define S (G * P)

/* Builds v from a picture: '#' cells get weight 1, '.' cells 0.1.  With k '#' cells of 36,
 * p = 1 or 0.1 and t = 1.2 * mean(p), so '#' cells are above t while k < ~27. */
static void picture(const char *rows[G], double v[G * G])
{
    for (int r = 0; r < G; r++)
        for (int c = 0; c < G; c++) v[r * G + c] = rows[r][c] == '#' ? 1.0 : 0.1;
}

typedef struct {
    int area;
    rams_box box;
    unsigned char mask[G * G];
} dppm_outcome;

static dppm_outcome run_mask(const double v[G * G])
{
    dppm_outcome o;
    float p[G * G];
    double t;
    int stack[G * G], r0, c0, r1, c1;
    rams_threshold(v, G * G, 1.2, p, &t, o.mask);
    o.area = rams_largest_component(o.mask, G, stack, &r0, &c0, &r1, &c1);
    o.box = rams_cells_to_box(o.area, r0, c0, r1, c1, P, S);
    return o;
}

/* The DPPM outcome of a picture (see picture()). */
static dppm_outcome run_picture(const char *rows[G])
{
    double v[G * G];
    picture(rows, v);
    return run_mask(v);
}

static void assert_box(rams_box b, int top, int left, int bottom, int right)
{
    assert_int_equal(b.top, top);
    assert_int_equal(b.left, left);
    assert_int_equal(b.bottom, bottom);
    assert_int_equal(b.right, right);
}

static void test_single_cell_component(void **state)
{
    (void)state;
    const char *rows[G] = {"......", "......", "..#...", "......", "......", "......"};
    dppm_outcome o = run_picture(rows);
    assert_int_equal(o.area, 1);
    /* cell (2,2): top = 2*4-1 = 7, left = 7, bottom = 3*4-1 = 11, right = 11 */
    assert_box(o.box, 7, 7, 11, 11);
    assert_int_equal(o.mask[2 * G + 2], 2);
}

static void test_diagonal_cells_are_connected(void **state)
{
    (void)state;
    /* Three cells touching only at corners form one 8-connected component of area 3, which beats
     * the 2-cell vertical pair on the right. */
    const char *rows[G] = {"#.....", ".#...#", "..#..#", "......", "......", "......"};
    dppm_outcome o = run_picture(rows);
    assert_int_equal(o.area, 3);
    /* rows 0..2, cols 0..2: top = max(0,-1) = 0, left = 0, bottom = 11, right = 11 */
    assert_box(o.box, 0, 0, 11, 11);
    assert_int_equal(o.mask[1 * G + 5], 1); /* thresholded but not kept */
}

static void test_tie_goes_to_first_in_row_major_order(void **state)
{
    (void)state;
    /* Two components of area 2: the right one's first cell (0,4) comes before the left one's (1,0). */
    const char *rows[G] = {"....##", "#.....", "#.....", "......", "......", "......"};
    dppm_outcome o = run_picture(rows);
    assert_int_equal(o.area, 2);
    /* cells (0,4),(0,5): top 0, left 4*4-1 = 15, bottom 3, right 23 (touches the right border) */
    assert_box(o.box, 0, 15, 3, 23);
}

static void test_larger_component_wins_over_earlier(void **state)
{
    (void)state;
    const char *rows[G] = {"#.....", "......", "......", "...##.", "...##.", "......"};
    dppm_outcome o = run_picture(rows);
    assert_int_equal(o.area, 4);
    assert_box(o.box, 11, 11, 19, 19);
}

static void test_box_touching_bottom_and_left(void **state)
{
    (void)state;
    const char *rows[G] = {"......", "......", "......", "......", "##....", "##...."};
    dppm_outcome o = run_picture(rows);
    assert_box(o.box, 15, 0, S - 1, 7);
}

static void test_threshold_is_strict(void **state)
{
    (void)state;
    /* p in {1, 0.5}: 18 cells of each, mean 0.75; alpha = 1/0.75 puts t exactly at 1.0, so no
     * cell is strictly above it (p == t is excluded), while alpha slightly lower keeps the 1s. */
    double v[G * G];
    float p[G * G];
    unsigned char mask[G * G];
    double t;
    for (int i = 0; i < G * G; i++) v[i] = i < 18 ? 2.0 : 1.0;
    assert_int_equal(rams_threshold(v, G * G, 4.0 / 3.0, p, &t, mask), 0);
    assert_int_equal(rams_threshold(v, G * G, 1.3, p, &t, mask), 18);
    assert_float_equal(t, 1.3 * 0.75, 1e-12);
    assert_float_equal(p[0], 1.0f, 0);
    assert_float_equal(p[G * G - 1], 0.5f, 0);
}

static void test_uniform_map_falls_back_to_whole_image(void **state)
{
    (void)state;
    double v[G * G];
    for (int i = 0; i < G * G; i++) v[i] = 0.25;
    dppm_outcome o = run_mask(v);
    assert_int_equal(o.area, 0);
    assert_box(o.box, 0, 0, S - 1, S - 1);
}

static void test_degenerate_maps_give_empty_masks(void **state)
{
    (void)state;
    double v[G * G];
    float p[G * G];
    unsigned char mask[G * G];
    double t;
    for (int i = 0; i < G * G; i++) v[i] = 0.0; /* max(v) = 0: p undefined */
    assert_int_equal(rams_threshold(v, G * G, 1.2, p, &t, mask), 0);
    v[3] = NAN;
    assert_int_equal(rams_threshold(v, G * G, 1.2, p, &t, mask), 0);
}

/* The vector chain equals the mean over rows of the explicit product J = B_L ... B_1. */
static void test_rollout_vector_chain_equals_matrix_product(void **state)
{
    (void)state;
    enum { L = 3, N = 7 };
    float maps[L * N * N];
    srand(7);
    for (int l = 0; l < L; l++)
        for (int i = 0; i < N; i++) {
            double sum = 0;
            for (int j = 0; j < N; j++) sum += maps[(l * N + i) * N + j] = (float)(rand() % 1000 + 1);
            for (int j = 0; j < N; j++) maps[(l * N + i) * N + j] /= (float)sum;
        }
    double B[L][N][N], J[N][N], T[N][N];
    for (int l = 0; l < L; l++)
        for (int i = 0; i < N; i++) {
            double s = 0;
            for (int j = 0; j < N; j++) s += B[l][i][j] = maps[(l * N + i) * N + j] + (i == j);
            for (int j = 0; j < N; j++) B[l][i][j] /= s;
        }
    memcpy(J, B[0], sizeof J);
    for (int l = 1; l < L; l++) {
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                T[i][j] = 0;
                for (int k = 0; k < N; k++) T[i][j] += B[l][i][k] * J[k][j];
            }
        memcpy(J, T, sizeof J);
    }
    /* The patch columns follow the CLS columns: two for RAMS-Trans, one for a plain ViT; the mean is
     * over all N rows either way. */
    for (int cls = 1; cls <= 2; cls++) {
        double v[N - 1], work[2 * N];
        rams_rollout(maps, L, N, cls, v, work);
        for (int j = cls; j < N; j++) {
            double mean = 0;
            for (int i = 0; i < N; i++) mean += J[i][j];
            assert_float_equal(v[j - cls], mean / N, 1e-12);
        }
    }
}

static void test_zoom_of_whole_image_is_identity(void **state)
{
    (void)state;
    float img[3 * S * S], out[3 * S * S];
    for (int i = 0; i < 3 * S * S; i++) img[i] = (float)(i % 97) - 40.0f;
    rams_zoom_crop(img, S, (rams_box){0, 0, S - 1, S - 1}, out);
    assert_memory_equal(img, out, sizeof img);
}

static void test_zoom_interpolates_with_aligned_corners(void **state)
{
    (void)state;
    /* A horizontal ramp img[y][x] = x: the crop's columns left..right map linearly onto 0..S-1,
     * so out[y][x] = left + x * (right - left) / (S - 1), and corners land exactly. */
    float img[3 * S * S], out[3 * S * S];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) img[(c * S + y) * S + x] = (float)x;
    rams_box b = {3, 5, 10, 12};
    rams_zoom_crop(img, S, b, out);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                assert_float_equal(out[(c * S + y) * S + x], 5.0 + x * 7.0 / (S - 1), 1e-5);
    assert_float_equal(out[S - 1], 12.0f, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_cell_component),
        cmocka_unit_test(test_diagonal_cells_are_connected),
        cmocka_unit_test(test_tie_goes_to_first_in_row_major_order),
        cmocka_unit_test(test_larger_component_wins_over_earlier),
        cmocka_unit_test(test_box_touching_bottom_and_left),
        cmocka_unit_test(test_threshold_is_strict),
        cmocka_unit_test(test_uniform_map_falls_back_to_whole_image),
        cmocka_unit_test(test_degenerate_maps_give_empty_masks),
        cmocka_unit_test(test_rollout_vector_chain_equals_matrix_product),
        cmocka_unit_test(test_zoom_of_whole_image_is_identity),
        cmocka_unit_test(test_zoom_interpolates_with_aligned_corners),
    };
    return cmocka_run_group_tests_name("dppm", tests, NULL, NULL);
}
