/* The context: the scratch memory of one run, its threads, and the storage of its last result.
 * Made and freed by context.c; run.c fills it. */
#ifndef RAMS_CONTEXT_H
#define RAMS_CONTEXT_H

#ifndef RAMSTRANS_EXPERIMENTAL
#error "define RAMSTRANS_EXPERIMENTAL before the first include: the context keeps the stages' times"
#endif

#include <stdint.h>

#include "encoder.h"
#include "ramstrans.h"
#include "threadpool.h"
#include "timing.h"

/* The most predictions a list holds. */
#define RAMS_MAX_TOP_K 1000

struct rams_context {
    const rams_model *model;
    rams_encoder_state enc;
    float *maps;                          /* L x N x N scale-1 head-mean attention maps (for DPPM)      */
    size_t big_bytes;                     /* the mapping that holds maps, input and crop                 */
    float *input;                         /* 3 x S x S: a preprocessed image                             */
    float *crop;                          /* 3 x S x S: the zoomed scale-2 input                         */
    float *hidden;                        /* D: part_norm of the CLS token                               */
    float *logits1, *logits2;             /* C each                                               */
    float *probs1, *probs2, *probs_fused; /* C each: softmax of each scale, their mean      */
    int *order;                           /* C: class indices for the top-k selection                   */
    rams_prediction *top1, *top2, *top_fused; /* up to RAMS_MAX_TOP_K each               */
    uint8_t *image_rgb;  /* want_image: the last run's decoded (or copied) pixels       */
    rams_result result;  /* the last run's, copied out to the caller's result_size      */
    float *p;            /* G x G normalised rollout                                    */
    unsigned char *mask; /* G x G                                                       */
    void *dppm_work;
    rams_timer timer;                       /* the run in progress                                         */
    double stage_seconds[RAMS_STAGE_COUNT]; /* the last successful run's                 */
    rams_pool *pool;
};

#endif
