#include "encoder.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernels/kernels.h"
#include "memory.h"
#include "threadpool.h"

size_t rams_encoder_gemm_scratch_bytes(const rams_model *m, int threads)
{
    const rams_config *c = &m->cfg;
    int widest = c->hidden > c->mlp ? c->hidden : c->mlp, K = 3 * c->patch_size * c->patch_size;
    if (K > widest) widest = K;
    if (threads < 1) threads = 1;
    /* The most rows rams_split_rows gives a thread of the N tokens (more than of the G*G patches). */
    int rows = rams_split_rows_max(c->num_tokens, threads);
    size_t bytes = m->gemm ? m->gemm->scratch_bytes(rows, widest) : 0;
    if (m->attention) {
        /* An attention tile: scores = Q [tile, hs] . K^T, then context = P [tile, N] . V. */
        size_t scores = m->attention->scratch_bytes(RAMS_ATTENTION_TILE, c->head_size),
               context = m->attention->scratch_bytes(RAMS_ATTENTION_TILE, c->num_tokens),
               pack_row = (size_t)c->num_tokens * sizeof(float);
        if (scores > bytes) bytes = scores;
        if (context > bytes) bytes = context;
        if (pack_row > bytes) bytes = pack_row;
    }
    return (bytes + 63) / 64 * 64;
}

static size_t attention_keys_bytes(const rams_model *m)
{
    return (m->attention->packed_bytes(m->cfg.num_tokens, m->cfg.head_size) + 63) / 64 * 64;
}

static size_t attention_values_bytes(const rams_model *m)
{
    return (m->attention->packed_bytes(m->cfg.head_size, m->cfg.num_tokens) + 63) / 64 * 64;
}

size_t rams_encoder_attention_bytes(const rams_model *m)
{
    if (!m->attention) return 0;
    return (size_t)m->cfg.heads * (attention_keys_bytes(m) + attention_values_bytes(m));
}

rams_status rams_encoder_state_init(rams_encoder_state *s, const rams_model *m, rams_pool *pool)
{
    const rams_config *c = &m->cfg;
    memset(s, 0, sizeof *s);
    s->pool = pool;
    s->gemm = m->gemm;
    s->attn = m->attention;
    if (s->attn)
        s->attn_keys_bytes = attention_keys_bytes(m), s->attn_values_bytes = attention_values_bytes(m);
    size_t N = (size_t)c->num_tokens, D = (size_t)c->hidden, M = (size_t)c->mlp, G = (size_t)c->grid,
           P = (size_t)c->patch_size, T = (size_t)rams_pool_threads(pool);
    s->gemm_scratch_bytes = rams_encoder_gemm_scratch_bytes(m, (int)T);
    float *gemm_scratch = NULL, *attn_packed = NULL;
    /* Every size is bounded by model.h's limits, so these products cannot overflow size_t. */
    float **bufs[] = {&s->x,      &s->xn,     &s->q,       &s->k,         &s->v,       &s->ctx,
                      &s->scores, &s->hidden, &s->patches, &gemm_scratch, &attn_packed};
    size_t counts[] = {N * D,
                       N * D,
                       N * D,
                       N * D,
                       N * D,
                       N * D,
                       T * RAMS_ATTENTION_TILE * N,
                       N * M,
                       G * G * 3 * P * P,
                       T * s->gemm_scratch_bytes / sizeof(float),
                       rams_encoder_attention_bytes(m) / sizeof(float)};
    size_t total = 0;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) total += rams_cache_line_floats(counts[i]);
    s->arena_bytes = total * sizeof(float);
    float *arena = rams_big_alloc(s->arena_bytes);
    if (!arena) {
        s->arena_bytes = 0;
        return rams_fail(RAMS_ERR_NO_MEMORY, "out of memory for the encoder's scratch buffers (%zu bytes)",
                         total * sizeof(float));
    }
    s->arena = arena;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        *bufs[i] = arena;
        arena += rams_cache_line_floats(counts[i]);
    }
    s->gemm_scratch = (char *)gemm_scratch;
    s->attn_packed = (char *)attn_packed;
    return RAMS_OK;
}

void rams_encoder_state_free(rams_encoder_state *s)
{
    rams_big_free(s->arena, s->arena_bytes);
    memset(s, 0, sizeof *s);
}

/* The Conv2d(3, D, P, stride P) as one GEMM: each patch unrolled in the weight's (c, y, x) order. */
static void im2col(const float *image, int S, int P, int first_patch, int end_patch, float *patches)
{
    int G = S / P;
    for (int i = first_patch; i < end_patch; i++) {
        int gr = i / G, gc = i % G;
        float *dst = patches + (size_t)i * 3 * P * P;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < P; y++) {
                const float *src = image + ((size_t)c * S + (size_t)gr * P + y) * S + (size_t)gc * P;
                memcpy(dst, src, (size_t)P * sizeof *dst);
                dst += P;
            }
    }
}

typedef struct {
    const rams_model *m;
    rams_encoder_state *s;
    const float *image;
    int layer, first_row, rows;
    float *map;
} encoder_job;

/* Tokens entering block 0, each thread on its own tokens. */
static void embed_rows(void *arg, int index, int count)
{
    const encoder_job *job = arg;
    const rams_config *c = &job->m->cfg;
    const rams_weights *w = &job->m->w;
    rams_encoder_state *s = job->s;
    int D = c->hidden, P = c->patch_size, K = 3 * P * P, n_cls = c->cls_tokens, a, b;
    rams_gemm_thread g = rams_encoder_gemm(s, index);
    rams_split_rows(c->grid * c->grid, index, count, &a, &b);
    im2col(job->image, c->image_size, P, a, b, s->patches);
    /* [cls_token1, cls_token2, patches] for RAMS-Trans, [cls_token, patches] for a plain ViT. */
    rams_linear(&g, s->x + (size_t)(n_cls + a) * D, D, s->patches + (size_t)a * K, K, b - a, &w->patch_w,
                w->patch_b);
    if (index == 0) {
        memcpy(s->x, w->cls1, (size_t)D * sizeof(float));
        if (n_cls == 2) memcpy(s->x + D, w->cls2, (size_t)D * sizeof(float));
        a = -n_cls; /* thread 0 also adds the CLS tokens' positions */
    }
    for (size_t i = (size_t)(n_cls + a) * D; i < (size_t)(n_cls + b) * D; i++) s->x[i] += w->pos[i];
}

void rams_embed(const rams_model *m, rams_encoder_state *s, const float *image)
{
    encoder_job job = {.m = m, .s = s, .image = image};
    rams_pool_run(s->pool, embed_rows, &job);
}

/* Phase 1 of a block: LayerNorm, keys and values of this thread's tokens, and queries of those
 * of its tokens that need one (all when the map is wanted, else only the output rows). */
static void block_projections(void *arg, int index, int count)
{
    const encoder_job *job = arg;
    const rams_config *c = &job->m->cfg;
    const rams_layer_weights *lw = &job->m->w.layer[job->layer];
    rams_encoder_state *s = job->s;
    int D = c->hidden, a, b;
    rams_gemm_thread g = rams_encoder_gemm(s, index);
    rams_split_rows(c->num_tokens, index, count, &a, &b);
    size_t off = (size_t)a * D;
    rams_layernorm(s->xn + off, D, s->x + off, D, b - a, D, lw->attn_norm_w, lw->attn_norm_b, c->ln_eps);
    rams_linear(&g, s->k + off, D, s->xn + off, D, b - a, &lw->k_w, lw->k_b);
    rams_linear(&g, s->v + off, D, s->xn + off, D, b - a, &lw->v_w, lw->v_b);
    int q0 = job->map ? 0 : job->first_row, q1 = job->map ? c->num_tokens : job->first_row + job->rows;
    if (q0 < a) q0 = a;
    if (q1 > b) q1 = b;
    if (q1 > q0)
        rams_linear(&g, s->q + (size_t)q0 * D, D, s->xn + (size_t)q0 * D, D, q1 - q0, &lw->q_w, lw->q_b);
}

/* For a bf16 attention kernel, head h of this block as two weight matrices: its keys [N, hs] (a
 * row per key) and its values transposed [hs, N] (a row per dimension), so that the kernel's two
 * products are scores = Q_h . K_h^T and context = P . V_h.  Packed once per block, after the
 * barrier that completes K and V, each thread its share of the heads; K_h then V_h^T in
 * s->attn_packed per head. */
static rams_matrix head_matrix(const rams_encoder_state *s, const rams_config *c, int h, int values)
{
    rams_matrix W = {.out_dim = values ? c->head_size : c->num_tokens,
                     .in_dim = values ? c->num_tokens : c->head_size};
    W.packed = s->attn_packed + (size_t)h * (s->attn_keys_bytes + s->attn_values_bytes) +
               (values ? s->attn_keys_bytes : 0);
    return W;
}

static void pack_heads(void *arg, int index, int count)
{
    const encoder_job *job = arg;
    const rams_config *c = &job->m->cfg;
    rams_encoder_state *s = job->s;
    /* The pack's row buffer: this thread's GEMM scratch, idle between the block's products. */
    float *row = (float *)(void *)rams_encoder_gemm(s, index).scratch;
    for (int h = index; h < c->heads; h += count) {
        size_t D = (size_t)c->hidden, first = (size_t)h * c->head_size; /* the head's first column */
        rams_strided_rows keys = {s->k + first, c->head_size, D, 1},
                          values = {s->v + first, c->num_tokens, 1, D};
        rams_matrix K = head_matrix(s, c, h, 0), V = head_matrix(s, c, h, 1);
        s->attn->pack((void *)K.packed, K.out_dim, K.in_dim, rams_read_strided_row, &keys, row);
        s->attn->pack((void *)V.packed, V.out_dim, V.in_dim, rams_read_strided_row, &values, row);
    }
}

/* Pool thread `index`'s scratch on the attention kernel: its products are Linear layers without a
 * bias (rams_linear zeroes the output, then the kernel adds the product to it). */
static rams_gemm_thread attention_gemm(const rams_encoder_state *s, int index)
{
    rams_gemm_thread g = rams_encoder_gemm(s, index);
    g.be = s->attn;
    return g;
}

/* scores [rows, N] = scale * Q_h[rows] . K_h^T, on the attention kernel or sgemm. */
static void head_scores(const encoder_job *job, int index, int h, int t0, int rows, float scale, float *tile)
{
    const rams_config *c = &job->m->cfg;
    rams_encoder_state *s = job->s;
    int N = c->num_tokens, D = c->hidden, hs = c->head_size;
    const float *q = s->q + (size_t)t0 * D + (size_t)h * hs;
    if (!s->attn) {
        /* Heads are column slices of Q, K, V, read with stride D. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, N, hs, scale, q, D, s->k + h * hs, D, 0.0f,
                    tile, N);
        return;
    }
    rams_gemm_thread g = attention_gemm(s, index);
    rams_matrix K = head_matrix(s, c, h, 0);
    rams_linear(&g, tile, N, q, D, rows, &K, NULL);
    for (size_t i = 0; i < (size_t)rows * N; i++) tile[i] *= scale;
}

/* context rows [rows, hs] of head h = P[rows, N] . V_h, on the attention kernel or sgemm. */
static void head_context(const encoder_job *job, int index, int h, const float *p, int rows, float *ctx)
{
    const rams_config *c = &job->m->cfg;
    rams_encoder_state *s = job->s;
    int N = c->num_tokens, D = c->hidden, hs = c->head_size;
    if (!s->attn) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hs, N, 1.0f, p, N, s->v + h * hs, D,
                    0.0f, ctx, D);
        return;
    }
    rams_gemm_thread g = attention_gemm(s, index);
    rams_matrix V = head_matrix(s, c, h, 1);
    rams_linear(&g, ctx, D, p, N, rows, &V, NULL);
}

/* Attention of query rows [r0, r1) in tiles: per head, the score tile, its softmax, its share
 * of the head-mean map, and the context of the tile's output rows [o0, o1). */
static void attention_rows(const encoder_job *job, int index, float *tile, int r0, int r1, int o0, int o1)
{
    const rams_config *c = &job->m->cfg;
    rams_encoder_state *s = job->s;
    int N = c->num_tokens, D = c->hidden, H = c->heads, hs = c->head_size;
    const float scale = 1.0f / sqrtf((float)hs), inv_h = 1.0f / (float)H;
    for (int t0 = r0, t1; t0 < r1; t0 = t1) {
        /* The tile ends at the next multiple of the tile size, or at r1. */
        t1 = (t0 / RAMS_ATTENTION_TILE + 1) * RAMS_ATTENTION_TILE;
        if (t1 > r1) t1 = r1;
        int tn = t1 - t0;
        int c0 = t0 > o0 ? t0 : o0, c1 = t0 + tn < o1 ? t0 + tn : o1; /* output rows in this tile */
        float *map_rows = job->map ? job->map + (size_t)t0 * N : NULL;
        for (int h = 0; h < H; h++) {
            head_scores(job, index, h, t0, tn, scale, tile);
            rams_softmax_rows(tile, tn, N, N);
            if (map_rows) {
                size_t n = (size_t)tn * N;
                if (h == 0) memcpy(map_rows, tile, n * sizeof *tile);
                else
                    for (size_t i = 0; i < n; i++) map_rows[i] += tile[i];
                if (h == H - 1)
                    for (size_t i = 0; i < n; i++) map_rows[i] *= inv_h;
            }
            if (c1 > c0)
                head_context(job, index, h, tile + (size_t)(c0 - t0) * N, c1 - c0,
                             s->ctx + (size_t)c0 * D + h * hs);
        }
    }
}

/* Phase 2 of a block: attention, `out` projection and MLP of this thread's rows. */
static void block_attention_mlp(void *arg, int index, int count)
{
    const encoder_job *job = arg;
    const rams_config *c = &job->m->cfg;
    const rams_layer_weights *lw = &job->m->w.layer[job->layer];
    rams_encoder_state *s = job->s;
    int N = c->num_tokens, D = c->hidden, M = c->mlp;
    int o0 = job->first_row, o1 = job->first_row + job->rows;
    /* Query rows: all of them for the map, else the output rows; this thread's share. */
    int q0 = job->map ? 0 : o0, q1 = job->map ? N : o1, a, b;
    rams_split_rows(q1 - q0, index, count, &a, &b);
    a += q0, b += q0;
    attention_rows(job, index, s->scores + (size_t)index * RAMS_ATTENTION_TILE * N, a, b, o0, o1);
    /* The output rows whose context this thread computed. */
    int r0 = a > o0 ? a : o0, r1 = b < o1 ? b : o1, n = r1 - r0;
    if (n <= 0) return;
    float *x = s->x + (size_t)r0 * D, *xn = s->xn + (size_t)r0 * D, *hid = s->hidden + (size_t)r0 * M;
    rams_gemm_thread g = rams_encoder_gemm(s, index);
    rams_linear_residual(&g, x, D, s->ctx + (size_t)r0 * D, D, n, &lw->out_w, lw->out_b);
    rams_layernorm(xn, D, x, D, n, D, lw->ffn_norm_w, lw->ffn_norm_b, c->ln_eps);
    rams_linear_gelu(&g, hid, M, xn, D, n, &lw->fc1_w, lw->fc1_b);
    rams_linear_residual(&g, x, D, hid, M, n, &lw->fc2_w, lw->fc2_b);
}

void rams_block(const rams_model *m, rams_encoder_state *s, int layer, int first_row, int rows, float *map)
{
    encoder_job job = {.m = m, .s = s, .layer = layer, .first_row = first_row, .rows = rows, .map = map};
    /* Every thread needs every token's keys and values: the one barrier of a block is here. */
    rams_pool_run(s->pool, block_projections, &job);
    if (s->attn) rams_pool_run(s->pool, pack_heads, &job);
    rams_pool_run(s->pool, block_attention_mlp, &job);
}

void rams_encode_blocks(const rams_model *m, rams_encoder_state *s, int cls_token, float *maps, float *out)
{
    const rams_config *c = &m->cfg;
    size_t NN = (size_t)c->num_tokens * c->num_tokens;
    for (int l = 0; l < c->layers; l++) {
        int last = l == c->layers - 1;
        /* Only the CLS token's row leaves the last block: nothing reads the other tokens. */
        rams_block(m, s, l, last ? cls_token : 0, last ? 1 : c->num_tokens, maps ? maps + l * NN : NULL);
    }
    rams_layernorm(out, c->hidden, s->x + (size_t)cls_token * c->hidden, c->hidden, 1, c->hidden, m->w.norm_w,
                   m->w.norm_b, c->ln_eps);
}

void rams_encode(const rams_model *m, rams_encoder_state *s, const float *image, int cls_token, float *maps,
                 float *out)
{
    rams_embed(m, s, image);
    rams_encode_blocks(m, s, cls_token, maps, out);
}

double rams_encode_flops(const rams_config *c, int with_maps)
{
    double N = c->num_tokens, D = c->hidden, M = c->mlp, T = (double)c->grid * c->grid;
    double K = 3.0 * c->patch_size * c->patch_size;
    double embed = 2 * T * K * D;
    double full_block =
        2 * N * D * D * 4 /* q, k, v, out */ + 2 * 2 * N * N * D /* scores, context */ + 2 * 2 * N * D * M;
    /* The last block: keys and values of all tokens; queries of all rows only for the map. */
    double q_rows = with_maps ? N : 1;
    double last_block =
        2 * N * D * D * 2 + 2 * q_rows * D * D + 2 * q_rows * N * D + 2 * N * D + 2 * D * D + 2 * 2 * D * M;
    return embed + (c->layers - 1) * full_block + last_block;
}

void rams_head(const rams_model *m, const rams_encoder_state *s, const float *hidden, float *logits)
{
    rams_gemm_thread g = rams_encoder_gemm(s, 0);
    rams_linear(&g, logits, m->cfg.classes, hidden, m->cfg.hidden, 1, &m->w.head_w, m->w.head_b);
}
