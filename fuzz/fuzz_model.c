/* libFuzzer target: the model file (length, JSON header, metadata, tensor table, data).  The
 * loader maps a path, so each input is written to one memfd and loaded through /proc/self/fd.
 * A model the loader accepts that is small enough is also run once on a constant input: the
 * encoder and the DPPM then see whatever weights and architecture the input declares. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAMSTRANS_EXPERIMENTAL
#include "ramstrans.h"

static int memfd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memfd < 0) {
        memfd = memfd_create("fuzz_model", 0);
        if (memfd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    }
    if (ftruncate(memfd, 0) != 0 || (size && pwrite(memfd, data, size, 0) != (ssize_t)size)) abort();

    rams_model_params mp = rams_model_default_params();
    mp.use_mmap = size % 2; /* both the mapped and the read path */
    rams_model *m;
    if (rams_model_load(path, &mp, &m) != RAMS_OK) return 0;
    rams_model_info info;
    if (rams_model_get_info(m, &info) != RAMS_OK) abort();
    for (int i = 0; i < info.num_classes; i++)
        if (!rams_model_label(m, i)) abort();
    /* Only cheap models run: a fuzz input must take milliseconds. */
    if (rams_model_flops(m, RAMS_MODE_FUSED) < 2e7 && info.image_size <= 64) {
        rams_context_params cp = rams_context_default_params();
        cp.threads = 1;
        rams_context *ctx;
        if (rams_context_create(m, &cp, &ctx) == RAMS_OK) {
            size_t n = 3 * (size_t)info.image_size * info.image_size;
            float *x = malloc(n * sizeof *x);
            for (size_t i = 0; i < n; i++) x[i] = (float)(i % 7) * 0.25f - 0.75f;
            rams_run_params rp = rams_run_default_params();
            rp.mode = RAMS_MODE_FUSED;
            rp.want_rollout = rp.want_crop = 1;
            rams_result r;
            if (rams_classify_tensor(ctx, x, 3, info.image_size, info.image_size, &rp, &r) == RAMS_OK) {
                if (r.has_box && (r.box.top < 0 || r.box.left < 0 || r.box.bottom >= info.image_size ||
                                  r.box.right >= info.image_size))
                    abort();
            }
            free(x);
            rams_context_free(ctx);
        }
    }
    rams_model_free(m);
    return 0;
}
