/* The int8 GEMM kernels (src/kernels/gemm_int8*.c, issue 13): every kernel this CPU runs gives
 * exactly the portable kernel's int32 sums and float outputs, on shapes with ragged edges and on
 * the extreme values (every activation 255, every weight +-127) where a saturating instruction
 * would show; the kernels this CPU lacks are named and skipped, and their loops run anyway with the
 * instructions emulated in C (tests/emulate_int8.h).  Also the q8 weight rule (ties to
 * even, zero rows, denormal rows, clamping) and the per-row activation quantization. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/gemm_int8.h"

#ifdef RAMS_TEST_EMULATED_INT8
extern const rams_i8_kernel rams_i8_kernel_amx_emulated, rams_i8_kernel_avx512vnni_emulated,
    rams_i8_kernel_avxvnni_emulated;
#endif

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float rnd_float(void) { return (float)(rnd() % 2000001) / 1e6f - 1.0f; }

typedef struct {
    int rows, n, k;
    int extreme; /* 1: activations 255 and weights +-127 everywhere */
} shape;

static const shape shapes[] = {
    {1, 200, 768, 0},
    {7, 33, 100, 0},
    {50, 768, 768, 0},
    {13, 64, 3072, 0},
    {33, 100, 64, 0},
    {96, 48, 130, 0},
    {5, 1, 5, 0},
    {37, 3072, 768, 0},
    {40, 96, 3072, 1},
    {12, 40, 700, 1},
    /* small enough for the emulated kernels, and wider than one column block of the driver
     * (I8_BLOCK_BYTES: 64 columns at k 3072, 256 at k 768), the last one ragged */
    {3, 130, 3072, 0},
    {3, 300, 768, 1},
};

/* The int32 sums by the definition, from the unpacked operands. */
static void naive(const uint8_t *a, const int8_t *w, int rows, int n, int k, int32_t *c)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            int64_t s = 0;
            for (int i = 0; i < k; i++) s += (int64_t)a[(size_t)r * k + i] * w[(size_t)j * k + i];
            assert_true(s >= INT32_MIN && s <= INT32_MAX);
            c[(size_t)r * n + j] = (int32_t)s;
        }
}

/* The activations of `a8` (rows x k, uint8) in kernel kr's layout, rows padded to its mr. */
static void *layout_activations(const rams_i8_kernel *kr, const uint8_t *a8, int rows, int k, int k_pad,
                                size_t *stride)
{
    *stride = rams_i8_a_row_bytes(kr, k_pad);
    int rows_pad = rams_i8_round_up(rows, kr->mr);
    uint8_t *buf = calloc((size_t)rows_pad, *stride);
    assert_non_null(buf);
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < k; i++) {
            if (kr->a_int16) ((int16_t *)(buf + (size_t)r * *stride))[i] = a8[(size_t)r * k + i];
            else buf[(size_t)r * *stride + i] = a8[(size_t)r * k + i];
        }
    return buf;
}

static void *pack(const rams_i8_kernel *kr, const int8_t *w, const float *scale, int n, int k,
                  rams_i8_matrix *m)
{
    size_t bytes = (rams_i8_packed_bytes(n, k) + 63) / 64 * 64;
    void *block = aligned_alloc(64, bytes);
    assert_non_null(block);
    memset(block, 0x5a, bytes); /* any contents */
    rams_i8_pack(kr, block, n, k, w, scale);
    *m = rams_i8_view(kr, block, n, k);
    return block;
}

/* Runs kernel kr on the shapes against the naive sums and the portable kernel's floats;
 * max_macs skips the largest shapes (for the emulated kernels). */
static void check_kernel(const rams_i8_kernel *kr, double max_macs)
{
    const rams_i8_kernel *ref = rams_i8_kernel_get(RAMS_I8_PORTABLE);
    int tested = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *sh = &shapes[s];
        int rows = sh->rows, n = sh->n, k = sh->k;
        if ((double)rows * n * k > max_macs) continue;
        tested++;
        uint8_t *a8 = malloc((size_t)rows * k);
        int8_t *w = malloc((size_t)n * k);
        float *scale = malloc((size_t)n * sizeof *scale), *a_scale = malloc((size_t)rows * sizeof *a_scale);
        int32_t *a_zero = malloc((size_t)rows * sizeof *a_zero);
        int32_t *want = malloc((size_t)rows * n * sizeof *want), *got = calloc((size_t)rows * n, sizeof *got);
        float *out = malloc((size_t)rows * n * sizeof *out),
              *out_ref = malloc((size_t)rows * n * sizeof *out_ref);
        assert_true(a8 && w && scale && a_scale && a_zero && want && got && out && out_ref);
        for (size_t i = 0; i < (size_t)rows * k; i++) a8[i] = sh->extreme ? 255 : (uint8_t)(rnd() & 255);
        for (size_t i = 0; i < (size_t)n * k; i++)
            w[i] = sh->extreme ? (rnd() & 1 ? 127 : -127) : (int8_t)((int)(rnd() % 255) - 127);
        if (sh->extreme) /* one column all +127, one all -127: the largest sums of either sign */
            for (int i = 0; i < k; i++) w[i] = 127, w[(size_t)(n - 1) * k + i] = -127;
        for (int j = 0; j < n; j++) scale[j] = (float)(rnd() % 1000 + 1) * 1e-5f;
        for (int r = 0; r < rows; r++)
            a_scale[r] = (float)(rnd() % 1000 + 1) * 1e-4f, a_zero[r] = (int32_t)(rnd() % 256);
        naive(a8, w, rows, n, k, want);

        rams_i8_matrix m, mref;
        void *block = pack(kr, w, scale, n, k, &m), *block_ref = pack(ref, w, scale, n, k, &mref);
        size_t stride, stride_ref;
        void *a = layout_activations(kr, a8, rows, k, m.k_pad, &stride);
        void *aref = layout_activations(ref, a8, rows, k, mref.k_pad, &stride_ref);

        rams_i8_gemm_int32(&m, a, stride, rows, got, n);
        for (size_t i = 0; i < (size_t)rows * n; i++)
            if (got[i] != want[i])
                fail_msg("%s, %dx%dx%d: sum [%zu][%zu] = %d, the definition gives %d", kr->name, rows, n, k,
                         i / n, i % n, got[i], want[i]);

        for (size_t i = 0; i < (size_t)rows * n; i++) out[i] = out_ref[i] = (float)(i % 7) - 3.0f;
        rams_i8_gemm(&m, a, stride, a_scale, a_zero, rows, out, n);
        rams_i8_gemm(&mref, aref, stride_ref, a_scale, a_zero, rows, out_ref, n);
        assert_memory_equal(out, out_ref, (size_t)rows * n * sizeof *out);
        /* and the epilogue is the documented formula */
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < n; j++) {
                size_t i = (size_t)r * n + j;
                int32_t wsum = 0;
                for (int t = 0; t < k; t++) wsum += w[(size_t)j * k + t];
                volatile float coef = a_scale[r] * scale[j];
                volatile float v = (float)(want[i] - a_zero[r] * wsum);
                volatile float prod = v * coef;
                float expect = ((float)(i % 7) - 3.0f) + prod;
                if (memcmp(&expect, &out[i], sizeof expect))
                    fail_msg("%s, %dx%dx%d: out[%d][%d] = %.9g, the epilogue's formula gives %.9g", kr->name,
                             rows, n, k, r, j, (double)out[i], (double)expect);
            }
        free(block), free(block_ref);
        free(a), free(aref), free(a8), free(w), free(scale), free(a_scale), free(a_zero), free(want),
            free(got);
        free(out), free(out_ref);
    }
    print_message("  %s (tile %dx%d): %d shapes equal to the definition and to int8-portable\n", kr->name,
                  kr->mr, kr->nr, tested);
}

/* The kernel `id` on this CPU, or a visible skip. */
static void check_native(rams_i8_kernel_id id)
{
    const rams_i8_kernel *kr = rams_i8_kernel_get(id);
    if (!kr) {
        print_message("  int8 kernel %d: not built for this architecture: SKIPPED\n", (int)id);
        skip();
    }
    if (!rams_i8_kernel_supported(id)) {
        print_message("  %s: this CPU (or OS) lacks its instructions: SKIPPED, not run natively here "
                      "(its loops run emulated below)\n",
                      kr->name);
        skip();
    }
    check_kernel(kr, 1e12);
}

static void test_portable(void **state)
{
    (void)state;
    check_native(RAMS_I8_PORTABLE);
}
static void test_avx2(void **state)
{
    (void)state;
    check_native(RAMS_I8_AVX2);
}
static void test_avxvnni(void **state)
{
    (void)state;
    check_native(RAMS_I8_AVXVNNI);
}
static void test_avx512vnni(void **state)
{
    (void)state;
    check_native(RAMS_I8_AVX512VNNI);
}
static void test_amx(void **state)
{
    (void)state;
    check_native(RAMS_I8_AMX);
}

#ifdef RAMS_TEST_EMULATED_INT8
static void test_emulated(void **state)
{
    (void)state;
    check_kernel(&rams_i8_kernel_avxvnni_emulated, 5e6);
    check_kernel(&rams_i8_kernel_avx512vnni_emulated, 5e6);
    check_kernel(&rams_i8_kernel_amx_emulated, 5e6);
}
#else
static void test_emulated(void **state)
{
    (void)state;
    print_message("  emulated kernels: not built here (x86-64 only): SKIPPED\n");
    skip();
}
#endif

static void test_supported(void **state)
{
    (void)state;
    print_message("  int8 kernels this CPU runs:");
    for (int id = 0; id < RAMS_I8_KERNEL_COUNT; id++) {
        const rams_i8_kernel *k = rams_i8_kernel_get((rams_i8_kernel_id)id);
        if (k)
            print_message(" %s%s", k->name, rams_i8_kernel_supported((rams_i8_kernel_id)id) ? "" : " (no)");
    }
    print_message("\n");
    assert_true(rams_i8_kernel_supported(RAMS_I8_PORTABLE));
}

/* The q8 rule: scale = max|w| / 127 in float, q = rint(w / scale) ties to even, within +-127. */
static void test_q8_rule(void **state)
{
    (void)state;
    enum { COLS = 9 };
    /* Row 0: scale 1 exactly (max 127), ties at .5 go to even. */
    float w[6][COLS] = {
        {127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, -127.0f},
        {0},                                                          /* all zero       */
        {1e-45f, -1e-45f, 0, 0, 0, 0, 0, 0, 0},                       /* scale underflows */
        {1e-39f, -5e-40f, 2e-40f, 0, 0, 0, 0, 0, 0},                  /* denormal row   */
        {3.0f, -3.0f, 1.0f, -1.0f, 0.1f, 2.999f, -2.0f, 0.0f, -0.0f}, /* +-max           */
        {-1e30f, 1e30f, 5e29f, -1e-30f, 0, 0, 0, 0, 1.0f},            /* huge           */
    };
    int8_t q[6][COLS];
    float scale[6];
    rams_q8_quantize_matrix(&w[0][0], 6, COLS, &q[0][0], scale);
    assert_true(scale[0] == 1.0f);
    const int8_t want0[COLS] = {127, 0, 2, 2, 0, -2, -2, 126, -127};
    assert_memory_equal(q[0], want0, COLS);
    assert_true(scale[1] == 0.0f);
    for (int i = 0; i < COLS; i++) assert_int_equal(q[1][i], 0);
    assert_true(scale[2] == 0.0f); /* 1e-45 / 127 underflows to 0: the row is zeros */
    for (int i = 0; i < COLS; i++) assert_int_equal(q[2][i], 0);
    assert_true(scale[3] > 0.0f);
    assert_int_equal(q[3][0], 127);
    for (int r = 3; r < 6; r++)
        for (int i = 0; i < COLS; i++) {
            assert_true(q[r][i] >= -127 && q[r][i] <= 127);
            /* within half a step of the weight (a step may be coarse in a denormal row) */
            assert_true(fabs((double)q[r][i] * scale[r] - w[r][i]) <= 0.5 * scale[r] * 1.0001 + 1e-45);
        }
    assert_int_equal(q[4][0], 127);
    assert_int_equal(q[4][1], -127);
    assert_int_equal(q[5][1], 127);
    assert_int_equal(q[5][0], -127);
}

/* Activations: asymmetric per row, zero exact, within half a step, padding rows zeroed. */
static void test_quantize_rows(void **state)
{
    (void)state;
    enum { ROWS = 5, K = 70 };
    float x[ROWS][K];
    for (int i = 0; i < K; i++) {
        x[0][i] = rnd_float() * 3.0f;
        x[1][i] = 0.0f;                           /* zeros                        */
        x[2][i] = 0.25f + (float)i;               /* positive only: range from 0   */
        x[3][i] = -(float)i * 1e-3f;              /* negative only                */
        x[4][i] = i == 3 ? 1000.0f : rnd_float(); /* an outlier                 */
    }
    const rams_i8_kernel *all[RAMS_I8_KERNEL_COUNT + 3];
    int count = 0;
    for (int id = 0; id < RAMS_I8_KERNEL_COUNT; id++)
        if (rams_i8_kernel_supported((rams_i8_kernel_id)id))
            all[count++] = rams_i8_kernel_get((rams_i8_kernel_id)id);
#ifdef RAMS_TEST_EMULATED_INT8
    all[count++] = &rams_i8_kernel_avxvnni_emulated;
    all[count++] = &rams_i8_kernel_avx512vnni_emulated;
    all[count++] = &rams_i8_kernel_amx_emulated;
#endif
    uint8_t ref[ROWS][K];
    float ref_scale[ROWS];
    int32_t ref_zero[ROWS];
    for (int n = 0; n < count; n++) {
        const rams_i8_kernel *kr = all[n];
        int k_pad = rams_i8_round_up(K, RAMS_I8_K_ALIGN), rows_pad = rams_i8_round_up(ROWS, kr->mr);
        size_t stride = rams_i8_a_row_bytes(kr, k_pad);
        uint8_t *a = malloc((size_t)rows_pad * stride);
        assert_non_null(a);
        memset(a, 0xab, (size_t)rows_pad * stride);
        float sc[ROWS];
        int32_t z[ROWS];
        rams_i8_quantize_rows(kr, &x[0][0], K, ROWS, K, k_pad, a, stride, sc, z);
        for (int r = 0; r < rows_pad; r++)
            for (int i = 0; i < k_pad; i++) {
                int v = kr->a_int16 ? ((int16_t *)(a + (size_t)r * stride))[i] : a[(size_t)r * stride + i];
                assert_true(v >= 0 && v <= 255);
                if (r >= ROWS || i >= K) {
                    assert_int_equal(v, 0);
                    continue;
                }
                double back = (double)(v - z[r]) * sc[r];
                assert_true(fabs(back - x[r][i]) <= 0.5 * sc[r] * 1.0001);
            }
        assert_true(sc[1] == 1.0f && z[1] == 0);
        assert_int_equal(z[2], 0);
        assert_int_equal(z[3], 255);
        /* every kernel's quantizer (each compiled for its instruction set) gives the same values */
        for (int r = 0; r < ROWS; r++)
            for (int i = 0; i < K; i++) {
                uint8_t v = (uint8_t)(kr->a_int16 ? ((int16_t *)(a + (size_t)r * stride))[i]
                                                  : a[(size_t)r * stride + i]);
                if (n == 0) ref[r][i] = v;
                else assert_int_equal(v, ref[r][i]);
            }
        if (n == 0) memcpy(ref_scale, sc, sizeof sc), memcpy(ref_zero, z, sizeof z);
        assert_memory_equal(sc, ref_scale, sizeof sc);
        assert_memory_equal(z, ref_zero, sizeof z);
        free(a);
    }
    print_message("  activations: %d quantizers (native and emulated) give the same bytes\n", count);
}

static const rams_i8_kernel *one_kernel;
static void test_one(void **state)
{
    (void)state;
    check_kernel(one_kernel, 1e12);
}

/* `test_gemm_int8 KERNEL` checks one kernel (int8-avx2, ...) and exits 77 (ctest: skipped, shown
 * as such) when this CPU cannot run it; without an argument every test runs, the kernels this CPU
 * lacks skipped by name. */
int main(int argc, char **argv)
{
    if (argc > 1) {
        for (int id = 0; id < RAMS_I8_KERNEL_COUNT; id++) {
            const rams_i8_kernel *k = rams_i8_kernel_get((rams_i8_kernel_id)id);
            if (!k || strcmp(k->name, argv[1])) continue;
            if (!rams_i8_kernel_supported(k->id)) {
                fprintf(stderr,
                        "%s: this CPU (or OS) lacks its instructions: SKIPPED, not run natively here\n",
                        k->name);
                return 77;
            }
            one_kernel = k;
            const struct CMUnitTest one[] = {cmocka_unit_test(test_one)};
            return cmocka_run_group_tests_name(k->name, one, NULL, NULL);
        }
        fprintf(stderr, "%s: no such int8 kernel in this build: SKIPPED\n", argv[1]);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_rule),    cmocka_unit_test(test_quantize_rows),
        cmocka_unit_test(test_supported),  cmocka_unit_test(test_portable),
        cmocka_unit_test(test_avx2),       cmocka_unit_test(test_avxvnni),
        cmocka_unit_test(test_avx512vnni), cmocka_unit_test(test_amx),
        cmocka_unit_test(test_emulated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
