/*
 * libramstrans: RAMS-Trans fine-grained image recognition in C.
 *
 * A model (read-only, shareable between threads) is loaded once from a safetensors file.
 * Each thread that classifies owns a context: the scratch memory of one forward pass and the
 * storage of its last result.  Nothing in the library prints or exits; every function returns a
 * status, and rams_last_error() gives a one-line message for the calling thread's last failure.
 * A NULL pointer where a function wants one (an `out` above all) is RAMS_ERR_INVALID_ARGUMENT,
 * never a crash.
 *
 * Lifetime: the model must outlive its contexts.  Free every context made from a model before
 * the model; rams_model_free on a model with live contexts frees nothing and fails.
 *
 *   rams_model *m;  rams_context *ctx;  rams_result r;
 *   rams_model_params mp = rams_model_default_params();
 *   if (rams_model_load(NULL, &mp, &m) != RAMS_OK) { puts(rams_last_error()); return 1; }
 *   rams_context_create(m, NULL, &ctx);
 *   rams_run_params rp = rams_run_default_params();
 *   if (rams_classify_file(ctx, "bird.jpg", &rp, &r) == RAMS_OK)
 *       printf("%s %.3f\n", r.top[0].label, r.top[0].prob);
 *   rams_context_free(ctx);  rams_model_free(m);
 */
#ifndef RAMSTRANS_H
#define RAMSTRANS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(RAMSTRANS_BUILD_SHARED)
#define RAMS_API __declspec(dllexport)
#elif defined(__GNUC__)
#define RAMS_API __attribute__((visibility("default")))
#else
#define RAMS_API
#endif

/* ---- Version ------------------------------------------------------------------------------ */
#define RAMSTRANS_VERSION_MAJOR 0
#define RAMSTRANS_VERSION_MINOR 3
#define RAMSTRANS_VERSION_PATCH 0
#define RAMSTRANS_VERSION_NUMBER \
    (RAMSTRANS_VERSION_MAJOR * 10000 + RAMSTRANS_VERSION_MINOR * 100 + RAMSTRANS_VERSION_PATCH)
#define RAMSTRANS_VERSION_STRING "0.3.0"

/* The version of the library actually linked (compare with RAMSTRANS_VERSION_NUMBER). */
RAMS_API unsigned rams_version_number(void);
RAMS_API const char *rams_version_string(void);

/* ---- Status ------------------------------------------------------------------------------- */
typedef enum {
    RAMS_OK = 0,
    RAMS_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, an unknown mode, a wrong tensor size      */
    RAMS_ERR_IO = 2,               /* a file could not be opened, mapped or read                */
    RAMS_ERR_FORMAT = 3,           /* malformed content: model file, image, .npy                */
    RAMS_ERR_UNSUPPORTED = 4,      /* well-formed but not supported (dtype, format version)     */
    RAMS_ERR_SHAPE = 5,            /* a tensor's shape disagrees with the architecture          */
    RAMS_ERR_LIMIT = 6,            /* a size above a limit (pixels, header bytes, architecture) */
    RAMS_ERR_NO_MEMORY = 7,        /* an allocation failed                                      */
    RAMS_ERR_INTERNAL = 8
} rams_status;

/* "RAMS_OK", "RAMS_ERR_IO", ...; never NULL. */
RAMS_API const char *rams_status_name(rams_status status);

/* The message of the calling thread's last failed call ("" if none): one line that names the
 * file and the problem.  Valid until the thread's next library call. */
RAMS_API const char *rams_last_error(void);

/* ---- Structs that grow --------------------------------------------------------------------- *
 * Every params struct starts with `size`, and rams_run_params also carries `result_size`.  The
 * *_default_params() functions are inline, so they record the sizes of the structs as declared by
 * the header the caller was compiled with; the library reads only the params fields and writes
 * only the rams_result fields within those sizes (and zeroes result bytes it does not know).  New
 * fields are only ever added at the end, so a binary built against an older 0.2+ header keeps
 * working with a newer library.  Always start from *_default_params(); a NULL params argument
 * means the defaults with the 0.2 result layout.  (0.1's structs had no size: see README.) */

/* ---- Model -------------------------------------------------------------------------------- */
typedef struct rams_model rams_model;

typedef enum {
    RAMS_MODE_DEFAULT = 0, /* the model file's default mode                                     */
    RAMS_MODE_SCALE1 = 1,  /* the full image only: one pass, no DPPM                              */
    RAMS_MODE_SCALE2 = 2,  /* the prediction of the zoomed pass (scale 1 still runs for the box)  */
    RAMS_MODE_FUSED = 3    /* the mean of the two scales' softmax probabilities                   */
} rams_mode;

RAMS_API const char *rams_mode_name(rams_mode mode); /* "scale1", ...; "default" for 0   */
/* "scale1", "scale2", "fused" or "default" to *out; anything else (or NULL) is
 * RAMS_ERR_INVALID_ARGUMENT and leaves *out alone. */
RAMS_API rams_status rams_mode_parse(const char *name, rams_mode *out);

/* The arithmetic of a model's matrix products, chosen when it is loaded (rams_model_params).
 *   F32   float32 throughout: the exact path (OpenBLAS sgemm), the default.
 *   BF16  Linear weights rounded to bfloat16 and packed once at load into the kernel's layout (a
 *         BF16 model file is packed as it is, never widened to f32); activations rounded to bf16
 *         at each matrix product's input, products accumulated in f32.  LayerNorm, softmax, GELU,
 *         the rollout and DPPM stay in f32/double.  About 2e-3 relative error per product.  The
 *         kernel is chosen at run time: AMX-BF16 tiles, else AVX512-BF16, else a portable path
 *         with the same numerics (README.md, "Precision").
 *   INT8  Linear weight matrices as int8 with one f32 scale per output row (a q8 model file's as they
 *         are; an f32/f16/bf16 file's quantized once at load by the same rule, so both run alike),
 *         packed once at load; activations quantized per row (token) to uint8 with a scale and a
 *         zero point at each product's input; int32 sums (exact), dequantized in f32.  The patch
 *         embedding stays f32, and so do LayerNorm, softmax, GELU, the attention products, the
 *         rollout and DPPM.  Kernels: AMX-INT8, AVX512-VNNI, AVX-VNNI, AVX2, portable C, chosen at
 *         run time, all giving the same results (README.md, "Precision").  A q8 file loaded as F32
 *         or BF16 runs its weights dequantized (q * scale). */
typedef enum { RAMS_PRECISION_F32 = 0, RAMS_PRECISION_BF16 = 1, RAMS_PRECISION_INT8 = 2 } rams_precision;

/* "f32", "bf16", "int8"; "unknown" otherwise (never NULL). */
RAMS_API const char *rams_precision_name(rams_precision precision);
/* "f32", "bf16" or "int8" (any case) to *out; anything else (or NULL) is RAMS_ERR_INVALID_ARGUMENT
 * and leaves *out alone. */
RAMS_API rams_status rams_precision_parse(const char *name, rams_precision *out);

typedef struct {
    size_t size;           /* sizeof(rams_model_params), set by rams_model_default_params()     */
    int use_mmap;          /* 1 (default): map the file; f32 weights are used in place          */
    size_t max_file_bytes; /* refuse larger model files; 0 = no limit (default 16 GiB)         */
    /* Appended after the first 0.2 layout (the library reads them only within `size`): */
    rams_precision precision; /* RAMS_PRECISION_F32 (default), BF16 or INT8                   */
    const char *kernel;       /* NULL (default): the fastest kernel of `precision` this CPU runs
                            * (rams_kernel_for); else a kernel name ("bf16-portable", ...) of that
                            * precision: RAMS_ERR_UNSUPPORTED when this CPU cannot run it.  With
                            * NULL, the environment variable RAMSTRANS_KERNEL, when it names a
                            * kernel of `precision`, chooses instead (for tests and benchmarks). */
    /* Appended in 0.3 (an older library reads no further than `kernel`: it packs on one thread): */
    int threads; /* threads that pack a BF16 or INT8 model's weight matrices at load, the caller's
                    * included (started for the load and ended before it returns); 0 (default) =
                    * the online CPUs, 1 = the calling thread only.  The packed weights are the
                    * same bytes on any count; an F32 model packs nothing and starts no thread.
                    * Starting threads sets OpenBLAS to one thread, as a context does.  Outside
                    * 0..256 is RAMS_ERR_INVALID_ARGUMENT. */
} rams_model_params;

/* Fills the defaults of the fields within `size` bytes (size included). */
RAMS_API void rams_model_params_init(rams_model_params *params, size_t size);
static inline rams_model_params rams_model_default_params(void)
{
    rams_model_params p;
    rams_model_params_init(&p, sizeof p);
    return p;
}

/* Loads and validates a model file.  path NULL: the default model (rams_default_model_path()). */
RAMS_API rams_status rams_model_load(const char *path, const rams_model_params *params, rams_model **out);

/* Frees a model (NULL: nothing, RAMS_OK).  The model must outlive its contexts: the model counts
 * the contexts made from it that are not yet freed (atomically, so contexts may come and go in
 * several threads), and while any is alive this frees nothing and returns
 * RAMS_ERR_INVALID_ARGUMENT ("... still alive; free them first").  The model then stays valid:
 * free the contexts, then call rams_model_free again.  Freeing a model while another thread
 * creates a context from it is a race the library cannot catch. */
RAMS_API rams_status rams_model_free(rams_model *model);

/* Where rams_model_load(NULL, ...) looks: $RAMSTRANS_MODEL if set, else
 * <the directory of the library or program holding libramstrans>/../share/ramstrans/models/,
 * else the install prefix's share/ramstrans/models/ given at build time, else the source tree's
 * models/ (an uninstalled build).  NULL if none exists. */
RAMS_API const char *rams_default_model_path(void);

typedef enum { RAMS_RESIZE_NONE = 0, RAMS_RESIZE_FIXED = 1, RAMS_RESIZE_SHORTER = 2 } rams_resize_mode;

typedef struct {
    rams_resize_mode resize_mode;
    int resize_width, resize_height; /* RAMS_RESIZE_FIXED                                       */
    int resize_shorter;              /* RAMS_RESIZE_SHORTER: the shorter side's new length      */
    int crop_width, crop_height;     /* center crop; equals the network's input size            */
    float mean[3], std[3];
} rams_preprocess;

typedef struct {
    int image_size, patch_size, grid;
    int hidden_size, num_heads, num_layers, mlp_size, num_classes;
    float ln_eps, alpha;
    rams_mode default_mode;
    const char *dtype; /* "F32", "F16", "BF16", "mixed", or "Q8" (a q8 file: int8
                                      * Linear weights with per-row scales, the rest F32)        */
    size_t file_bytes;
    rams_preprocess preprocess;
    int num_cls_tokens; /* 2 for RAMS-Trans ([cls1, cls2, patches]: scale 1 reads the
                                      * first, scale 2 the second), 1 for a plain ViT ([cls,
                                      * patches]: both scales read it)                           */
    /* Appended after the first 0.2 layout (the library reads them only within `size`): */
    rams_precision precision; /* the precision the model was loaded with                  */
    const char *kernel;       /* the matrix-product kernel it runs on: "openblas-sgemm",
                                      * "bf16-amx", "bf16-avx512", "bf16-portable", "int8-amx",
                                      * "int8-avx512-vnni", "int8-avx-vnni", "int8-avx2" or
                                      * "int8-portable"                                          */
    /* Appended in 0.3 (a 0.2 library leaves it alone): */
    const char *attention_kernel; /* the attention products' (QK^T, PV) kernel: "openblas-sgemm"
                                      * (f32; always for an f32 model), or for a bf16 or int8
                                      * model the bf16 kernel of a CPU with AMX-BF16 or
                                      * AVX512-BF16 ("bf16-amx", "bf16-avx512")                 */
} rams_model_info;

/* Fills the fields of `out` within `out_size` bytes (zeroing any beyond what this library knows).
 * Call it through rams_model_get_info(), which passes the size of the caller's struct. */
RAMS_API rams_status rams_model_get_info_sized(const rams_model *model, rams_model_info *out,
                                               size_t out_size);
static inline rams_status rams_model_get_info(const rams_model *model, rams_model_info *out)
{
    return rams_model_get_info_sized(model, out, sizeof *out);
}
RAMS_API const char *rams_model_label(const rams_model *model, int index); /* NULL if out of range */

/* ---- This CPU ----------------------------------------------------------------------------- */
/* The instruction sets this CPU offers and the operating system enables, as detected with CPUID and
 * XCR0 (and, for AMX tiles, Linux's arch_prctl(ARCH_REQ_XCOMP_PERM)), space-separated from this
 * list: "avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 avx_vnni amx_tile
 * amx_bf16 amx_int8" ("" for none of them).  Never NULL. */
RAMS_API const char *rams_cpu_features(void);

/* The matrix-product kernel a model loaded with `precision` (and no kernel named) runs on here:
 * "openblas-sgemm" for F32; for BF16 "bf16-amx", else "bf16-avx512", else "bf16-portable"; for INT8
 * "int8-amx", else "int8-avx512-vnni", else "int8-avx-vnni", else "int8-avx2", else "int8-portable"
 * (or what RAMSTRANS_KERNEL names, when this CPU runs it).  NULL for an unknown precision. */
RAMS_API const char *rams_kernel_for(rams_precision precision);

/* ---- Running ------------------------------------------------------------------------------ */
typedef struct rams_context rams_context;

/* A context holds the scratch memory of one run and the threads that run it; it may be reused for
 * any number of runs, but by one caller at a time.  Many contexts may share one model. */
typedef struct {
    size_t size; /* sizeof(rams_context_params), set by rams_context_default_params()          */
    int threads; /* threads one run uses, the caller's included; 0 (default) = the online CPUs.
                    * Several contexts working at once should share the cores between them (e.g.
                    * one thread each).  libramstrans parallelises its own loops and GEMMs, so it
                    * sets OpenBLAS to one thread (openblas_set_num_threads(1)), process-wide. */
} rams_context_params;

RAMS_API void rams_context_params_init(rams_context_params *params, size_t size);
static inline rams_context_params rams_context_default_params(void)
{
    rams_context_params p;
    rams_context_params_init(&p, sizeof p);
    return p;
}

/* params NULL: the defaults.  The context uses the model until rams_context_free: free it before
 * the model (rams_model_free refuses while it lives). */
RAMS_API rams_status rams_context_create(const rams_model *model, const rams_context_params *params,
                                         rams_context **out);
RAMS_API void rams_context_free(rams_context *ctx);

typedef struct {
    size_t size;        /* sizeof(rams_run_params), set by rams_run_default_params()         */
    size_t result_size; /* sizeof(rams_result) likewise: the library writes no further       */
    rams_mode mode;     /* RAMS_MODE_DEFAULT: the model's                                    */
    int top_k;          /* predictions in rams_result.top (default 5, clipped to classes)    */
    int want_rollout;   /* fill rams_result.rollout and .mask (G x G)                         */
    int want_crop;      /* fill rams_result.crop (the zoomed scale-2 input, 3 x S x S)        */
    size_t max_pixels;  /* images above this many pixels are refused (RAMS_ERR_LIMIT); 0 = the
                            * library default, 100 000 000, in every call (classify_file, _rgb) */
    int want_image;     /* fill rams_result.image_rgb (the decoded photo; classify_file/_rgb) */
    int want_input;     /* fill rams_result.input (the preprocessed 3 x S x S tensor)         */
} rams_run_params;

/* Fills the defaults of the fields within `size` bytes; records result_size. */
RAMS_API void rams_run_params_init(rams_run_params *params, size_t size, size_t result_size);
/* rams_run_default_params() follows rams_result, whose size it records. */

typedef struct {
    int index;
    const char *label;
    float prob;
} rams_prediction;

/* Inclusive pixel rows/columns of the zoom box in the network's input tensor (SPEC 2.7). */
typedef struct {
    int top, left, bottom, right;
} rams_box;

/* Everything a run gives.  The pointers belong to the context and stay valid until its next run
 * or until it is freed. */
typedef struct {
    rams_mode mode; /* the mode that ran (never RAMS_MODE_DEFAULT)                 */
    int num_classes;
    int top_k;
    const rams_prediction *top; /* top_k predictions of `mode`, most probable first            */
    const float *probs;         /* num_classes probabilities of `mode`                         */
    const float *logits_scale1; /* num_classes                                                 */
    const float *logits_scale2; /* num_classes, NULL when no second pass ran                   */
    int has_box;                /* 1 when DPPM ran (modes scale2, fused)                        */
    int box_is_fallback;        /* 1 when the mask was empty and the whole input was used       */
    rams_box box;               /* in input-tensor pixels                                      */
    int has_image_box;          /* 1 when the input was an image (classify_file / _image)      */
    rams_box image_box;         /* the box mapped back into the original image's pixels        */
    int image_width, image_height;
    int grid;                  /* G                                                          */
    const float *rollout;      /* G*G normalised map p = v / max(v), if want_rollout and DPPM ran */
    const unsigned char *mask; /* G*G: 1 thresholded, 2 in the kept component, else 0          */
    float threshold;           /* alpha * mean(p)                                             */
    const float *crop;         /* 3*S*S zoomed crop, if want_crop and DPPM ran                 */
    /* Per scale, whatever the mode (the probabilities are what `fused` averages, SPEC 3): */
    const float *probs_scale1;         /* num_classes softmax of logits_scale1              */
    const float *probs_scale2;         /* num_classes, NULL when no second pass ran         */
    const float *probs_fused;          /* num_classes, NULL when no second pass ran         */
    const rams_prediction *top_scale1; /* top_k of each, most probable first; the scale-2   */
    const rams_prediction *top_scale2; /* and fused lists NULL when no second pass ran      */
    const rams_prediction *top_fused;
    const uint8_t *image_rgb; /* want_image: image_width x image_height x 3 decoded pixels, rows
                                  * packed; NULL for a tensor input                             */
    const float *input;       /* want_input: the preprocessed network input, 3 x S x S       */
    int input_size;           /* S                                                          */
} rams_result;

static inline rams_run_params rams_run_default_params(void)
{
    rams_run_params p;
    rams_run_params_init(&p, sizeof p, sizeof(rams_result));
    return p;
}

/* Classifies an already preprocessed float32 tensor of shape 3 x S x S (channel-major). */
RAMS_API rams_status rams_classify_tensor(rams_context *ctx, const float *chw, int channels, int height,
                                          int width, const rams_run_params *params, rams_result *out);

/* Decodes (JPEG, PNG, WebP by content; .npy holding a 3 x S x S float32 tensor), preprocesses as the
 * model file says, and classifies. */
RAMS_API rams_status rams_classify_file(rams_context *ctx, const char *path, const rams_run_params *params,
                                        rams_result *out);

/* Same, for an 8-bit RGB image already in memory (rows of width*3 bytes, stride in bytes). */
RAMS_API rams_status rams_classify_rgb(rams_context *ctx, const uint8_t *rgb, int width, int height,
                                       size_t stride, const rams_run_params *params, rams_result *out);

/* ---- Files ------------------------------------------------------------------------------- */
/* What the library can read, judged by a file's first bytes (never its name). */
typedef enum {
    RAMS_FILE_UNKNOWN = 0,
    RAMS_FILE_JPEG = 1,
    RAMS_FILE_PNG = 2,
    RAMS_FILE_NPY = 3,
    RAMS_FILE_WEBP = 4 /* lossy, lossless, with alpha; of an animation the first frame */
} rams_file_kind;

/* "jpeg", "png", "npy", "webp", "unknown" */
RAMS_API const char *rams_file_kind_name(rams_file_kind kind);
/* RAMS_OK with *out = RAMS_FILE_UNKNOWN for a readable file of another kind; RAMS_ERR_IO when it
 * cannot be opened or is not a regular file. */
RAMS_API rams_status rams_file_kind_of(const char *path, rams_file_kind *out);

/* Writes a little-endian float32 array in C order as a .npy file (version 1.0); ndim 1..8. */
RAMS_API rams_status rams_save_npy(const char *path, const float *data, int ndim, const int *shape);

/* ---- Quantization ------------------------------------------------------------------------- */
/* Writes a q8 model file (README.md, "The model file") from a model file with f32, f16 or bf16
 * weights: every Linear weight matrix but the patch embedding as int8 with one f32 scale per output
 * row (scale = max|w| / 127, q = w / scale rounded to nearest even), everything else f32; the same
 * bytes tools/convert.py --dtype q8 writes from the same weights.  The input is validated as
 * rams_model_load validates it; a q8 input is RAMS_ERR_INVALID_ARGUMENT.  The output is written to
 * a temporary file beside it and renamed into place, so a failure never leaves a partial file. */
RAMS_API rams_status rams_quantize_model_file(const char *input_path, const char *output_path);

/* ---- Experimental ------------------------------------------------------------------------- */
/* Not part of the stable API: may change in any minor version.  Define RAMSTRANS_EXPERIMENTAL
 * before including this header to use it. */
#ifdef RAMSTRANS_EXPERIMENTAL
typedef enum {
    RAMS_STAGE_EMBED = 0,   /* scale-1 patch embedding                                     */
    RAMS_STAGE_BLOCKS = 1,  /* scale-1 transformer blocks and final LayerNorm               */
    RAMS_STAGE_ROLLOUT = 2, /* attention rollout                                            */
    RAMS_STAGE_DPPM = 3,    /* threshold, component, box and zoomed crop                    */
    RAMS_STAGE_SCALE2 = 4,  /* the whole scale-2 pass                                       */
    RAMS_STAGE_HEAD = 5,    /* classifier head(s), softmax, top-k                           */
    RAMS_STAGE_COUNT = 6
} rams_stage;

RAMS_API const char *rams_stage_name(rams_stage stage);

/* Seconds each stage took in the context's last successful run. */
RAMS_API rams_status rams_context_stage_seconds(const rams_context *ctx, double seconds[RAMS_STAGE_COUNT]);

/* Floating-point operations one image costs in `mode` (multiply-adds count 2), as this library
 * computes it (the last block only for the CLS row). */
RAMS_API double rams_model_flops(const rams_model *model, rams_mode mode);

/* The machine's f32 matrix-product rate (GFLOP/s) on `threads` threads with the kernels the engine
 * uses, measured on products of the model's shapes over about `seconds`; for `ramscli bench`. */
RAMS_API rams_status rams_measure_gemm_gflops(const rams_model *model, int threads, double seconds,
                                              double *out);

/* The same for a matrix-product kernel by name ("bf16-amx", ...; NULL: the one the model runs on),
 * with its own numerics (a bf16 kernel rounds and packs as the engine does): the machine's bf16
 * rate.  RAMS_ERR_UNSUPPORTED when this CPU cannot run the kernel. */
RAMS_API rams_status rams_measure_kernel_gflops(const rams_model *model, const char *kernel, int threads,
                                                double seconds, double *out);

#endif

#ifdef __cplusplus
}
#endif
#endif /* RAMSTRANS_H */
