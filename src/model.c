/* The public model object: finding the default model, loading (model_file.c reads the file),
 * the count of live contexts that keeps it alive, its description and labels. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "model.h"
#include "params.h"
#include "threadpool.h"

#ifndef RAMSTRANS_INSTALL_MODEL
#define RAMSTRANS_INSTALL_MODEL ""
#endif
#ifndef RAMSTRANS_SOURCE_MODEL
#define RAMSTRANS_SOURCE_MODEL ""
#endif
#ifndef RAMSTRANS_MODEL_FILE
#define RAMSTRANS_MODEL_FILE "default.safetensors"
#endif

/* <dir of the binary holding this library>/../share/ramstrans/models/<name>: an installed tree
 * finds its model wherever it was installed (cmake --install --prefix X, a moved tree). */
static const char *model_beside_library(void)
{
    static _Thread_local char path[4096];
    Dl_info info;
    if (!dladdr((void *)&rams_default_model_path, &info) || !info.dli_fname) return NULL;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", info.dli_fname);
    char *slash = strrchr(dir, '/');
    if (!slash) return NULL;
    *slash = '\0';
    if (snprintf(path, sizeof path, "%s/../share/ramstrans/models/%s", dir, RAMSTRANS_MODEL_FILE) >=
        (int)sizeof path)
        return NULL;
    return access(path, R_OK) == 0 ? path : NULL;
}

const char *rams_default_model_path(void)
{
    const char *env = getenv("RAMSTRANS_MODEL");
    if (env && *env) return env;
    const char *beside = model_beside_library();
    if (beside) return beside;
    if (*RAMSTRANS_INSTALL_MODEL && access(RAMSTRANS_INSTALL_MODEL, R_OK) == 0)
        return RAMSTRANS_INSTALL_MODEL;
    if (*RAMSTRANS_SOURCE_MODEL && access(RAMSTRANS_SOURCE_MODEL, R_OK) == 0) return RAMSTRANS_SOURCE_MODEL;
    return NULL;
}

rams_status rams_model_load(const char *path, const rams_model_params *params, rams_model **out)
{
    rams_clear_error();
    if (!out) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_model_load: out is NULL");
    *out = NULL;
    if (!path) path = rams_default_model_path();
    if (!path)
        return rams_fail(
            RAMS_ERR_IO,
            "no model given and no default model found (set RAMSTRANS_MODEL, or install one under %s)",
            *RAMSTRANS_INSTALL_MODEL ? RAMSTRANS_INSTALL_MODEL : "share/ramstrans/models");
    rams_model_params p;
    rams_status st = rams_model_params_resolve(params, "rams_model_load", &p);
    if (st != RAMS_OK) return st;
    if ((unsigned)p.precision > RAMS_PRECISION_INT8)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT,
                         "rams_model_load: precision %d is not one of rams_precision's values",
                         (int)p.precision);
    if (p.threads < 0 || p.threads > RAMS_MAX_THREADS)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_model_load: threads = %d is outside 0..%d",
                         p.threads, RAMS_MAX_THREADS);
    rams_model *m = calloc(1, sizeof *m);
    if (!m) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory", path);
    atomic_init(&m->contexts, 0);
    st = rams_model_file_parse(path, &p, m);
    if (st != RAMS_OK) {
        rams_model_file_release(m);
        free(m);
        return st;
    }
    *out = m;
    return RAMS_OK;
}

/* Contexts point into the model (weights, labels, configuration): freeing it under them would
 * leave every later run reading freed memory, so the model stays until they are gone. */
rams_status rams_model_free(rams_model *model)
{
    rams_clear_error();
    if (!model) return RAMS_OK;
    int live = atomic_load(&model->contexts);
    if (live > 0)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT,
                         "rams_model_free: %d context%s made from this model %s still alive; free %s first "
                         "(the model was not freed)",
                         live, live == 1 ? "" : "s", live == 1 ? "is" : "are", live == 1 ? "it" : "them");
    rams_model_file_release(model);
    free(model);
    return RAMS_OK;
}

rams_status rams_model_get_info_sized(const rams_model *m, rams_model_info *out, size_t out_size)
{
    rams_clear_error();
    const char *null = !m ? "model" : !out ? "out" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_model_get_info: %s is NULL", null);
    if (out_size < RAMS_MODEL_INFO_SIZE_0_2)
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT,
                         "rams_model_get_info: out_size is %zu, less than the %zu bytes "
                         "of a rams_model_info",
                         out_size, (size_t)RAMS_MODEL_INFO_SIZE_0_2);
    const rams_config *c = &m->cfg;
    rams_model_info info = {
        .image_size = c->image_size,
        .patch_size = c->patch_size,
        .grid = c->grid,
        .hidden_size = c->hidden,
        .num_heads = c->heads,
        .num_layers = c->layers,
        .mlp_size = c->mlp,
        .num_classes = c->classes,
        .ln_eps = c->ln_eps,
        .alpha = c->alpha,
        .default_mode = c->default_mode,
        .dtype = m->dtype,
        .file_bytes = m->file.size,
        .preprocess = m->preprocess,
        .num_cls_tokens = c->cls_tokens,
        .precision = m->precision,
        .kernel = m->gemm ? m->gemm->name : NULL,
        .attention_kernel = m->attention ? m->attention->name : "openblas-sgemm",
    };
    rams_write_sized(out, out_size, &info, sizeof info);
    return RAMS_OK;
}

const char *rams_model_label(const rams_model *m, int index)
{
    if (!m || index < 0 || index >= m->cfg.classes) return NULL;
    return m->labels[index];
}
