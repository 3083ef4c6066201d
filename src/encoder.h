/* The ViT encoder of one scale (SPEC 1): patch embedding, L pre-norm blocks, final LayerNorm. */
#ifndef RAMS_ENCODER_H
#define RAMS_ENCODER_H

#include "model.h"
#include "threadpool.h"

/* Query rows of one attention tile: 96 rows of scores for N = 786 tokens is 300 KB, which stays
 * in a core's L2 cache from the score GEMM through the softmax to the context GEMM.  Measured
 * (ViT-B/16 at 448, int8, one thread, attention time against the int8 GEMMs' in one perf
 * profile): 48 rows 0.52, 64 rows 0.43, 96 rows 0.41, 144 rows 0.39, 192 rows 0.39 (OpenBLAS packs
 * the head's keys again for every tile).  Tiles lie on a grid of multiples of this from row 0, a
 * multiple of RAMS_ROW_ALIGN, so that every score and context GEMM starts on an aligned row
 * (threadpool.h). */
#define RAMS_ATTENTION_TILE 96

/* Scratch memory of one pass, allocated once per context and reused.  Every pool thread works on
 * its own rows of the shared buffers, and on its own score tile. */
typedef struct {
    float *x;                      /* [N, D] residual stream                          */
    float *xn;                     /* [N, D] LayerNorm output                         */
    float *q, *k, *v;              /* [N, D]                                          */
    float *ctx;                    /* [N, D] attention output before the `out` Linear  */
    float *scores;                 /* [threads][TILE, N] attention probabilities       */
    float *hidden;                 /* [N, M] MLP hidden layer                         */
    float *patches;                /* [G*G, 3*P*P] im2col of the input                */
    char *gemm_scratch;            /* [threads][gemm_scratch_bytes]: the GEMM backend's per-thread scratch
                         * (bf16: the activations rounded, the weights widened or packed)  */
    size_t gemm_scratch_bytes;     /* per thread; 0 for f32                            */
    const rams_gemm_backend *gemm; /* the model's                                 */
    const rams_gemm_backend *attn; /* the model's attention kernel; NULL: f32 sgemm   */
    char *attn_packed;             /* with attn: each head's keys [N, hs] and values^T [hs, N] in
                                    * attn's layout, packed once per block               */
    size_t attn_keys_bytes, attn_values_bytes; /* of one head                          */
    rams_pool *pool;                           /* not owned: the context's                        */
    void *arena;                               /* every buffer above, one populated allocation    */
    size_t arena_bytes;
} rams_encoder_state;

/* The GEMM scratch each of `threads` pool threads needs for this model (its widest matrix row, the
 * most rows one thread takes; an attention tile's products on a bf16 attention kernel), in bytes,
 * a multiple of 64.  Counted in the context's memory bound. */
size_t rams_encoder_gemm_scratch_bytes(const rams_model *m, int threads);

/* Bytes of every head's packed keys and values, for a bf16 attention kernel (0 without one). */
size_t rams_encoder_attention_bytes(const rams_model *m);

/* Pool thread `index`'s GEMM backend and scratch. */
static inline rams_gemm_thread rams_encoder_gemm(const rams_encoder_state *s, int index)
{
    rams_gemm_thread g = {s->gemm, s->gemm_scratch + (size_t)index * s->gemm_scratch_bytes,
                          s->gemm_scratch_bytes};
    return g;
}

rams_status rams_encoder_state_init(rams_encoder_state *s, const rams_model *m, rams_pool *pool);
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

/* part_head: logits[C] = W . hidden + b (on the calling thread, with pool thread 0's scratch). */
void rams_head(const rams_model *m, const rams_encoder_state *s, const float *hidden, float *logits);

#endif
