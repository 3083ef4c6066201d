/* The public API: model loading, contexts, and a classification from input to result. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAMSTRANS_EXPERIMENTAL

#include "clock.h"
#include "dppm.h"
#include "encoder.h"
#include "error.h"
#include "image.h"
#include "kernels/kernels.h"
#include "memory.h"
#include "model.h"
#include "params.h"
#include "preprocess.h"
#include "threadpool.h"

#ifndef RAMSTRANS_INSTALL_MODEL
#define RAMSTRANS_INSTALL_MODEL ""
#endif
#ifndef RAMSTRANS_SOURCE_MODEL
#define RAMSTRANS_SOURCE_MODEL ""
#endif
#ifndef RAMSTRANS_MODEL_FILE
#define RAMSTRANS_MODEL_FILE "default.safetensors"
#endif

#define RAMS_MAX_TOP_K 1000

unsigned rams_version_number(void) { return RAMSTRANS_VERSION_NUMBER; }
const char *rams_version_string(void) { return RAMSTRANS_VERSION_STRING; }

/* ---- modes --------------------------------------------------------------------------------- */

static const char *const mode_names[] = {"default", "scale1", "scale2", "fused"};

const char *rams_mode_name(rams_mode mode)
{
    return (unsigned)mode < 4 ? mode_names[mode] : "unknown";
}

rams_status rams_mode_parse(const char *name, rams_mode *out)
{
    rams_clear_error();
    if (!out) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_mode_parse: out is NULL");
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, mode_names[i])) {
            *out = (rams_mode)i;
            return RAMS_OK;
        }
    return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "unknown mode \"%s\" (scale1, scale2, fused or default)", name ? name : "(null)");
}

/* ---- model --------------------------------------------------------------------------------- */

/* <dir of the binary holding this library>/../share/ramstrans/models/<name>: an installed tree
 * finds its model wherever it was installed (cmake --install --prefix X, a moved tree). */
static const char *model_beside_library(void)
{
    static _Thread_local char path[4096];
    Dl_info info;
    if (!dladdr((void *)&rams_default_model_path, &info) || !info.dli_fname) return NULL;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", info.dli_fname);
    char *slash = strrchr(dir, '/');
    if (!slash) return NULL;
    *slash = '\0';
    if (snprintf(path, sizeof path, "%s/../share/ramstrans/models/%s", dir, RAMSTRANS_MODEL_FILE) >= (int)sizeof path)
        return NULL;
    return access(path, R_OK) == 0 ? path : NULL;
}

const char *rams_default_model_path(void)
{
    const char *env = getenv("RAMSTRANS_MODEL");
    if (env && *env) return env;
    const char *beside = model_beside_library();
    if (beside) return beside;
    if (*RAMSTRANS_INSTALL_MODEL && access(RAMSTRANS_INSTALL_MODEL, R_OK) == 0) return RAMSTRANS_INSTALL_MODEL;
    if (*RAMSTRANS_SOURCE_MODEL && access(RAMSTRANS_SOURCE_MODEL, R_OK) == 0) return RAMSTRANS_SOURCE_MODEL;
    return NULL;
}

rams_status rams_model_load(const char *path, const rams_model_params *params, rams_model **out)
{
    rams_clear_error();
    if (!out) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_model_load: out is NULL");
    *out = NULL;
    if (!path) path = rams_default_model_path();
    if (!path)
        return rams_fail(RAMS_ERR_IO, "no model given and no default model found (set RAMSTRANS_MODEL, or install one under %s)",
                         *RAMSTRANS_INSTALL_MODEL ? RAMSTRANS_INSTALL_MODEL : "share/ramstrans/models");
    rams_model_params p;
    rams_status st = rams_model_params_resolve(params, "rams_model_load", &p);
    if (st != RAMS_OK) return st;
    rams_model *m = calloc(1, sizeof *m);
    if (!m) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory", path);
    atomic_init(&m->contexts, 0);
    st = rams_model_file_parse(path, &p, m);
    if (st != RAMS_OK) {
        rams_model_file_release(m);
        free(m);
        return st;
    }
    *out = m;
    return RAMS_OK;
}

/* Contexts point into the model (weights, labels, configuration): freeing it under them would
 * leave every later run reading freed memory, so the model stays until they are gone. */
rams_status rams_model_free(rams_model *model)
{
    rams_clear_error();
    if (!model) return RAMS_OK;
    int live = atomic_load(&model->contexts);
    if (live > 0)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT,
                         "rams_model_free: %d context%s made from this model %s still alive; free %s first (the model was not freed)",
                         live, live == 1 ? "" : "s", live == 1 ? "is" : "are", live == 1 ? "it" : "them");
    rams_model_file_release(model);
    free(model);
    return RAMS_OK;
}

rams_status rams_model_get_info(const rams_model *m, rams_model_info *out)
{
    rams_clear_error();
    const char *null = !m ? "model" : !out ? "out" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_model_get_info: %s is NULL", null);
    const rams_config *c = &m->cfg;
    *out = (rams_model_info){
        .image_size = c->image_size, .patch_size = c->patch_size, .grid = c->grid,
        .hidden_size = c->hidden, .num_heads = c->heads, .num_layers = c->layers,
        .mlp_size = c->mlp, .num_classes = c->classes, .ln_eps = c->ln_eps, .alpha = c->alpha,
        .default_mode = c->default_mode, .dtype = m->dtype, .file_bytes = m->file_size,
        .preprocess = m->preprocess,
    };
    return RAMS_OK;
}

const char *rams_model_label(const rams_model *m, int index)
{
    if (!m || index < 0 || index >= m->cfg.classes) return NULL;
    return m->labels[index];
}

/* ---- context ------------------------------------------------------------------------------- */

struct rams_context {
    const rams_model *model;
    rams_encoder_state enc;
    float *maps;           /* L x N x N scale-1 head-mean attention maps (for DPPM)      */
    size_t big_bytes;      /* the mapping that holds maps, input and crop                 */
    float *input;          /* 3 x S x S: a preprocessed image                             */
    float *crop;           /* 3 x S x S: the zoomed scale-2 input                         */
    float *hidden;         /* D: part_norm of the CLS token                               */
    float *logits1, *logits2; /* C each                                               */
    float *probs1, *probs2, *probs_fused; /* C each: softmax of each scale, their mean      */
    int *order;            /* C: class indices for the top-k selection                   */
    rams_prediction *top1, *top2, *top_fused; /* up to RAMS_MAX_TOP_K each               */
    uint8_t *image_rgb;    /* want_image: the last run's decoded (or copied) pixels       */
    rams_result result;    /* the last run's, copied out to the caller's result_size      */
    float *p;              /* G x G normalised rollout                                    */
    unsigned char *mask;   /* G x G                                                       */
    void *dppm_work;
    double stage_seconds[RAMS_STAGE_COUNT];
    rams_pool *pool;
};

void rams_context_free(rams_context *ctx)
{
    if (!ctx) return;
    if (ctx->model) atomic_fetch_sub(&((rams_model *)ctx->model)->contexts, 1);
    rams_encoder_state_free(&ctx->enc);
    rams_pool_free(ctx->pool);
    rams_big_free(ctx->maps, ctx->big_bytes);
    free(ctx->hidden);
    free(ctx->logits1), free(ctx->logits2), free(ctx->probs1), free(ctx->probs2), free(ctx->probs_fused);
    free(ctx->order), free(ctx->top1), free(ctx->top2), free(ctx->top_fused);
    free(ctx->p), free(ctx->mask), free(ctx->dppm_work), free(ctx->image_rgb);
    free(ctx);
}

rams_status rams_context_create(const rams_model *model, const rams_context_params *params, rams_context **out)
{
    rams_clear_error();
    const char *null = !model ? "model" : !out ? "out" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_context_create: %s is NULL", null);
    *out = NULL;
    rams_context_params p;
    rams_status st = rams_context_params_resolve(params, "rams_context_create", &p);
    if (st != RAMS_OK) return st;
    int threads = p.threads;
    if (threads < 0 || threads > RAMS_MAX_THREADS)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "threads = %d is outside 0..%d", threads, RAMS_MAX_THREADS);
    if (threads == 0) threads = rams_online_cpus();
    const rams_config *c = &model->cfg;
    /* The loader bounded the model's own working memory; the attention tiles grow with the
     * thread count too, and all of it is committed at creation (memory.h). */
    double work_floats = rams_model_work_floats(c) + (double)threads * RAMS_ATTENTION_TILE * c->num_tokens;
    if (work_floats > (double)RAMS_MAX_CONTEXT_FLOATS)
        return rams_fail(RAMS_ERR_LIMIT, "a context of %d threads for this model needs %.3g floats of working memory, above the limit of %.3g",
                         threads, work_floats, (double)RAMS_MAX_CONTEXT_FLOATS);
    rams_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return rams_fail(RAMS_ERR_NO_MEMORY, "out of memory for a context");
    /* Counted from here on: rams_context_free, also on the failures below, uncounts it.  (The
     * model is const to its users; the count is the one field that changes, atomically.) */
    ctx->model = model;
    atomic_fetch_add(&((rams_model *)model)->contexts, 1);
    st = rams_pool_create(threads, &ctx->pool);
    if (st == RAMS_OK) st = rams_encoder_state_init(&ctx->enc, c, ctx->pool);
    if (st != RAMS_OK) {
        rams_context_free(ctx);
        return st;
    }
    size_t N = (size_t)c->num_tokens, S = (size_t)c->image_size, C = (size_t)c->classes, G = (size_t)c->grid;
    int k = c->classes < RAMS_MAX_TOP_K ? c->classes : RAMS_MAX_TOP_K;
    /* The large buffers in one populated mapping (see memory.h): maps, input, crop. */
    size_t maps_floats = rams_cache_line_floats((size_t)c->layers * N * N);
    size_t image_floats = rams_cache_line_floats(3 * S * S);
    ctx->big_bytes = (maps_floats + 2 * image_floats) * sizeof(float);
    ctx->maps = rams_big_alloc(ctx->big_bytes);
    if (ctx->maps) {
        ctx->input = ctx->maps + maps_floats;
        ctx->crop = ctx->input + image_floats;
    } else {
        ctx->big_bytes = 0;
    }
    ctx->hidden = malloc((size_t)c->hidden * sizeof(float));
    ctx->logits1 = malloc(C * sizeof(float));
    ctx->logits2 = malloc(C * sizeof(float));
    ctx->probs1 = malloc(C * sizeof(float));
    ctx->probs2 = malloc(C * sizeof(float));
    ctx->probs_fused = malloc(C * sizeof(float));
    ctx->order = malloc(C * sizeof(int));
    ctx->top1 = malloc((size_t)k * sizeof(rams_prediction));
    ctx->top2 = malloc((size_t)k * sizeof(rams_prediction));
    ctx->top_fused = malloc((size_t)k * sizeof(rams_prediction));
    ctx->p = malloc(G * G * sizeof(float));
    ctx->mask = malloc(G * G);
    ctx->dppm_work = malloc(rams_dppm_work_bytes(c->num_tokens, c->grid));
    if (!ctx->maps || !ctx->input || !ctx->crop || !ctx->hidden || !ctx->logits1 || !ctx->logits2 || !ctx->probs1 ||
        !ctx->probs2 || !ctx->probs_fused || !ctx->order || !ctx->top1 || !ctx->top2 || !ctx->top_fused || !ctx->p || !ctx->mask || !ctx->dppm_work) {
        rams_context_free(ctx);
        return rams_fail(RAMS_ERR_NO_MEMORY, "out of memory for a context (%zu attention-map floats)", (size_t)c->layers * N * N);
    }
    *out = ctx;
    return RAMS_OK;
}

/* ---- running ------------------------------------------------------------------------------- */

/* The k most probable classes, highest first, equal probabilities in index order (NaN last):
 * a partial selection sort, k passes of a max scan, since k is small next to C in every real use. */
static void select_top(const float *probs, int C, int k, int *order, rams_prediction *top, char **labels)
{
    for (int i = 0; i < C; i++) order[i] = i;
    for (int t = 0; t < k; t++) {
        int best = t;
        for (int i = t + 1; i < C; i++) {
            float a = probs[order[i]], b = probs[order[best]];
            if (a > b || (a == b && order[i] < order[best]) || (b != b && a == a)) best = i;
        }
        int tmp = order[t];
        order[t] = order[best];
        order[best] = tmp;
        top[t] = (rams_prediction){order[t], labels[order[t]], probs[order[t]]};
    }
}

static int all_finite(const float *x, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* The loader scans only the small tensors for NaN/Inf (a full scan would read the whole file), so a
 * non-finite value in a weight matrix, or float32 overflow on some input, shows up here. */
static rams_status non_finite_logits(int scale)
{
    return rams_fail(RAMS_ERR_FORMAT, "the model gives non-finite scale-%d logits (NaN or Inf in its weights, or float32 overflow on this input)",
                     scale);
}

/* The run on a 3 x S x S tensor into ctx->result (params resolved, the tensor's shape checked). */
static rams_status run_tensor(rams_context *ctx, const float *chw, const rams_run_params *params)
{
    const rams_model *m = ctx->model;
    const rams_config *c = &m->cfg;
    rams_result *out = &ctx->result;
    rams_mode mode = params->mode == RAMS_MODE_DEFAULT ? c->default_mode : params->mode;
    if (mode != RAMS_MODE_SCALE1 && mode != RAMS_MODE_SCALE2 && mode != RAMS_MODE_FUSED)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "unknown mode %d", (int)mode);
    int k = params->top_k;
    if (k < 0) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "top_k %d is negative", k);
    if (k > c->classes) k = c->classes;
    if (k > RAMS_MAX_TOP_K) k = RAMS_MAX_TOP_K;

    /* NaN or Inf in the input would reach every activation (and the DPPM's box) unnoticed. */
    for (size_t i = 0, n = 3 * (size_t)c->image_size * c->image_size; i < n; i++)
        if (!isfinite(chw[i]))
            return rams_fail(RAMS_ERR_FORMAT, "input tensor holds a non-finite value (%g at element %zu)", (double)chw[i], i);

    int zoom = mode != RAMS_MODE_SCALE1;
    memset(out, 0, sizeof *out);
    out->mode = mode;
    out->num_classes = c->classes;
    out->grid = c->grid;
    out->input_size = c->image_size;

    double *times = ctx->stage_seconds, t;
    memset(times, 0, sizeof ctx->stage_seconds);

    /* Scale 1: the whole image, first CLS token. */
    rams_encode(m, &ctx->enc, chw, 0, zoom ? ctx->maps : NULL, ctx->hidden, times + RAMS_STAGE_EMBED);
    t = rams_now();
    rams_head(m, ctx->hidden, ctx->logits1);
    if (!all_finite(ctx->logits1, c->classes)) return non_finite_logits(1);
    out->logits_scale1 = ctx->logits1;
    rams_softmax(ctx->logits1, ctx->probs1, c->classes);
    times[RAMS_STAGE_HEAD] += rams_now() - t;

    if (zoom) {
        /* DPPM, then scale 2 on the zoomed crop, second CLS token. */
        t = rams_now();
        out->box = rams_dppm(ctx->maps, c->layers, c->num_tokens, c->grid, c->patch_size, c->alpha, chw, ctx->crop,
                             ctx->p, ctx->mask, &out->threshold, &out->box_is_fallback, ctx->dppm_work,
                             &times[RAMS_STAGE_ROLLOUT]);
        out->has_box = 1;
        times[RAMS_STAGE_DPPM] = rams_now() - t - times[RAMS_STAGE_ROLLOUT];
        t = rams_now();
        rams_encode(m, &ctx->enc, ctx->crop, 1, NULL, ctx->hidden, NULL);
        times[RAMS_STAGE_SCALE2] = rams_now() - t;
        t = rams_now();
        rams_head(m, ctx->hidden, ctx->logits2);
        if (!all_finite(ctx->logits2, c->classes)) return non_finite_logits(2);
        out->logits_scale2 = ctx->logits2;
        rams_softmax(ctx->logits2, ctx->probs2, c->classes);
        /* SPEC 3: fused is the mean of the two scales' softmax probabilities. */
        for (int i = 0; i < c->classes; i++) ctx->probs_fused[i] = 0.5f * (ctx->probs1[i] + ctx->probs2[i]);
        if (params->want_rollout) {
            out->rollout = ctx->p;
            out->mask = ctx->mask;
        }
        if (params->want_crop) out->crop = ctx->crop;
    } else {
        t = rams_now();
    }
    out->top_k = k;
    out->probs_scale1 = ctx->probs1;
    select_top(ctx->probs1, c->classes, k, ctx->order, ctx->top1, m->labels);
    out->top_scale1 = ctx->top1;
    if (zoom) {
        out->probs_scale2 = ctx->probs2;
        out->probs_fused = ctx->probs_fused;
        select_top(ctx->probs2, c->classes, k, ctx->order, ctx->top2, m->labels);
        select_top(ctx->probs_fused, c->classes, k, ctx->order, ctx->top_fused, m->labels);
        out->top_scale2 = ctx->top2;
        out->top_fused = ctx->top_fused;
    }
    out->probs = mode == RAMS_MODE_SCALE1 ? out->probs_scale1 : mode == RAMS_MODE_SCALE2 ? out->probs_scale2 : out->probs_fused;
    out->top = mode == RAMS_MODE_SCALE1 ? out->top_scale1 : mode == RAMS_MODE_SCALE2 ? out->top_scale2 : out->top_fused;
    times[RAMS_STAGE_HEAD] += rams_now() - t;

    if (params->want_input) {
        if (chw != ctx->input) memcpy(ctx->input, chw, 3 * (size_t)c->image_size * c->image_size * sizeof(float));
        out->input = ctx->input;
    }
    return RAMS_OK;
}

/* The previous run's kept pixels go when the next run starts. */
static void forget_image(rams_context *ctx)
{
    free(ctx->image_rgb);
    ctx->image_rgb = NULL;
}

static rams_status check_tensor_shape(const rams_config *c, int channels, int height, int width)
{
    if (channels != 3 || height != c->image_size || width != c->image_size)
        return rams_fail(RAMS_ERR_SHAPE, "input tensor is %dx%dx%d, the model takes 3x%dx%d", channels, height, width,
                         c->image_size, c->image_size);
    return RAMS_OK;
}

rams_status rams_classify_tensor(rams_context *ctx, const float *chw, int channels, int height, int width,
                                 const rams_run_params *params, rams_result *out)
{
    rams_clear_error();
    const char *null = !ctx ? "ctx" : !chw ? "chw" : !out ? "out" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_classify_tensor: %s is NULL", null);
    rams_run_params p;
    rams_status st = rams_run_params_resolve(params, "rams_classify_tensor", &p);
    if (st != RAMS_OK) return st;
    forget_image(ctx);
    st = check_tensor_shape(&ctx->model->cfg, channels, height, width);
    if (st == RAMS_OK) st = run_tensor(ctx, chw, &p);
    if (st == RAMS_OK) rams_result_copy_out(&ctx->result, out, p.result_size);
    return st;
}

/* A .npy input: a 3 x S x S (or 1 x 3 x S x S) float tensor, already preprocessed. */
static rams_status classify_npy(rams_context *ctx, const char *path, const uint8_t *data, size_t size,
                                const rams_run_params *params)
{
    const rams_config *c = &ctx->model->cfg;
    size_t want = 3 * (size_t)c->image_size * c->image_size;
    rams_npy t;
    rams_status st = rams_npy_decode(data, size, path, want, &t);
    if (st != RAMS_OK) return st;
    int lead = t.ndim == 4 ? 1 : 0;
    int ok = (t.ndim == 3 || (t.ndim == 4 && t.shape[0] == 1)) && t.shape[lead] == 3 &&
             t.shape[lead + 1] == c->image_size && t.shape[lead + 2] == c->image_size;
    if (!ok) {
        rams_npy_free(&t);
        return rams_fail(RAMS_ERR_SHAPE, "%s: tensor shape does not match the model's input 3x%dx%d", path, c->image_size,
                         c->image_size);
    }
    st = run_tensor(ctx, t.data, params);
    rams_npy_free(&t);
    if (st != RAMS_OK) return rams_fail(st, "%s: %s", path, rams_last_error());
    return st;
}

/* Preprocessing as the model file says, the run, and the box mapped back into the image. */
static rams_status classify_image(rams_context *ctx, const uint8_t *rgb, int width, int height, size_t stride,
                                  const char *name, const rams_run_params *params)
{
    const rams_model *m = ctx->model;
    rams_geometry geo;
    rams_status st = rams_preprocess_rgb(rgb, width, height, stride, &m->preprocess, ctx->input, &geo);
    if (st != RAMS_OK) return rams_fail(st, "%s: %s", name, rams_last_error());
    st = run_tensor(ctx, ctx->input, params);
    if (st != RAMS_OK) return rams_fail(st, "%s: %s", name, rams_last_error());
    rams_result *out = &ctx->result;
    out->has_image_box = out->has_box;
    out->image_width = width;
    out->image_height = height;
    if (out->has_box) out->image_box = rams_box_to_image(&geo, out->box);
    return RAMS_OK;
}

rams_status rams_classify_file(rams_context *ctx, const char *path, const rams_run_params *params, rams_result *out)
{
    rams_clear_error();
    const char *null = !ctx ? "ctx" : !path ? "path" : !out ? "out" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_classify_file: %s is NULL", null);
    rams_run_params p;
    rams_status st = rams_run_params_resolve(params, "rams_classify_file", &p);
    if (st != RAMS_OK) return st;
    forget_image(ctx);
    /* Compressed images are far smaller than their pixels; 1 GiB bounds any sane input file. */
    uint8_t *data;
    size_t size;
    st = rams_read_file(path, (size_t)1 << 30, &data, &size);
    if (st != RAMS_OK) return st;
    switch (rams_sniff(data, size)) {
    case RAMS_FILE_NPY:
        st = classify_npy(ctx, path, data, size, &p);
        break;
    case RAMS_FILE_JPEG:
    case RAMS_FILE_PNG: {
        rams_image img = {0};
        st = rams_image_decode(data, size, path, p.max_pixels, &img);
        if (st == RAMS_OK) st = classify_image(ctx, img.rgb, img.width, img.height, (size_t)img.width * 3, path, &p);
        if (st == RAMS_OK && p.want_image) { /* the decoded pixels stay with the context */
            ctx->image_rgb = img.rgb;
            ctx->result.image_rgb = img.rgb;
            img.rgb = NULL;
        }
        rams_image_free(&img);
        break;
    }
    default:
        st = rams_fail(RAMS_ERR_FORMAT, "%s: not a JPEG, PNG or .npy file", path);
    }
    free(data);
    if (st == RAMS_OK) rams_result_copy_out(&ctx->result, out, p.result_size);
    return st;
}

rams_status rams_classify_rgb(rams_context *ctx, const uint8_t *rgb, int width, int height, size_t stride,
                              const rams_run_params *params, rams_result *out)
{
    rams_clear_error();
    const char *null = !ctx ? "ctx" : !rgb ? "rgb" : !out ? "out" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_classify_rgb: %s is NULL", null);
    if (width <= 0 || height <= 0 || stride < (size_t)width * 3)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_classify_rgb: bad size %dx%d (stride %zu)", width, height, stride);
    rams_run_params p;
    rams_status st = rams_run_params_resolve(params, "rams_classify_rgb", &p);
    if (st != RAMS_OK) return st;
    forget_image(ctx);
    /* 0 = the default, as in rams_classify_file (rams_image_decode). */
    size_t max_pixels = p.max_pixels ? p.max_pixels : RAMS_DEFAULT_MAX_PIXELS;
    if ((double)width * height > (double)max_pixels)
        return rams_fail(RAMS_ERR_LIMIT, "image of %dx%d pixels is above the limit of %zu", width, height, max_pixels);
    st = classify_image(ctx, rgb, width, height, stride, "image", &p);
    if (st == RAMS_OK && p.want_image) { /* a packed copy: the caller's buffer may go */
        size_t row = (size_t)width * 3;
        ctx->image_rgb = malloc(row * (size_t)height);
        if (!ctx->image_rgb) return rams_fail(RAMS_ERR_NO_MEMORY, "image: out of memory copying %dx%d pixels", width, height);
        for (int y = 0; y < height; y++) memcpy(ctx->image_rgb + row * (size_t)y, rgb + stride * (size_t)y, row);
        ctx->result.image_rgb = ctx->image_rgb;
    }
    if (st == RAMS_OK) rams_result_copy_out(&ctx->result, out, p.result_size);
    return st;
}

/* ---- experimental ------------------------------------------------------------------------- */

const char *rams_stage_name(rams_stage stage)
{
    static const char *const names[RAMS_STAGE_COUNT] = {"patch embedding", "blocks", "rollout", "DPPM and crop",
                                                        "scale 2", "head"};
    return (unsigned)stage < RAMS_STAGE_COUNT ? names[stage] : "unknown";
}

rams_status rams_context_stage_seconds(const rams_context *ctx, double seconds[RAMS_STAGE_COUNT])
{
    rams_clear_error();
    const char *null = !ctx ? "ctx" : !seconds ? "seconds" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_context_stage_seconds: %s is NULL", null);
    memcpy(seconds, ctx->stage_seconds, sizeof ctx->stage_seconds);
    return RAMS_OK;
}

double rams_model_flops(const rams_model *m, rams_mode mode)
{
    if (!m) return 0;
    if (mode == RAMS_MODE_DEFAULT) mode = m->cfg.default_mode;
    const rams_config *c = &m->cfg;
    double head = 2.0 * c->hidden * c->classes;
    if (mode == RAMS_MODE_SCALE1) return rams_encode_flops(c, 0) + head;
    return rams_encode_flops(c, 1) + rams_encode_flops(c, 0) + 2 * head;
}
