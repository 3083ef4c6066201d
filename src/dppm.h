/* The Dynamic Patch Proposal Module (SPEC 2): attention rollout, threshold, largest 8-connected
 * component, the released code's box, and the bilinear zoom of the crop. */
#ifndef RAMS_DPPM_H
#define RAMS_DPPM_H

#include "ramstrans.h"

/* v[G*G] = patch columns of mean over rows of J = B_L ... B_1, B_l = rownorm(A_l + I), computed
 * as the row vector (1/N) 1^T pushed through B_L, ..., B_1 in double: O(L N^2).  The patch columns
 * are those after the cls_tokens CLS columns (2 for RAMS-Trans, 1 for a plain ViT); the mean is over
 * all N rows, CLS rows included.  maps: L head-mean attention maps of N x N.  work: 2*N doubles. */
void rams_rollout(const float *maps, int layers, int n_tokens, int cls_tokens, double *v, double *work);

/* p = v / max(v), t = alpha * mean(p), mask = p > t (strict).  Returns the number of cells set.
 * A map with max(v) <= 0 or non-finite values gives an empty mask. */
int rams_threshold(const double *v, int cells, double alpha, float *p, double *t, unsigned char *mask);

/* Keeps the largest 8-connected component of the G x G mask (ties: the component whose first cell
 * comes first in row-major order) and marks its cells 2 in mask.  stack: G*G ints.
 * Returns its area (0 for an empty mask) and its inclusive cell bounds. */
int rams_largest_component(unsigned char *mask, int grid, int *stack, int *r0, int *c0, int *r1, int *c1);

/* The pixel box of cell rows r0..r1, cols c0..c1 with the released one-pixel overlap at
 * top/left; the whole S x S input when area == 0. */
rams_box rams_cells_to_box(int area, int r0, int c0, int r1, int c1, int patch, int image_size);

/* Crops the inclusive box of a 3 x S x S tensor and resizes it to 3 x S x S, bilinear with
 * align_corners = True, as torch.nn.functional.interpolate computes it in float. */
void rams_zoom_crop(const float *image, int image_size, rams_box box, float *out);

/* All of the above: from the scale-1 maps to the box and the zoomed crop (the CLS tokens are the
 * n_tokens - G*G first).  p, mask: G*G; work: 2*N + G*G doubles' worth of scratch (see
 * rams_dppm_work_bytes). */
size_t rams_dppm_work_bytes(int n_tokens, int grid);
rams_box rams_dppm(const float *maps, int layers, int n_tokens, int grid, int patch, double alpha,
                   const float *image, float *crop, float *p, unsigned char *mask, float *threshold,
                   int *fallback, void *work);

/* rams_dppm in its two halves (for the run, which times them apart), on the same work: the rollout
 * (returns v, G*G doubles inside work), then the threshold, component, box and crop from it. */
const double *rams_dppm_rollout(const float *maps, int layers, int n_tokens, int cls_tokens, void *work);
rams_box rams_dppm_box(int n_tokens, int grid, int patch, double alpha, const float *image, float *crop,
                       float *p, unsigned char *mask, float *threshold, int *fallback, void *work);

#endif
