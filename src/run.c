/* A run: from a file, pixels or a tensor to the result; the order of the stages, timed here. */
#define RAMSTRANS_EXPERIMENTAL

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "dppm.h"
#include "encoder.h"
#include "error.h"
#include "image.h"
#include "input.h"
#include "kernels/kernels.h"
#include "model.h"
#include "params.h"
#include "preprocess.h"
#include "timing.h"

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
    return rams_fail(RAMS_ERR_FORMAT,
                     "the model gives non-finite scale-%d logits (NaN or Inf in its weights, or float32 "
                     "overflow on this input)",
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
            return rams_fail(RAMS_ERR_FORMAT, "input tensor holds a non-finite value (%g at element %zu)",
                             (double)chw[i], i);

    int zoom = mode != RAMS_MODE_SCALE1;
    memset(out, 0, sizeof *out);
    out->mode = mode;
    out->num_classes = c->classes;
    out->grid = c->grid;
    out->input_size = c->image_size;

    rams_timer *timer = &ctx->timer;
    rams_timer_start(timer);

    /* Scale 1: the whole image, first CLS token. */
    rams_embed(m, &ctx->enc, chw);
    rams_timer_lap(timer, RAMS_STAGE_EMBED);
    rams_encode_blocks(m, &ctx->enc, 0, zoom ? ctx->maps : NULL, ctx->hidden);
    rams_timer_lap(timer, RAMS_STAGE_BLOCKS);
    rams_head(m, &ctx->enc, ctx->hidden, ctx->logits1);
    if (!all_finite(ctx->logits1, c->classes)) return non_finite_logits(1);
    out->logits_scale1 = ctx->logits1;
    rams_softmax(ctx->logits1, ctx->probs1, c->classes);
    rams_timer_lap(timer, RAMS_STAGE_HEAD);

    if (zoom) {
        /* DPPM, then scale 2 on the zoomed crop, the last CLS token: RAMS-Trans's second, a plain
         * ViT's only one. */
        rams_dppm_rollout(ctx->maps, c->layers, c->num_tokens, c->cls_tokens, ctx->dppm_work);
        rams_timer_lap(timer, RAMS_STAGE_ROLLOUT);
        out->box = rams_dppm_box(c->num_tokens, c->grid, c->patch_size, c->alpha, chw, ctx->crop, ctx->p,
                                 ctx->mask, &out->threshold, &out->box_is_fallback, ctx->dppm_work);
        out->has_box = 1;
        rams_timer_lap(timer, RAMS_STAGE_DPPM);
        rams_encode(m, &ctx->enc, ctx->crop, c->cls_tokens - 1, NULL, ctx->hidden);
        rams_timer_lap(timer, RAMS_STAGE_SCALE2);
        rams_head(m, &ctx->enc, ctx->hidden, ctx->logits2);
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
    out->probs = mode == RAMS_MODE_SCALE1   ? out->probs_scale1
                 : mode == RAMS_MODE_SCALE2 ? out->probs_scale2
                                            : out->probs_fused;
    out->top = mode == RAMS_MODE_SCALE1   ? out->top_scale1
               : mode == RAMS_MODE_SCALE2 ? out->top_scale2
                                          : out->top_fused;
    rams_timer_lap(timer, RAMS_STAGE_HEAD);
    memcpy(ctx->stage_seconds, timer->seconds, sizeof ctx->stage_seconds);

    if (params->want_input) {
        if (chw != ctx->input)
            memcpy(ctx->input, chw, 3 * (size_t)c->image_size * c->image_size * sizeof(float));
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
        return rams_fail(RAMS_ERR_SHAPE, "input tensor is %dx%dx%d, the model takes 3x%dx%d", channels,
                         height, width, c->image_size, c->image_size);
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
static rams_status classify_npy(rams_context *ctx, const char *path, const rams_npy *t,
                                const rams_run_params *params)
{
    const rams_config *c = &ctx->model->cfg;
    int lead = t->ndim == 4 ? 1 : 0;
    int ok = (t->ndim == 3 || (t->ndim == 4 && t->shape[0] == 1)) && t->shape[lead] == 3 &&
             t->shape[lead + 1] == c->image_size && t->shape[lead + 2] == c->image_size;
    if (!ok)
        return rams_fail(RAMS_ERR_SHAPE, "%s: tensor shape does not match the model's input 3x%dx%d", path,
                         c->image_size, c->image_size);
    rams_status st = run_tensor(ctx, t->data, params);
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

rams_status rams_classify_file(rams_context *ctx, const char *path, const rams_run_params *params,
                               rams_result *out)
{
    rams_clear_error();
    const char *null = !ctx ? "ctx" : !path ? "path" : !out ? "out" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_classify_file: %s is NULL", null);
    rams_run_params p;
    rams_status st = rams_run_params_resolve(params, "rams_classify_file", &p);
    if (st != RAMS_OK) return st;
    forget_image(ctx);
    const rams_config *c = &ctx->model->cfg;
    rams_input in;
    st = rams_input_read(path, p.max_pixels, 3 * (size_t)c->image_size * c->image_size, &in);
    if (st != RAMS_OK) return st;
    if (in.kind == RAMS_FILE_NPY) {
        st = classify_npy(ctx, path, &in.tensor, &p);
    } else {
        rams_image *img = &in.image;
        st = classify_image(ctx, img->rgb, img->width, img->height, (size_t)img->width * 3, path, &p);
        if (st == RAMS_OK && p.want_image) { /* the decoded pixels stay with the context */
            ctx->image_rgb = img->rgb;
            ctx->result.image_rgb = img->rgb;
            img->rgb = NULL;
        }
    }
    rams_input_free(&in);
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
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_classify_rgb: bad size %dx%d (stride %zu)", width,
                         height, stride);
    rams_run_params p;
    rams_status st = rams_run_params_resolve(params, "rams_classify_rgb", &p);
    if (st != RAMS_OK) return st;
    forget_image(ctx);
    /* 0 = the default, as in rams_classify_file (rams_image_decode). */
    size_t max_pixels = p.max_pixels ? p.max_pixels : RAMS_DEFAULT_MAX_PIXELS;
    if ((double)width * height > (double)max_pixels)
        return rams_fail(RAMS_ERR_LIMIT, "image of %dx%d pixels is above the limit of %zu", width, height,
                         max_pixels);
    st = classify_image(ctx, rgb, width, height, stride, "image", &p);
    if (st == RAMS_OK && p.want_image) { /* a packed copy: the caller's buffer may go */
        size_t row = (size_t)width * 3;
        ctx->image_rgb = malloc(row * (size_t)height);
        if (!ctx->image_rgb)
            return rams_fail(RAMS_ERR_NO_MEMORY, "image: out of memory copying %dx%d pixels", width, height);
        for (int y = 0; y < height; y++)
            memcpy(ctx->image_rgb + row * (size_t)y, rgb + stride * (size_t)y, row);
        ctx->result.image_rgb = ctx->image_rgb;
    }
    if (st == RAMS_OK) rams_result_copy_out(&ctx->result, out, p.result_size);
    return st;
}
