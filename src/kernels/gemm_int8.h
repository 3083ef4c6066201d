/* The int8 GEMM backend (issue 13): out[rows, n] += dequant(A_q . W_q^T), where
 *
 *   W_q  int8 [n, k], one float scale per output row (channel): w[j][i] ~ W_q[j][i] * w_scale[j],
 *        the model file's q8 tensors (README, "The model file") or quantized at load by the same rule;
 *   A_q  uint8 [rows, k], one scale and one zero point per row (token):
 *        x[r][i] ~ (A_q[r][i] - a_zero[r]) * a_scale[r].
 *
 * The products are summed in int32, which is exact (|sum| <= 255 * 127 * k < 2^31 for k <= 66 000),
 * so every kernel gives the same integers and, through the one shared epilogue, the same floats:
 *
 *   out[r][j] += (float)(sum_i A_q[r][i] * W_q[j][i] - a_zero[r] * wsum[j]) * (a_scale[r] * w_scale[j])
 *
 * (wsum[j] = sum_i W_q[j][i]; float operations in this order, never contracted into FMAs).
 *
 * Kernels, picked at run time as GEMM backends (gemm.h: int8-amx, int8-avx512-vnni, int8-avx-vnni,
 * int8-avx2, int8-portable): AMX-INT8 (tdpbusd), AVX512-VNNI (vpdpbusd on
 * zmm), AVX-VNNI (vpdpbusd on ymm), AVX2 (operands widened to int16, vpmaddwd: exact, where
 * vpmaddubsw would saturate) and portable C.  Each has its own translation unit compiled for its
 * instruction set; the test (tests/test_gemm_int8.c) checks every kernel this CPU runs against
 * the portable one and names the ones it cannot run. */
#ifndef RAMS_KERNELS_GEMM_INT8_H
#define RAMS_KERNELS_GEMM_INT8_H

#include <stddef.h>
#include <stdint.h>

/* k is padded to a multiple of 64 (one AMX tile's depth), n to a multiple of 32; padding weights
 * are zero, so whatever the activations hold there adds nothing. */
#define RAMS_I8_K_ALIGN 64
#define RAMS_I8_N_ALIGN 32
/* Rows of an activation buffer are padded (with zero rows) to a multiple of the kernel's mr, at
 * most this many. */
#define RAMS_I8_MAX_MR 32

typedef enum {
    RAMS_I8_PORTABLE = 0,
    RAMS_I8_AVX2 = 1,
    RAMS_I8_AVXVNNI = 2,
    RAMS_I8_AVX512VNNI = 3,
    RAMS_I8_AMX = 4,
    RAMS_I8_KERNEL_COUNT = 5
} rams_i8_kernel_id;

typedef struct rams_i8_matrix rams_i8_matrix;

/* One kernel: its tile multiplies an mr x k_pad block of activations by nr weight columns into an
 * mr x nr int32 tile; its loops and epilogue are gemm_int8_driver.h's, compiled for its
 * instruction set. */
typedef struct {
    rams_i8_kernel_id id;
    const char *name; /* its backend's name: "int8-portable", "int8-avx2", ... */
    int mr, nr;
    int a_int16;         /* activations stored as int16 (the uint8 values widened), else uint8 */
    int packed;          /* weights in K4x16 panels (below), else row-major [n_pad][k_pad]       */
    void (*begin)(void); /* once per GEMM call, in the calling thread (AMX: the tile config); may be NULL */
    void (*end)(void);
    void (*gemm)(const rams_i8_matrix *m, const void *a, size_t a_stride, const float *a_scale,
                 const int32_t *a_zero, int rows, float *out, int out_stride);
    void (*gemm_int32)(const rams_i8_matrix *m, const void *a, size_t a_stride, int rows, int32_t *c,
                       int c_stride);
    void (*quantize)(const float *x, int x_stride, int rows, int k, int k_pad, void *a, size_t a_stride,
                     float *a_scale, int32_t *a_zero); /* rams_i8_quantize_rows, compiled for this kernel */
} rams_i8_kernel;

/* K4x16 panels: columns in panels of 16; panel p holds, for each group g of 4 k-indices, the 16
 * columns' 4 weights: byte (g * 16 + c) * 4 + t = W[16p + c][4g + t].  This is the B layout of
 * vpdpbusd (16 int32 lanes of 4 byte pairs) and of AMX's tdpbusd (a B tile is 16 consecutive
 * groups: 16 rows of 64 bytes). */

/* The kernel table entry for `id`, NULL if this build lacks it. */
const rams_i8_kernel *rams_i8_kernel_get(rams_i8_kernel_id id);
/* Whether this CPU (and OS, for AMX's tile state) runs kernel `id` (src/cpu.h). */
int rams_i8_kernel_supported(rams_i8_kernel_id id);

/* A weight matrix as a kernel reads it: a view of one packed block (rams_i8_pack), laid out as
 * weights (n_pad x k_pad bytes, the kernel's layout), then w_scale[n_pad] (0 for padding), then
 * wsum[n_pad] (the sum of each row's int8 weights). */
struct rams_i8_matrix {
    const rams_i8_kernel *kernel;
    int n, k, n_pad, k_pad;
    const int8_t *data;
    const float *scale;
    const int32_t *wsum;
};

static inline int rams_i8_round_up(int v, int align) { return (v + align - 1) / align * align; }

/* The q8 rule (README, "The model file"), the same in tools/model_file.py: per row r,
 * scale = max_i |w[r][i]| / 127 (float32), q = rint(w / scale) (float32 division, ties to even),
 * clamped to [-127, 127]; a row of zeros (or one whose scale underflows to 0) gets scale 0 and
 * q = 0.  Weights must be finite.  Writes q[rows][cols] and scale[rows]. */
void rams_q8_quantize_matrix(const float *w, int rows, int cols, int8_t *q, float *scale);

/* Bytes of the packed block of an n x k matrix (64-byte aligned blocks keep every part aligned). */
size_t rams_i8_packed_bytes(int n, int k);
/* Packs int8 weights q[n][k] and their scales into `block` (rams_i8_packed_bytes, any contents)
 * for `kernel`. */
void rams_i8_pack(const rams_i8_kernel *kernel, void *block, int n, int k, const int8_t *q,
                  const float *scale);
/* The same one row at a time: rams_i8_pack_clear once, then rams_i8_pack_row for each row. */
void rams_i8_pack_clear(void *block, int n, int k);
void rams_i8_pack_row(const rams_i8_kernel *kernel, void *block, int n, int k, int row, const int8_t *q,
                      float scale);
/* The view of a packed block. */
rams_i8_matrix rams_i8_view(const rams_i8_kernel *kernel, const void *block, int n, int k);

/* Activation rows quantized for `kernel`: rows [0, rows) of x (k floats each, x_stride apart) into
 * a (a_stride bytes per row, k_pad values; rows beyond `rows` up to the next multiple of
 * kernel->mr zeroed), with a_scale[rows] and a_zero[rows].  Asymmetric per row: the range
 * [min(x, 0), max(x, 0)] over 255 steps, zero point round(-min / scale); a row of zeros gets
 * scale 1 and zero point 0. */
void rams_i8_quantize_rows(const rams_i8_kernel *kernel, const float *x, int x_stride, int rows, int k,
                           int k_pad, void *a, size_t a_stride, float *a_scale, int32_t *a_zero);

/* Bytes per row of an activation buffer for inner dimension k_pad. */
static inline size_t rams_i8_a_row_bytes(const rams_i8_kernel *kernel, int k_pad)
{
    return (size_t)k_pad * (kernel->a_int16 ? 2 : 1);
}

/* out[r][j] += the dequantized product (the epilogue above) for r < rows, j < m->n. */
void rams_i8_gemm(const rams_i8_matrix *m, const void *a, size_t a_stride, const float *a_scale,
                  const int32_t *a_zero, int rows, float *out, int out_stride);

/* The same product as raw int32 sums, c[r][j] = sum_i A_q[r][i] * W_q[j][i] (c_stride ints per
 * row): what the tests compare between kernels. */
void rams_i8_gemm_int32(const rams_i8_matrix *m, const void *a, size_t a_stride, int rows, int32_t *c,
                        int c_stride);

/* Kernels in their own translation units (each compiled for its instruction set). */
extern const rams_i8_kernel rams_i8_kernel_avx2;
extern const rams_i8_kernel rams_i8_kernel_avxvnni;
extern const rams_i8_kernel rams_i8_kernel_avx512vnni;
extern const rams_i8_kernel rams_i8_kernel_amx;

#endif
