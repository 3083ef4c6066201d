/* Matrix-product backends.  Each computes out[rows, out_dim] += in[rows, in_dim] . W^T with W stored
 * [out_dim, in_dim] as PyTorch stores a Linear's weight; row-major, with row strides in elements.
 * One backend today, f32 through OpenBLAS (gemm_f32.c); the bf16 and int8 backends chosen at run
 * time go beside it, one file each. */
#ifndef RAMS_KERNELS_GEMM_H
#define RAMS_KERNELS_GEMM_H

/* float32, single-threaded OpenBLAS (the library's pool owns the threads); GEMV for one row. */
void rams_gemm_f32(float *out, int out_stride, const float *in, int in_stride, int rows, int in_dim, const float *W,
                   int out_dim);

#endif
