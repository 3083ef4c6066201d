#include "encoder.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "kernels.h"

rams_status rams_encoder_state_init(rams_encoder_state *s, const rams_config *c)
{
    memset(s, 0, sizeof *s);
    size_t N = (size_t)c->num_tokens, D = (size_t)c->hidden, M = (size_t)c->mlp, G = (size_t)c->grid,
           P = (size_t)c->patch_size;
    /* Every size is bounded by model.h's limits, so these products cannot overflow size_t. */
    float **bufs[] = {&s->x, &s->xn, &s->q, &s->k, &s->v, &s->ctx, &s->scores, &s->hidden, &s->patches};
    size_t counts[] = {N * D, N * D, N * D, N * D, N * D, N * D, N * N, N * M, G * G * 3 * P * P};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        *bufs[i] = malloc(counts[i] * sizeof(float));
        if (!*bufs[i]) {
            rams_encoder_state_free(s);
            return rams_fail(RAMS_ERR_NO_MEMORY, "out of memory for the encoder's scratch buffers (%zu floats)", counts[i]);
        }
    }
    return RAMS_OK;
}

void rams_encoder_state_free(rams_encoder_state *s)
{
    free(s->x), free(s->xn), free(s->q), free(s->k), free(s->v);
    free(s->ctx), free(s->scores), free(s->hidden), free(s->patches);
    memset(s, 0, sizeof *s);
}

/* The Conv2d(3, D, P, stride P) as one GEMM: each patch unrolled in the weight's (c, y, x) order. */
static void im2col(const float *image, int S, int P, float *patches)
{
    int G = S / P;
    for (int gr = 0; gr < G; gr++)
        for (int gc = 0; gc < G; gc++) {
            float *dst = patches + ((size_t)gr * G + gc) * 3 * P * P;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < P; y++) {
                    const float *src = image + ((size_t)c * S + (size_t)gr * P + y) * S + (size_t)gc * P;
                    memcpy(dst, src, (size_t)P * sizeof *dst);
                    dst += P;
                }
        }
}

void rams_embed(const rams_model *m, rams_encoder_state *s, const float *image)
{
    const rams_config *c = &m->cfg;
    const rams_weights *w = &m->w;
    int D = c->hidden, P = c->patch_size, K = 3 * P * P, T = c->grid * c->grid;
    im2col(image, c->image_size, P, s->patches);
    rams_linear(s->x + 2 * (size_t)D, D, s->patches, K, T, K, w->patch_w, w->patch_b, D);
    memcpy(s->x, w->cls1, (size_t)D * sizeof(float));
    memcpy(s->x + D, w->cls2, (size_t)D * sizeof(float));
    size_t n = (size_t)c->num_tokens * D;
    for (size_t i = 0; i < n; i++) s->x[i] += w->pos[i];
}

void rams_block(const rams_model *m, rams_encoder_state *s, int layer, int first_row, int rows, float *map)
{
    const rams_config *c = &m->cfg;
    const rams_layer_weights *lw = &m->w.layer[layer];
    int N = c->num_tokens, D = c->hidden, H = c->heads, hs = c->head_size, M = c->mlp;
    /* Queries are needed for the output rows, or for every row when the map is wanted. */
    int q0 = map ? 0 : first_row, qn = map ? N : rows;
    float *out_x = s->x + (size_t)first_row * D;

    /* Attention: keys and values of every token, queries of the rows that matter. */
    rams_layernorm(s->xn, D, s->x, D, N, D, lw->attn_norm_w, lw->attn_norm_b, c->ln_eps);
    rams_linear(s->k, D, s->xn, D, N, D, lw->k_w, lw->k_b, D);
    rams_linear(s->v, D, s->xn, D, N, D, lw->v_w, lw->v_b, D);
    rams_linear(s->q + (size_t)q0 * D, D, s->xn + (size_t)q0 * D, D, qn, D, lw->q_w, lw->q_b, D);
    if (map) memset(map, 0, (size_t)N * N * sizeof *map);
    const float scale = 1.0f / sqrtf((float)hs);
    for (int h = 0; h < H; h++) {
        /* scores[q0.., :] = Q_h K_h^T / sqrt(hs): heads are column slices, read with stride D. */
        float *sc = s->scores + (size_t)q0 * N;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qn, N, hs, scale, s->q + (size_t)q0 * D + h * hs, D,
                    s->k + h * hs, D, 0.0f, sc, N);
        rams_softmax_rows(sc, qn, N, N);
        if (map)
            for (size_t i = 0; i < (size_t)N * N; i++) map[i] += s->scores[i];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hs, N, 1.0f, s->scores + (size_t)first_row * N, N,
                    s->v + h * hs, D, 0.0f, s->ctx + (size_t)first_row * D + h * hs, D);
    }
    if (map) {
        const float inv_h = 1.0f / (float)H;
        for (size_t i = 0; i < (size_t)N * N; i++) map[i] *= inv_h;
    }
    rams_linear_residual(out_x, D, s->ctx + (size_t)first_row * D, D, rows, D, lw->out_w, lw->out_b, D);

    /* MLP on the output rows only. */
    rams_layernorm(s->xn, D, out_x, D, rows, D, lw->ffn_norm_w, lw->ffn_norm_b, c->ln_eps);
    rams_linear_gelu(s->hidden, M, s->xn, D, rows, D, lw->fc1_w, lw->fc1_b, M);
    rams_linear_residual(out_x, D, s->hidden, M, rows, M, lw->fc2_w, lw->fc2_b, D);
}

double rams_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rams_encode(const rams_model *m, rams_encoder_state *s, const float *image, int cls_token, float *maps, float *out,
                 double seconds[2])
{
    const rams_config *c = &m->cfg;
    size_t NN = (size_t)c->num_tokens * c->num_tokens;
    double t0 = rams_now();
    rams_embed(m, s, image);
    double t1 = rams_now();
    for (int l = 0; l < c->layers; l++) {
        int last = l == c->layers - 1;
        /* Only the CLS token's row leaves the last block: nothing reads the other tokens. */
        rams_block(m, s, l, last ? cls_token : 0, last ? 1 : c->num_tokens, maps ? maps + l * NN : NULL);
    }
    rams_layernorm(out, c->hidden, s->x + (size_t)cls_token * c->hidden, c->hidden, 1, c->hidden, m->w.norm_w,
                   m->w.norm_b, c->ln_eps);
    if (seconds) {
        seconds[0] = t1 - t0;
        seconds[1] = rams_now() - t1;
    }
}

double rams_encode_flops(const rams_config *c, int with_maps)
{
    double N = c->num_tokens, D = c->hidden, M = c->mlp, T = (double)c->grid * c->grid;
    double K = 3.0 * c->patch_size * c->patch_size;
    double embed = 2 * T * K * D;
    double full_block = 2 * N * D * D * 4 /* q, k, v, out */ + 2 * 2 * N * N * D /* scores, context */ + 2 * 2 * N * D * M;
    /* The last block: keys and values of all tokens; queries of all rows only for the map. */
    double q_rows = with_maps ? N : 1;
    double last_block = 2 * N * D * D * 2 + 2 * q_rows * D * D + 2 * q_rows * N * D + 2 * N * D + 2 * D * D + 2 * 2 * D * M;
    return embed + (c->layers - 1) * full_block + last_block;
}

void rams_head(const rams_model *m, const float *hidden, float *logits)
{
    rams_linear(logits, m->cfg.classes, hidden, m->cfg.hidden, 1, m->cfg.hidden, m->w.head_w, m->w.head_b,
                m->cfg.classes);
}
