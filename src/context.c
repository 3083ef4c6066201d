/* Contexts: creation (every buffer a run needs, allocated once), freeing, the stages' times. */
#define RAMSTRANS_EXPERIMENTAL

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "dppm.h"
#include "error.h"
#include "memory.h"
#include "model.h"
#include "params.h"

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

rams_status rams_context_create(const rams_model *model, const rams_context_params *params,
                                rams_context **out)
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
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "threads = %d is outside 0..%d", threads,
                         RAMS_MAX_THREADS);
    if (threads == 0) threads = rams_online_cpus();
    const rams_config *c = &model->cfg;
    /* The loader bounded the model's own working memory; the attention tiles grow with the
     * thread count too, and all of it is committed at creation (memory.h). */
    double work_floats =
        rams_model_work_floats(c) + (double)threads * RAMS_ATTENTION_TILE * c->num_tokens +
        (double)threads * (double)rams_encoder_gemm_scratch_bytes(model, threads) / sizeof(float) +
        (double)rams_encoder_attention_bytes(model) / sizeof(float);
    if (work_floats > (double)RAMS_MAX_CONTEXT_FLOATS)
        return rams_fail(RAMS_ERR_LIMIT,
                         "a context of %d threads for this model needs %.3g floats of working memory, above "
                         "the limit of %.3g",
                         threads, work_floats, (double)RAMS_MAX_CONTEXT_FLOATS);
    rams_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return rams_fail(RAMS_ERR_NO_MEMORY, "out of memory for a context");
    /* Counted from here on: rams_context_free, also on the failures below, uncounts it.  (The
     * model is const to its users; the count is the one field that changes, atomically.) */
    ctx->model = model;
    atomic_fetch_add(&((rams_model *)model)->contexts, 1);
    st = rams_pool_create(threads, &ctx->pool);
    if (st == RAMS_OK) st = rams_encoder_state_init(&ctx->enc, model, ctx->pool);
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
    if (!ctx->maps || !ctx->input || !ctx->crop || !ctx->hidden || !ctx->logits1 || !ctx->logits2 ||
        !ctx->probs1 || !ctx->probs2 || !ctx->probs_fused || !ctx->order || !ctx->top1 || !ctx->top2 ||
        !ctx->top_fused || !ctx->p || !ctx->mask || !ctx->dppm_work) {
        rams_context_free(ctx);
        return rams_fail(RAMS_ERR_NO_MEMORY, "out of memory for a context (%zu attention-map floats)",
                         (size_t)c->layers * N * N);
    }
    *out = ctx;
    return RAMS_OK;
}

rams_status rams_context_stage_seconds(const rams_context *ctx, double seconds[RAMS_STAGE_COUNT])
{
    rams_clear_error();
    const char *null = !ctx ? "ctx" : !seconds ? "seconds" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_context_stage_seconds: %s is NULL", null);
    memcpy(seconds, ctx->stage_seconds, sizeof ctx->stage_seconds);
    return RAMS_OK;
}
