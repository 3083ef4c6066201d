/* libFuzzer target: the DPPM on arbitrary maps.  The input's first bytes choose the grid, the
 * patch size, alpha and how the rest is read; the rest becomes either the rollout vector v
 * (threshold, largest component, box, zoom) or whole attention maps (rams_dppm end to end).
 * Every box must lie inside the input and every mask cell be 0, 1 or 2. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dppm.h"

#define FUZZ_MAX_GRID  24
#define FUZZ_MAX_PATCH 6

static void check_box(rams_box b, int S)
{
    if (b.top < 0 || b.left < 0 || b.bottom >= S || b.right >= S || b.top > b.bottom || b.left > b.right)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    int grid = 1 + data[0] % FUZZ_MAX_GRID, patch = 1 + data[1] % FUZZ_MAX_PATCH, how = data[3] % 4;
    /* alpha: the released 1.3 most of the time, else anything from a byte (0 and absurd included). */
    double alpha = data[2] < 128 ? 1.3 : data[2] == 255 ? 1e300 : (data[2] - 128) / 16.0;
    data += 4, size -= 4;
    int cells = grid * grid, S = grid * patch, N = cells + 2;
    double *v = calloc((size_t)cells, sizeof *v);
    float *p = calloc((size_t)cells, sizeof *p), *image = malloc(3 * (size_t)S * S * sizeof *image);
    float *crop = malloc(3 * (size_t)S * S * sizeof *crop);
    unsigned char *mask = calloc((size_t)cells, 1);
    void *work = malloc(rams_dppm_work_bytes(N, grid));
    for (size_t i = 0; i < 3 * (size_t)S * S; i++) image[i] = (float)(i % 17) - 8.0f;

    if (how < 3) {
        /* v from the input: one byte per cell (0 = nothing), or raw doubles (NaN, Inf, negatives). */
        for (int i = 0; i < cells; i++) {
            if (how < 2) {
                v[i] = (size_t)i < size ? data[i] : 0;
            } else if ((size_t)(i + 1) * 8 <= size) {
                memcpy(&v[i], data + 8 * (size_t)i, 8);
            }
        }
        double t;
        int set = rams_threshold(v, cells, alpha, p, &t, mask);
        int r0, c0, r1, c1;
        int area = rams_largest_component(mask, grid, (int *)work, &r0, &c0, &r1, &c1);
        if (area < 0 || area > set || (set > 0) != (area > 0)) __builtin_trap();
        int marked = 0;
        for (int i = 0; i < cells; i++) {
            if (mask[i] > 2) __builtin_trap();
            marked += mask[i] == 2;
        }
        if (marked != area) __builtin_trap();
        if (area && (r0 < 0 || c0 < 0 || r1 >= grid || c1 >= grid || r0 > r1 || c0 > c1)) __builtin_trap();
        rams_box box = rams_cells_to_box(area, r0, c0, r1, c1, patch, S);
        check_box(box, S);
        rams_zoom_crop(image, S, box, crop);
    } else {
        /* Attention maps: 1 or 2 layers of N x N floats, the input's bytes as they come. */
        int layers = 1 + (size > (size_t)N * N * 4);
        float *maps = calloc((size_t)layers * N * N, sizeof *maps);
        memcpy(maps, data, size < (size_t)layers * N * N * 4 ? size : (size_t)layers * N * N * 4);
        float threshold;
        int fallback;
        rams_box box =
            rams_dppm(maps, layers, N, grid, patch, alpha, image, crop, p, mask, &threshold, &fallback, work);
        check_box(box, S);
        free(maps);
    }
    free(v), free(p), free(image), free(crop), free(mask), free(work);
    return 0;
}
