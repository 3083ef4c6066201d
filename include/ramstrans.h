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
#define RAMSTRANS_VERSION_MINOR 1
#define RAMSTRANS_VERSION_PATCH 0
#define RAMSTRANS_VERSION_NUMBER \
    (RAMSTRANS_VERSION_MAJOR * 10000 + RAMSTRANS_VERSION_MINOR * 100 + RAMSTRANS_VERSION_PATCH)
#define RAMSTRANS_VERSION_STRING "0.1.0"

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

/* ---- Model -------------------------------------------------------------------------------- */
typedef struct rams_model rams_model;

typedef enum {
    RAMS_MODE_DEFAULT = 0, /* the model file's default mode                                     */
    RAMS_MODE_SCALE1 = 1,  /* the full image only: one pass, no DPPM                              */
    RAMS_MODE_SCALE2 = 2,  /* the prediction of the zoomed pass (scale 1 still runs for the box)  */
    RAMS_MODE_FUSED = 3    /* the mean of the two scales' softmax probabilities                   */
} rams_mode;

RAMS_API const char *rams_mode_name(rams_mode mode);      /* "scale1", ...; "default" for 0   */
/* "scale1", "scale2", "fused" or "default" to *out; anything else (or NULL) is
 * RAMS_ERR_INVALID_ARGUMENT and leaves *out alone. */
RAMS_API rams_status rams_mode_parse(const char *name, rams_mode *out);

typedef struct {
    int use_mmap;          /* 1 (default): map the file; f32 weights are used in place          */
    size_t max_file_bytes; /* refuse larger model files; 0 = no limit (default 16 GiB)         */
} rams_model_params;

RAMS_API rams_model_params rams_model_default_params(void);

/* Loads and validates a model file.  path NULL: the default model (rams_default_model_path()). */
RAMS_API rams_status rams_model_load(const char *path, const rams_model_params *params,
                                     rams_model **out);

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
    const char *dtype;               /* "F32", "F16", "BF16" or "mixed"                          */
    size_t file_bytes;
    rams_preprocess preprocess;
} rams_model_info;

RAMS_API rams_status rams_model_get_info(const rams_model *model, rams_model_info *out);
RAMS_API const char *rams_model_label(const rams_model *model, int index); /* NULL if out of range */

/* ---- Running ------------------------------------------------------------------------------ */
typedef struct rams_context rams_context;

/* A context holds the scratch memory of one run and the threads that run it; it may be reused for
 * any number of runs, but by one caller at a time.  Many contexts may share one model. */
typedef struct {
    int threads;   /* threads one run uses, the caller's included; 0 (default) = the online CPUs.
                    * Several contexts working at once should share the cores between them (e.g.
                    * one thread each).  libramstrans parallelises its own loops and GEMMs, so it
                    * sets OpenBLAS to one thread (openblas_set_num_threads(1)), process-wide. */
} rams_context_params;

RAMS_API rams_context_params rams_context_default_params(void);

/* params NULL: the defaults.  The context uses the model until rams_context_free: free it before
 * the model (rams_model_free refuses while it lives). */
RAMS_API rams_status rams_context_create(const rams_model *model, const rams_context_params *params,
                                         rams_context **out);
RAMS_API void rams_context_free(rams_context *ctx);

typedef struct {
    rams_mode mode;        /* RAMS_MODE_DEFAULT: the model's                                    */
    int top_k;             /* predictions in rams_result.top (default 5, clipped to classes)    */
    int want_rollout;      /* fill rams_result.rollout and .mask (G x G)                         */
    int want_crop;         /* fill rams_result.crop (the zoomed scale-2 input, 3 x S x S)        */
    size_t max_pixels;     /* images above this many pixels are refused (RAMS_ERR_LIMIT); 0 = the
                            * library default, 100 000 000, in every call (classify_file, _rgb) */
} rams_run_params;

RAMS_API rams_run_params rams_run_default_params(void);

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
    rams_mode mode;              /* the mode that ran (never RAMS_MODE_DEFAULT)                 */
    int num_classes;
    int top_k;
    const rams_prediction *top;  /* top_k predictions of `mode`, most probable first            */
    const float *probs;          /* num_classes probabilities of `mode`                         */
    const float *logits_scale1;  /* num_classes                                                 */
    const float *logits_scale2;  /* num_classes, NULL when no second pass ran                   */
    int has_box;                 /* 1 when DPPM ran (modes scale2, fused)                        */
    int box_is_fallback;         /* 1 when the mask was empty and the whole input was used       */
    rams_box box;                /* in input-tensor pixels                                      */
    int has_image_box;           /* 1 when the input was an image (classify_file / _image)      */
    rams_box image_box;          /* the box mapped back into the original image's pixels        */
    int image_width, image_height;
    int grid;                    /* G                                                          */
    const float *rollout;        /* G*G normalised map p = v / max(v), if want_rollout and DPPM ran */
    const unsigned char *mask;   /* G*G: 1 thresholded, 2 in the kept component, else 0          */
    float threshold;             /* alpha * mean(p)                                             */
    const float *crop;           /* 3*S*S zoomed crop, if want_crop and DPPM ran                 */
} rams_result;

/* Classifies an already preprocessed float32 tensor of shape 3 x S x S (channel-major). */
RAMS_API rams_status rams_classify_tensor(rams_context *ctx, const float *chw, int channels,
                                          int height, int width, const rams_run_params *params,
                                          rams_result *out);

/* Decodes (JPEG, PNG by content; .npy holding a 3 x S x S float32 tensor), preprocesses as the
 * model file says, and classifies. */
RAMS_API rams_status rams_classify_file(rams_context *ctx, const char *path,
                                        const rams_run_params *params, rams_result *out);

/* Same, for an 8-bit RGB image already in memory (rows of width*3 bytes, stride in bytes). */
RAMS_API rams_status rams_classify_rgb(rams_context *ctx, const uint8_t *rgb, int width, int height,
                                       size_t stride, const rams_run_params *params, rams_result *out);

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

#endif

#ifdef __cplusplus
}
#endif
#endif /* RAMSTRANS_H */
