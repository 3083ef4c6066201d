/* ramscli's JSON output, built with cJSON (one object per line; numbers printed so that they read
 * back to the same float). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static cJSON *box_json(rams_box b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "top", b.top);
    cJSON_AddNumberToObject(o, "left", b.left);
    cJSON_AddNumberToObject(o, "bottom", b.bottom);
    cJSON_AddNumberToObject(o, "right", b.right);
    return o;
}

/* The shortest decimal (at most 9 significant digits) that reads back to the same float, as a
 * double: cJSON then prints "1.2", not the float's exact binary value "1.2000000476837158". */
static double short_double(float f)
{
    char buf[32];
    for (int digits = 6; digits < 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, f);
        if (strtof(buf, NULL) == f) return strtod(buf, NULL);
    }
    snprintf(buf, sizeof buf, "%.9g", f);
    return strtod(buf, NULL);
}

static cJSON *number(float f) { return cJSON_CreateNumber(short_double(f)); }

static cJSON *floats_json(const float *v, int n)
{
    if (!v) return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, number(v[i]));
    return a;
}

/* Out of memory inside cJSON leaves members out; the caller only checks that printing worked,
 * which is as far as a command-line tool needs to go on a machine that cannot allocate bytes. */
static char *print_and_free(cJSON *o)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

char *cli_result_json(const char *file, const rams_result *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddStringToObject(o, "mode", rams_mode_name(r->mode));
    cJSON *top = cJSON_AddArrayToObject(o, "top");
    for (int i = 0; top && i < r->top_k; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "index", r->top[i].index);
        cJSON_AddStringToObject(p, "label", r->top[i].label ? r->top[i].label : "");
        cJSON_AddItemToObject(p, "prob", number(r->top[i].prob));
        cJSON_AddItemToArray(top, p);
    }
    cJSON *logits = cJSON_AddObjectToObject(o, "logits");
    if (logits) {
        cJSON_AddItemToObject(logits, "scale1", floats_json(r->logits_scale1, r->num_classes));
        cJSON_AddItemToObject(logits, "scale2", floats_json(r->logits_scale2, r->num_classes));
    }
    cJSON_AddItemToObject(o, "box", r->has_box ? box_json(r->box) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "box_image",
                          r->has_box && r->has_image_box ? box_json(r->image_box) : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "fallback", r->has_box && r->box_is_fallback);
    if (r->has_image_box) {
        cJSON *img = cJSON_AddObjectToObject(o, "image");
        cJSON_AddNumberToObject(img, "width", r->image_width);
        cJSON_AddNumberToObject(img, "height", r->image_height);
    } else {
        cJSON_AddNullToObject(o, "image");
    }
    return print_and_free(o);
}

static cJSON *preprocess_json(const rams_preprocess *pp)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *resize = cJSON_AddObjectToObject(o, "resize");
    switch (pp->resize_mode) {
    case RAMS_RESIZE_FIXED:
        cJSON_AddStringToObject(resize, "mode", "fixed");
        cJSON_AddNumberToObject(resize, "width", pp->resize_width);
        cJSON_AddNumberToObject(resize, "height", pp->resize_height);
        break;
    case RAMS_RESIZE_SHORTER:
        cJSON_AddStringToObject(resize, "mode", "shorter");
        cJSON_AddNumberToObject(resize, "size", pp->resize_shorter);
        break;
    default: cJSON_AddStringToObject(resize, "mode", "none"); break;
    }
    cJSON_AddStringToObject(o, "interpolation", "bilinear");
    cJSON *crop = cJSON_AddObjectToObject(o, "crop");
    cJSON_AddNumberToObject(crop, "width", pp->crop_width);
    cJSON_AddNumberToObject(crop, "height", pp->crop_height);
    cJSON_AddItemToObject(o, "mean", floats_json(pp->mean, 3));
    cJSON_AddItemToObject(o, "std", floats_json(pp->std, 3));
    return o;
}

char *cli_info_json(const char *path, const rams_model *m, const rams_model_info *info)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (path) cJSON_AddStringToObject(o, "path", path);
    else cJSON_AddNullToObject(o, "path");
    cJSON_AddStringToObject(o, "library_version", rams_version_string());
    cJSON *a = cJSON_AddObjectToObject(o, "architecture");
    cJSON_AddNumberToObject(a, "image_size", info->image_size);
    cJSON_AddNumberToObject(a, "patch_size", info->patch_size);
    cJSON_AddNumberToObject(a, "grid", info->grid);
    cJSON_AddNumberToObject(a, "hidden_size", info->hidden_size);
    cJSON_AddNumberToObject(a, "num_heads", info->num_heads);
    cJSON_AddNumberToObject(a, "num_layers", info->num_layers);
    cJSON_AddNumberToObject(a, "mlp_size", info->mlp_size);
    cJSON_AddNumberToObject(a, "num_classes", info->num_classes);
    cJSON_AddItemToObject(a, "ln_eps", number(info->ln_eps));
    cJSON_AddItemToObject(a, "alpha", number(info->alpha));
    cJSON_AddStringToObject(o, "dtype", info->dtype ? info->dtype : "unknown");
    cJSON_AddStringToObject(o, "default_mode", rams_mode_name(info->default_mode));
    cJSON_AddNumberToObject(o, "file_bytes", (double)info->file_bytes);
    cJSON_AddItemToObject(o, "preprocess", preprocess_json(&info->preprocess));
    cJSON_AddStringToObject(o, "precision", rams_precision_name(info->precision));
    cJSON_AddStringToObject(o, "kernel", info->kernel ? info->kernel : "unknown");
    cJSON_AddStringToObject(o, "attention_kernel",
                            info->attention_kernel ? info->attention_kernel : "unknown");
    /* This CPU: what it offers, and the kernel each precision would run on here (null: none). */
    cJSON *cpu = cJSON_AddObjectToObject(o, "cpu");
    cJSON_AddStringToObject(cpu, "features", rams_cpu_features());
    cJSON *kernels = cJSON_AddObjectToObject(cpu, "kernels");
    for (int p = RAMS_PRECISION_F32; p <= RAMS_PRECISION_INT8; p++) {
        const char *k = rams_kernel_for((rams_precision)p);
        if (k) cJSON_AddStringToObject(kernels, rams_precision_name((rams_precision)p), k);
        else cJSON_AddNullToObject(kernels, rams_precision_name((rams_precision)p));
    }
    cJSON *labels = cJSON_AddArrayToObject(o, "labels");
    for (int i = 0; labels && i < info->num_classes; i++) {
        const char *l = rams_model_label(m, i);
        cJSON_AddItemToArray(labels, cJSON_CreateString(l ? l : ""));
    }
    return print_and_free(o);
}
