/* libFuzzer target: the JPEG, PNG or WebP decoder (RAMS_FUZZ_KIND picks which one this binary aims at;
 * inputs of another kind are skipped so each target spends its time on its own format), then
 * the preprocessing of whatever it decodes. */
#include <stdint.h>
#include <stdlib.h>

#include "image.h"
#include "sniff.h"
#include "preprocess.h"

/* Small enough that a lying header cannot make one input take seconds. */
#define FUZZ_MAX_PIXELS ((size_t)1 << 22)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (rams_sniff(data, size) != RAMS_FUZZ_KIND) return 0;
    rams_image img;
    if (rams_image_decode(data, size, "fuzz image", FUZZ_MAX_PIXELS, &img) != RAMS_OK) return 0;
    if (img.width <= 0 || img.height <= 0 || !img.rgb) __builtin_trap();
    /* A shorter-side resize and center crop, the model's usual pipeline, at a small size. */
    rams_preprocess pp = {.resize_mode = RAMS_RESIZE_SHORTER,
                          .resize_shorter = 40,
                          .crop_width = 32,
                          .crop_height = 32,
                          .mean = {0.5f, 0.5f, 0.5f},
                          .std = {0.25f, 0.25f, 0.25f}};
    static float out[3 * 32 * 32];
    rams_geometry geo;
    if (rams_preprocess_rgb(img.rgb, img.width, img.height, (size_t)img.width * 3, &pp, out, &geo) ==
        RAMS_OK) {
        rams_box b = rams_box_to_image(&geo, (rams_box){3, 5, 20, 31});
        if (b.top < 0 || b.left < 0 || b.bottom >= img.height || b.right >= img.width || b.top > b.bottom ||
            b.left > b.right)
            __builtin_trap();
    }
    rams_image_free(&img);
    return 0;
}
