/* The elementwise loops of the encoder (softmax, GELU, LayerNorm), compiled twice: for any x86-64 (or other
 * CPU), and with AVX2 + FMA (vecmath_avx2.c).  rams_vecmath() picks, once, the set the CPU
 * runs.  Both are written so that the compiler vectorises them: libm's expf and erff do not
 * vectorise, and one ViT-B/16 pass at 448 takes 89 million exponentials. */
#ifndef RAMS_VECMATH_H
#define RAMS_VECMATH_H

typedef struct {
    void (*softmax_rows)(float *x, int rows, int n, int stride);
    void (*gelu)(float *x, int n);
    void (*layernorm)(float *out, int out_stride, const float *in, int in_stride, int rows, int dim,
                      const float *weight, const float *bias, float eps);
    const char *name; /* "avx2" or "generic" */
} rams_vecmath_set;

const rams_vecmath_set *rams_vecmath(void);

void rams_softmax_rows_generic(float *x, int rows, int n, int stride);
void rams_gelu_generic(float *x, int n);
void rams_softmax_rows_avx2(float *x, int rows, int n, int stride);
void rams_layernorm_generic(float *out, int out_stride, const float *in, int in_stride, int rows, int dim,
                            const float *weight, const float *bias, float eps);
void rams_layernorm_avx2(float *out, int out_stride, const float *in, int in_stride, int rows, int dim,
                         const float *weight, const float *bias, float eps);
void rams_gelu_avx2(float *x, int n);

#endif
