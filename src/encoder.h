/* The ViT encoder of one scale (SPEC 1): patch embedding, L pre-norm blocks, final LayerNorm. */
#ifndef RAMS_ENCODER_H
#define RAMS_ENCODER_H

#include "model.h"
#include "threadpool.h"

/* Query rows of one attention tile: 64 rows of scores for N = 786 tokens is 200 KB, which stays
 * in a core's L2 cache from the score GEMM through the softmax to the context GEMM. */
#define RAMS_ATTENTION_TILE 64

/* Scratch memory of one pass, allocated once per context and reused.  Every pool thread works on
 * its own rows of the shared buffers, and on its own score tile. */
typedef struct {
    float *x;       /* [N, D] residual stream                          */
    float *xn;      /* [N, D] LayerNorm output                         */
    float *q, *k, *v;/* [N, D]                                          */
    float *ctx;     /* [N, D] attention output before the `out` Linear  */
    float *scores;  /* [threads][TILE, N] attention probabilities       */
    float *hidden;  /* [N, M] MLP hidden layer                         */
    float *patches; /* [G*G, 3*P*P] im2col of the input                */
    rams_pool *pool;/* not owned: the context's                        */
    void *arena;    /* every buffer above, one populated allocation    */
    size_t arena_bytes;
} rams_encoder_state;

rams_status rams_encoder_state_init(rams_encoder_state *s, const rams_config *c, rams_pool *pool);
void rams_encoder_state_free(rams_encoder_state *s);

/* Writes the tokens entering block 0 (CLS tokens, patch embeddings, plus position) into s->x. */
void rams_embed(const rams_model *m, rams_encoder_state *s, const float *image);

/* Block `layer` on s->x.  Rows [first_row, first_row + rows) of s->x are exact afterwards (the
 * last block only needs the CLS row some output reads).  maps, if not NULL, receives the N x N
 * head-mean attention probabilities, which needs every query row. */
void rams_block(const rams_model *m, rams_encoder_state *s, int layer, int first_row, int rows, float *map);

/* After rams_embed: every block, then part_norm of token `cls_token` into out[D].  maps, if not
 * NULL, receives L maps of N x N. */
void rams_encode_blocks(const rams_model *m, rams_encoder_state *s, int cls_token, float *maps, float *out);

/* The whole scale: rams_embed, then rams_encode_blocks. */
void rams_encode(const rams_model *m, rams_encoder_state *s, const float *image, int cls_token, float *maps,
                 float *out);

/* Floating-point operations of one rams_encode call (multiply-adds count 2). */
double rams_encode_flops(const rams_config *c, int with_maps);

/* part_head: logits[C] = W . hidden + b. */
void rams_head(const rams_model *m, const float *hidden, float *logits);

#endif
