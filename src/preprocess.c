/* Preprocessing exactly as the released evaluation does it with PIL and torchvision (SPEC 4).
 *
 * Resizing follows Pillow 9.4's Resample.c for BILINEAR on 8-bit images:
 *  - per axis, scale = in / out and filterscale = max(scale, 1); the triangle filter's support is
 *    1 * filterscale, so shrinking averages over every source pixel under the stretched filter
 *    (antialiasing) while enlarging interpolates between neighbours;
 *  - output pixel i is centred on (i + 0.5) * scale; its source span is
 *    [(int)(center - support + 0.5), (int)(center + support + 0.5)) clipped to the image, and its
 *    weights are filter((j - center + 0.5) / filterscale), normalised to sum 1 in double precision and
 *    then rounded to signed fixed point with 22 fractional bits (away from zero at .5);
 *  - accumulation is in int starting from 0.5 (1 << 21), and the result is >> 22 clipped to 0..255;
 *  - the horizontal pass runs first (into 8-bit rows), the vertical pass second, and a pass is skipped
 *    when its axis keeps its size (so a same-width resize never touches the columns).
 * Every output pixel depends only on its own weights, so computing a window of the output (the
 * center crop) gives the same bytes as Pillow computing everything; we do that to stay small on
 * extreme aspect ratios.
 *
 * The weights are computed in double with the same operations in the same order as Pillow; none of
 * them is a multiply followed by an add whose fusion could change a result (the one "0.5 + k*2^22" is
 * exact either way), so FMA contraction cannot break the bit-exactness. */
#include "preprocess.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define PRECISION_BITS (32 - 8 - 2)

/* Weights of a window [first, first + count) of the outputs of one axis resized in_size -> out_size. */
typedef struct {
    int ksize;       /* weights stored per output (the most any output uses) */
    int *start;      /* first source index of each output                    */
    int *length;     /* number of source indices of each output              */
    int32_t *weight; /* count * ksize fixed-point weights                    */
} axis_weights;

static void axis_weights_free(axis_weights *a)
{
    free(a->start);
    free(a->length);
    free(a->weight);
    memset(a, 0, sizeof *a);
}

static double triangle(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static rams_status axis_weights_make(int in_size, int out_size, int first, int count, axis_weights *a)
{
    memset(a, 0, sizeof *a);
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    double ksize_d = ceil(support) * 2 + 1;
    if (ksize_d > (double)(INT_MAX / 2) || (double)count * ksize_d > (double)(SIZE_MAX / sizeof(double)))
        return rams_fail(RAMS_ERR_LIMIT, "resize: %d -> %d needs too many filter weights", in_size, out_size);
    int ksize = (int)ksize_d;
    if (ksize > in_size + 2) ksize = in_size + 2; /* no output can use more taps than there are pixels */
    a->ksize = ksize;
    a->start = malloc(sizeof(int) * (size_t)count);
    a->length = malloc(sizeof(int) * (size_t)count);
    a->weight = malloc(sizeof(int32_t) * (size_t)count * (size_t)ksize);
    double *k = malloc(sizeof(double) * (size_t)ksize);
    if (!a->start || !a->length || !a->weight || !k) {
        free(k);
        axis_weights_free(a);
        return rams_fail(RAMS_ERR_NO_MEMORY, "resize: cannot allocate filter weights");
    }
    double ss = 1.0 / filterscale;
    for (int i = 0; i < count; i++) {
        int xx = first + i;
        double center = (xx + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > ksize) xmax = ksize; /* cannot happen; keeps the writes in bounds regardless */
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            double w = triangle((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        int32_t *out = a->weight + (size_t)i * ksize;
        for (int x = 0; x < xmax; x++) {
            double w = ww != 0.0 ? k[x] / ww : k[x];
            out[x] = w < 0 ? (int32_t)(-0.5 + w * (1 << PRECISION_BITS))
                           : (int32_t)(0.5 + w * (1 << PRECISION_BITS));
        }
        a->start[i] = xmin;
        a->length[i] = xmax;
    }
    free(k);
    return RAMS_OK;
}

static inline uint8_t clip8(int v)
{
    v >>= PRECISION_BITS; /* arithmetic shift: floor, as Pillow's lookup table index */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass: `rows` source rows (stride bytes apart) into rows of `ax->count` pixels. */
static void pass_horizontal(const uint8_t *src, size_t stride, int rows, const axis_weights *ax, int count,
                            uint8_t *dst)
{
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)y * stride;
        uint8_t *out = dst + (size_t)y * count * 3;
        for (int i = 0; i < count; i++) {
            const int32_t *k = ax->weight + (size_t)i * ax->ksize;
            const uint8_t *p = in + (size_t)ax->start[i] * 3;
            int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < ax->length[i]; x++) {
                s0 += p[3 * x] * k[x];
                s1 += p[3 * x + 1] * k[x];
                s2 += p[3 * x + 2] * k[x];
            }
            out[3 * i] = clip8(s0);
            out[3 * i + 1] = clip8(s1);
            out[3 * i + 2] = clip8(s2);
        }
    }
}

/* Vertical pass: output row j of the window mixes source rows start[j] - row0 ... of src. */
static void pass_vertical(const uint8_t *src, size_t stride, int row0, int width, const axis_weights *ay,
                          int count, uint8_t *dst)
{
    for (int j = 0; j < count; j++) {
        const int32_t *k = ay->weight + (size_t)j * ay->ksize;
        const uint8_t *base = src + (size_t)(ay->start[j] - row0) * stride;
        uint8_t *out = dst + (size_t)j * width * 3;
        for (int x = 0; x < width * 3; x++) {
            int s = 1 << (PRECISION_BITS - 1);
            const uint8_t *p = base + x;
            for (int y = 0; y < ay->length[j]; y++) s += p[(size_t)y * stride] * k[y];
            out[x] = clip8(s);
        }
    }
}

/* The window [x0, x0+cw) x [y0, y0+ch) of the sw x sh -> dw x dh Pillow bilinear resize, into dst
 * (cw * ch * 3 bytes). */
static rams_status resize_window(const uint8_t *src, int sw, int sh, size_t stride, int dw, int dh, int x0,
                                 int y0, int cw, int ch, uint8_t *dst)
{
    int need_horizontal = dw != sw, need_vertical = dh != sh;
    axis_weights ax = {0}, ay = {0};
    uint8_t *tmp = NULL;
    rams_status st = RAMS_OK;

    if (!need_horizontal && !need_vertical) {
        for (int y = 0; y < ch; y++)
            memcpy(dst + (size_t)y * cw * 3, src + (size_t)(y0 + y) * stride + (size_t)x0 * 3,
                   (size_t)cw * 3);
        return RAMS_OK;
    }
    if (need_horizontal && (st = axis_weights_make(sw, dw, x0, cw, &ax)) != RAMS_OK) goto done;
    if (need_vertical && (st = axis_weights_make(sh, dh, y0, ch, &ay)) != RAMS_OK) goto done;

    if (need_horizontal && need_vertical) {
        /* Only the source rows that the window's vertical weights reach go through the first pass. */
        int first = ay.start[0], last = ay.start[ch - 1] + ay.length[ch - 1];
        for (int j = 0; j < ch; j++) {
            if (ay.start[j] < first) first = ay.start[j];
            if (ay.start[j] + ay.length[j] > last) last = ay.start[j] + ay.length[j];
        }
        tmp = malloc((size_t)(last - first) * cw * 3);
        if (!tmp) {
            st = rams_fail(RAMS_ERR_NO_MEMORY, "resize: cannot allocate %d x %d pixels", cw, last - first);
            goto done;
        }
        pass_horizontal(src + (size_t)first * stride, stride, last - first, &ax, cw, tmp);
        pass_vertical(tmp, (size_t)cw * 3, first, cw, &ay, ch, dst);
    } else if (need_horizontal) {
        pass_horizontal(src + (size_t)y0 * stride, stride, ch, &ax, cw, dst);
    } else {
        pass_vertical(src + (size_t)x0 * 3, stride, 0, cw, &ay, ch, dst);
    }
done:
    free(tmp);
    axis_weights_free(&ax);
    axis_weights_free(&ay);
    return st;
}

rams_status rams_resize_bilinear_rgb8(const uint8_t *src, int sw, int sh, size_t src_stride, uint8_t *dst,
                                      int dw, int dh)
{
    if (!src || !dst || sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || src_stride < (size_t)sw * 3)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "resize: bad arguments (%dx%d -> %dx%d)", sw, sh, dw, dh);
    return resize_window(src, sw, sh, src_stride, dw, dh, 0, 0, dw, dh, dst);
}

/* torchvision's CenterCrop offset on one axis: round((size - crop) / 2) with Python's round (half to
 * even); when the crop is larger, torchvision first pads (crop - size) // 2 zeros before the image,
 * which we express as a negative offset. */
static int center_crop_offset(int size, int crop)
{
    if (crop > size) return -((crop - size) / 2);
    int d = size - crop, half = d / 2;
    if (d % 2 == 0) return half;
    return half % 2 == 0 ? half : half + 1;
}

rams_status rams_preprocess_rgb(const uint8_t *rgb, int width, int height, size_t stride,
                                const rams_preprocess *pp, float *out, rams_geometry *geo)
{
    if (!rgb || !pp || !out || width <= 0 || height <= 0 || stride < (size_t)width * 3)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "preprocess: bad arguments (%dx%d image)", width, height);
    int cw = pp->crop_width, ch = pp->crop_height;
    if (cw <= 0 || ch <= 0 || (int64_t)cw * ch > 1 << 26)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "preprocess: bad crop size %dx%d", cw, ch);
    for (int c = 0; c < 3; c++)
        if (!(pp->std[c] != 0.0f) || !isfinite(pp->std[c]) || !isfinite(pp->mean[c]))
            return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "preprocess: bad mean/std for channel %d", c);

    int rw, rh;
    switch (pp->resize_mode) {
    case RAMS_RESIZE_NONE: rw = width, rh = height; break;
    case RAMS_RESIZE_FIXED:
        rw = pp->resize_width, rh = pp->resize_height;
        if (rw <= 0 || rh <= 0)
            return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "preprocess: bad resize size %dx%d", rw, rh);
        break;
    case RAMS_RESIZE_SHORTER: {
        int size = pp->resize_shorter;
        if (size <= 0) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "preprocess: bad shorter side %d", size);
        int shorter = width <= height ? width : height, longer = width <= height ? height : width;
        /* torchvision: int(size * long / short); Python's int/int division is correctly rounded, and so
         * is this double division of two exactly represented integers. */
        double new_long = (double)((int64_t)size * longer) / shorter;
        if (new_long >= (double)INT_MAX)
            return rams_fail(RAMS_ERR_LIMIT,
                             "preprocess: resizing %dx%d to a shorter side of %d is too large", width, height,
                             size);
        int nl = (int)new_long;
        if (nl <= 0) nl = 1;
        rw = width <= height ? size : nl;
        rh = width <= height ? nl : size;
        break;
    }
    default:
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "preprocess: unknown resize mode %d",
                         (int)pp->resize_mode);
    }

    int ox = center_crop_offset(rw, cw), oy = center_crop_offset(rh, ch);
    /* The part of the resized image inside the crop; the rest of the crop is torchvision's zero padding. */
    int wx0 = ox > 0 ? ox : 0, wy0 = oy > 0 ? oy : 0;
    int wx1 = ox + cw < rw ? ox + cw : rw, wy1 = oy + ch < rh ? oy + ch : rh;
    int ww = wx1 - wx0, wh = wy1 - wy0;
    uint8_t *window = malloc((size_t)ww * wh * 3);
    if (!window) return rams_fail(RAMS_ERR_NO_MEMORY, "preprocess: cannot allocate %dx%d pixels", ww, wh);
    rams_status st = resize_window(rgb, width, height, stride, rw, rh, wx0, wy0, ww, wh, window);
    if (st != RAMS_OK) {
        free(window);
        return st;
    }

    /* ToTensor (x / 255 in float) and Normalize ((x - mean) / std in float), channel-major. */
    for (int c = 0; c < 3; c++) {
        float *plane = out + (size_t)c * ch * cw;
        for (int y = 0; y < ch; y++) {
            int ry = y + oy;
            for (int x = 0; x < cw; x++) {
                int rx = x + ox;
                uint8_t v = 0;
                if (ry >= wy0 && ry < wy1 && rx >= wx0 && rx < wx1)
                    v = window[((size_t)(ry - wy0) * ww + (rx - wx0)) * 3 + c];
                float f = (float)v / 255.0f;
                plane[(size_t)y * cw + x] = (f - pp->mean[c]) / pp->std[c];
            }
        }
    }
    free(window);

    if (geo) {
        geo->image_width = width;
        geo->image_height = height;
        geo->resized_width = rw;
        geo->resized_height = rh;
        geo->crop_x = ox;
        geo->crop_y = oy;
        geo->crop_width = cw;
        geo->crop_height = ch;
    }
    return RAMS_OK;
}

/* floor(a * b / c) and ceil(a * b / c) for c > 0, b >= 0, in 64-bit (a may be negative). */
static int64_t floor_muldiv(int64_t a, int64_t b, int64_t c)
{
    int64_t n = a * b;
    return n >= 0 ? n / c : -((-n + c - 1) / c);
}

static int64_t ceil_muldiv(int64_t a, int64_t b, int64_t c) { return -floor_muldiv(-a, b, c); }

static int clamp_int(int64_t v, int lo, int hi) { return (int)(v < lo ? lo : v > hi ? hi : v); }

/* Network-input pixel x covers [x + crop_x, x + crop_x + 1) of the resized image, i.e.
 * [(x + crop_x) * W / rw, (x + crop_x + 1) * W / rw) of the original: the mapped box is the smallest
 * inclusive pixel box covering the input box's area, clamped to the image. */
rams_box rams_box_to_image(const rams_geometry *geo, rams_box box)
{
    rams_box r = {0, 0, 0, 0};
    if (!geo || geo->resized_width <= 0 || geo->resized_height <= 0 || geo->image_width <= 0 ||
        geo->image_height <= 0)
        return r;
    int64_t W = geo->image_width, H = geo->image_height, rw = geo->resized_width, rh = geo->resized_height;
    r.left = clamp_int(floor_muldiv((int64_t)box.left + geo->crop_x, W, rw), 0, (int)W - 1);
    r.right = clamp_int(ceil_muldiv((int64_t)box.right + geo->crop_x + 1, W, rw) - 1, 0, (int)W - 1);
    r.top = clamp_int(floor_muldiv((int64_t)box.top + geo->crop_y, H, rh), 0, (int)H - 1);
    r.bottom = clamp_int(ceil_muldiv((int64_t)box.bottom + geo->crop_y + 1, H, rh) - 1, 0, (int)H - 1);
    if (r.right < r.left) r.right = r.left;
    if (r.bottom < r.top) r.bottom = r.top;
    return r;
}
