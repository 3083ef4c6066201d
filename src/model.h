/* The loaded model: configuration, weights (pointers into the mapped file where possible),
 * preprocessing and labels.  Read-only after rams_model_load, so any number of threads share it
 * (but for the atomic count of the contexts made from it). */
#ifndef RAMS_MODEL_H
#define RAMS_MODEL_H

#include <stdatomic.h>
#include <stddef.h>

#include "kernels/gemm.h"
#include "ramstrans.h"
#include "safetensors.h"

/* Hard bounds on what a model file's metadata may declare, so that a hostile header never gets an
 * allocation attempt of absurd size (safetensors.h bounds the header itself).  ViT-L/16 at 448 (N = 786, D = 1024) sits well inside. */
#define RAMS_MAX_IMAGE_SIZE  2048
#define RAMS_MAX_TOKENS      16386 /* 128 x 128 patches + 2 CLS tokens */
#define RAMS_MAX_CLS_TOKENS  2
#define RAMS_MAX_HIDDEN      8192
#define RAMS_MAX_MLP         65536
#define RAMS_MAX_LAYERS      256
#define RAMS_MAX_CLASSES     1000000
#define RAMS_MAX_LABEL_BYTES 1024
/* Working memory of one context, in floats: L*N*N attention maps + N*(6D + M) activations + the
 * inputs (+ per-thread attention tiles, checked at context creation).  1 GiB, all committed when
 * the context is made: ViT-L/16 at 448 needs 25 M floats, ViT-B/16 at 1024 about 245 M. */
#define RAMS_MAX_CONTEXT_FLOATS ((size_t)1 << 28)

typedef struct {
    int image_size, patch_size, grid; /* S, P, G = S / P                 */
    int cls_tokens;                   /* 2 (RAMS-Trans) or 1 (a plain ViT)  */
    int num_tokens;                   /* N = G*G + cls_tokens              */
    int hidden, heads, head_size;     /* D, H, D / H                       */
    int layers, mlp, classes;         /* L, M, C                           */
    float ln_eps, alpha;
    rams_mode default_mode;
} rams_config;

/* Working memory a context needs for this architecture apart from the per-thread attention tiles,
 * in floats (double: a hostile header's sizes must not overflow): the L attention maps of N x N,
 * N x (6D + M) activations, and the input, the crop and the patches (9 S^2).  Bounded by
 * RAMS_MAX_CONTEXT_FLOATS at load and, with the tiles, at context creation. */
static inline double rams_model_work_floats(const rams_config *c)
{
    double S = c->image_size, N = c->num_tokens;
    return (double)c->layers * N * N + N * (6.0 * c->hidden + c->mlp) + 9.0 * S * S;
}

/* The weight matrices are held as the model's GEMM backend wants them (kernels/gemm.h): f32 in
 * place for openblas-sgemm, packed bf16 for the bf16 kernels; the vectors are always f32. */
typedef struct {
    const float *attn_norm_w, *attn_norm_b; /* [D]                  */
    rams_matrix q_w, k_w, v_w;              /* [D,D] (out, in)      */
    const float *q_b, *k_b, *v_b;           /* [D]                  */
    rams_matrix out_w;                      /* [D,D]                */
    const float *out_b;                     /* [D]                  */
    const float *ffn_norm_w, *ffn_norm_b;   /* [D]                  */
    rams_matrix fc1_w;                      /* [M,D]                */
    const float *fc1_b;                     /* [M]                  */
    rams_matrix fc2_w;                      /* [D,M]                */
    const float *fc2_b;                     /* [D]                  */
} rams_layer_weights;

typedef struct {
    rams_matrix patch_w;          /* [D, 3*P*P] (the conv's [D,3,P,P]) */
    const float *patch_b;         /* [D]              */
    const float *pos;             /* [N, D]           */
    const float *cls1, *cls2;     /* [D]; cls2 NULL with one CLS token */
    rams_layer_weights *layer;    /* [L]              */
    const float *norm_w, *norm_b; /* part_norm [D]    */
    rams_matrix head_w;           /* part_head [C,D]  */
    const float *head_b;          /* [C]              */
} rams_weights;

struct rams_model {
    rams_config cfg;
    rams_weights w;
    rams_preprocess preprocess;
    char **labels;                  /* [C], owned                                  */
    char dtype[8];                  /* "F32", "F16", "BF16" or "mixed"             */
    rams_file_bytes file;           /* the mapped (or read) file                   */
    struct rams_prefault *prefault; /* maps the weights' pages in the background after loading */
    float *converted;               /* f16 / bf16 / unaligned tensors as f32, one allocation */
    rams_precision precision;
    const rams_gemm_backend *gemm;      /* the kernel every weight matrix runs on              */
    const rams_gemm_backend *attention; /* the attention products' (bf16), NULL: f32 sgemm */
    void *packed;                       /* the matrices in the backend's layout (NULL for f32), one mapping */
    size_t packed_bytes;
    atomic_int contexts; /* live contexts made from it: rams_model_free refuses while > 0 */
};

/* model_file.c: parses and validates the file at path into m (cfg, weights, preprocess, labels).
 * On failure m may hold partial allocations: release it with rams_model_file_release. */
rams_status rams_model_file_parse(const char *path, const rams_model_params *params, rams_model *m);
void rams_model_file_release(rams_model *m);

#endif
