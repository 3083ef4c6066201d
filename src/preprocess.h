/* Preprocessing of the released evaluation (SPEC 4): PIL-exact bilinear resize on 8-bit RGB,
 * torchvision center crop, /255, normalisation to a 3 x H x W float tensor. */
#ifndef RAMS_PREPROCESS_H
#define RAMS_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "ramstrans.h"

/* Where the network's input came from in the original image, to map boxes back. */
typedef struct {
    int image_width, image_height; /* the decoded image                                       */
    int resized_width, resized_height;
    int crop_x, crop_y; /* offset of the center crop inside the resized image      */
    int crop_width, crop_height;
} rams_geometry;

/* Pillow's Image.resize(size, Image.BILINEAR) on 8-bit RGB: antialiased when shrinking
 * (support grows with the scale), 8-bit fixed-point coefficients with Pillow's rounding,
 * horizontal pass then vertical.  src rows are `src_stride` bytes apart; dst is dw*dh*3. */
rams_status rams_resize_bilinear_rgb8(const uint8_t *src, int sw, int sh, size_t src_stride, uint8_t *dst,
                                      int dw, int dh);

/* The full pipeline into out (3 * crop_height * crop_width floats). */
rams_status rams_preprocess_rgb(const uint8_t *rgb, int width, int height, size_t stride,
                                const rams_preprocess *pp, float *out, rams_geometry *geo);

/* Maps an inclusive box in network-input pixels back to inclusive original-image pixels. */
rams_box rams_box_to_image(const rams_geometry *geo, rams_box box);

#endif
