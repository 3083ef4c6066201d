/* Matrix-product backends: the kernels Linear layers run on, one per precision and instruction set,
 * chosen when a model is loaded (rams_model_params.precision and .kernel) by what this CPU runs
 * (cpu.h).  Every backend computes out[rows, out_dim] += in[rows, in_dim] . W^T with W a Linear's
 * weight [out_dim, in_dim] as PyTorch stores it, row-major, with row strides in elements; `in` and
 * `out` are always float32.
 *
 *   openblas-sgemm  f32: the weights used as they are (in the mapped file), OpenBLAS sgemm/sgemv
 *                   (gemm_f32.c); the exact path.
 *   bf16-amx        bf16 weights packed at load, activations rounded to bf16 at each product, AMX
 *                   tiles accumulating in f32 (gemm_bf16_amx.c).
 *   bf16-avx512     the same packed weights, AVX512-BF16 vdpbf16ps (gemm_bf16_avx512.c).
 *   bf16-portable   the same numerics (operands rounded to bf16, f32 accumulation) on any CPU
 *                   (gemm_bf16.c): bf16 weights widened a panel at a time, OpenBLAS sgemm.
 *
 * A backend for another precision (int8: gemm_int8*.c) fills the same table: `pack` turns each
 * weight matrix, read one output row at a time as f32, into its layout once at load (per-channel
 * scales and all, inside its packed bytes); `gemm` gets f32 activations and writes f32 outputs
 * (quantising the activations per row inside, in its per-thread scratch); `scratch_bytes` tells
 * the context how much scratch each thread needs; gemm.c lists it in the registry. */
#ifndef RAMS_KERNELS_GEMM_H
#define RAMS_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "ramstrans.h"

/* A Linear layer's weight matrix W [out_dim, in_dim] as the model's backend holds it. */
typedef struct {
    int out_dim, in_dim;
    const float *f32;   /* backends without `pack`: the f32 weights (mapped, or widened at load) */
    const void *packed; /* backends with `pack`: the backend's layout, made once at load;
                          * 64-byte aligned; NULL for f32                                        */
} rams_matrix;

/* Reads output row `row` of a weight tensor as float32 into dst[in_dim] (for `pack`). */
typedef void (*rams_row_reader)(const void *src, int row, float *dst);

/* An f32 matrix [out_dim, in_dim] in memory, element (o, i) at w[o * row_stride + i * col_stride]:
 * a dense row-major matrix (in_dim, 1), a column slice of one (its row length, 1), or a transposed
 * one (1, its row length).  rams_read_strided_row is its rams_row_reader. */
typedef struct {
    const float *w;
    int in_dim;
    size_t row_stride, col_stride;
} rams_strided_rows;
void rams_read_strided_row(const void *src, int row, float *dst);

typedef struct rams_gemm_backend {
    const char *name; /* "bf16-amx", ...: what rams_model_info.kernel reports           */
    rams_precision precision;
    const char *needs;      /* what the CPU must offer, for messages ("AMX-BF16")             */
    int (*available)(void); /* 1 when this CPU and OS run it                                   */
    /* Bytes of an [out_dim, in_dim] matrix in the packed layout; NULL: the backend reads `f32`. */
    size_t (*packed_bytes)(int out_dim, int in_dim);
    /* Fills dst (packed_bytes, 64-byte aligned, any contents) from the rows `read` gives; `row` is
     * room for one row of in_dim floats. */
    void (*pack)(void *dst, int out_dim, int in_dim, rams_row_reader read, const void *src, float *row);
    /* Per-thread scratch that lets `gemm` take `rows` rows of in_dim inputs in one sweep (it works
     * in row blocks when given less, but never with less than scratch_bytes(1, in_dim)). */
    size_t (*scratch_bytes)(int rows, int in_dim);
    void (*gemm)(float *out, int out_stride, const float *in, int in_stride, int rows, const rams_matrix *W,
                 void *scratch, size_t scratch_bytes);
    /* int8 backends (gemm_int8.c): packs a q8 model file's int8 weights q[out_dim][in_dim] with
     * their per-row scales as they are (never through f32, so the file's scales are kept bit for
     * bit); NULL elsewhere.  A matrix the int8 precision keeps in f32 (the patch embedding) is
     * bound as `f32` with `packed` NULL, and the int8 `gemm` runs it through OpenBLAS. */
    void (*pack_q8)(void *dst, int out_dim, int in_dim, const int8_t *q, const float *scale);
} rams_gemm_backend;

/* `available` of a backend that runs on any CPU. */
static inline int rams_gemm_always_available(void) { return 1; }

/* The registry (gemm.c). */
const rams_gemm_backend *rams_gemm_backend_named(const char *name); /* NULL: no such kernel      */
/* The fastest backend of `precision` this CPU runs, or the one RAMSTRANS_KERNEL names when it is
 * of that precision and runs here; NULL when the precision has none. */
const rams_gemm_backend *rams_gemm_backend_for(rams_precision precision);
/* The same with the reasons: `kernel` (NULL: choose) must be of `precision` and run here; else a
 * message and RAMS_ERR_INVALID_ARGUMENT (no such kernel, another precision) or
 * RAMS_ERR_UNSUPPORTED (this CPU lacks it; int8). */
rams_status rams_gemm_backend_choose(rams_precision precision, const char *kernel,
                                     const rams_gemm_backend **out);
/* The kernel of the attention products (QK^T per head and P.V) of a model loaded in `precision`,
 * into *out: NULL for float32 OpenBLAS sgemm, else a bf16 backend (keys
 * and values packed per head and layer, queries and probabilities rounded to bf16, f32 sums).
 * f32 models always take sgemm (the exact path); bf16 and int8 models take the bf16 AMX or
 * AVX512-BF16 kernel where the CPU has one, since beside tile or vdpbf16ps products the f32
 * attention would be most of a pass; elsewhere sgemm (bf16-portable would be slower than it).
 * RAMSTRANS_ATTENTION_KERNEL (tests, measurements) overrides for bf16 and int8 models: "f32"
 * or a bf16 kernel's name; one this CPU cannot run is refused like RAMSTRANS_KERNEL's. */
rams_status rams_attention_backend_choose(rams_precision precision, const rams_gemm_backend **out);

/* Every backend, fastest first within a precision; NULL-terminated (tests walk it). */
extern const rams_gemm_backend *const rams_gemm_backends[];

/* One pool thread's view: the model's backend and this thread's scratch. */
typedef struct {
    const rams_gemm_backend *be;
    void *scratch;
    size_t scratch_bytes;
} rams_gemm_thread;

/* float32, single-threaded OpenBLAS (the library's pool owns the threads); GEMV for one row. */
void rams_gemm_f32(float *out, int out_stride, const float *in, int in_stride, int rows, int in_dim,
                   const float *W, int out_dim);

/* bfloat16: round to nearest even (NaN kept a NaN), and back (exact). */
static inline uint16_t rams_f32_to_bf16(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}
static inline float rams_bf16_to_f32(uint16_t h)
{
    union {
        uint32_t u;
        float f;
    } v = {(uint32_t)h << 16};
    return v.f;
}
static inline float rams_round_bf16(float f) { return rams_bf16_to_f32(rams_f32_to_bf16(f)); }

/* The packed layout the AMX and AVX512-BF16 kernels share (gemm_bf16_pack.c): W^T in pairs of
 * inputs ("VNNI" order), in panels of 16 outputs: element (o, i) at
 *   panel o / 16, pair i / 2, column o % 16, i % 2  ->  ((o/16) * Kp/2 + i/2) * 32 + (o%16) * 2 + i%2
 * with in_dim padded with zeros to Kp (a multiple of 32, AMX's tile depth) and out_dim with zero
 * panels to an even number of panels (the kernels take two at a time).  One tile row (16 columns x
 * 2 inputs = 64 bytes) is one pair of one panel; a panel is Kp * 16 values. */
#define RAMS_BF16_KSTEP 32
static inline int rams_bf16_kpad(int in_dim)
{
    return (in_dim + RAMS_BF16_KSTEP - 1) / RAMS_BF16_KSTEP * RAMS_BF16_KSTEP;
}
size_t rams_bf16_vnni_bytes(int out_dim, int in_dim);
void rams_bf16_vnni_pack(void *dst, int out_dim, int in_dim, rams_row_reader read, const void *src,
                         float *row);

#endif
