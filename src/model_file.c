/* The model file: safetensors (8-byte little-endian header length, a JSON header, raw tensor data)
 * whose tensor names are the released RAMS-Trans state dict's, plus our metadata
 * (tools/model_file.py documents the keys).  Everything is validated before any tensor is used:
 * header size, every offset inside the data and no two tensors overlapping, dtypes, every shape
 * against the architecture.  f32 tensors are used in place from the mapping; f16 and bf16 ones are
 * widened once into one owned buffer. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "memory.h"
#include "model.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "libramstrans reads little-endian tensor data in place: big-endian hosts are not supported"
#endif

typedef enum { DT_F32, DT_F16, DT_BF16 } tensor_dtype;

typedef struct {
    const char *name; /* points into the parsed cJSON tree */
    tensor_dtype dtype;
    int ndim;
    int64_t shape[4];
    size_t begin, end; /* byte offsets inside the data section */
    int used;
} tensor_entry;

typedef struct {
    const char *path;
    const uint8_t *data; /* start of the data section */
    size_t data_size;
    tensor_entry *tensors;
    int count;
    float *converted;    /* next free float in model->converted */
} tensor_table;

/* ---- f16 / bf16 widening ----------------------------------------------------------------- */

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) { mant <<= 1; exp--; }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static size_t dtype_bytes(tensor_dtype dt) { return dt == DT_F32 ? 4 : 2; }

/* ---- header parsing ---------------------------------------------------------------------- */

static int parse_dtype(const char *s, tensor_dtype *out)
{
    if (!strcmp(s, "F32")) *out = DT_F32;
    else if (!strcmp(s, "F16")) *out = DT_F16;
    else if (!strcmp(s, "BF16")) *out = DT_BF16;
    else return 0;
    return 1;
}

static int compare_by_offset(const void *a, const void *b)
{
    const tensor_entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* A JSON number that is an exact non-negative integer no larger than max. */
static int json_uint(const cJSON *item, double max, int64_t *out)
{
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= max) || v != floor(v)) return 0;
    *out = (int64_t)v;
    return 1;
}

static rams_status parse_tensor_table(const char *path, const cJSON *header, tensor_table *tt)
{
    int n = 0;
    for (const cJSON *it = header->child; it; it = it->next)
        if (strcmp(it->string, "__metadata__")) n++;
    if (n == 0) return rams_fail(RAMS_ERR_FORMAT, "%s: the safetensors header lists no tensors", path);
    tt->tensors = calloc((size_t)n, sizeof *tt->tensors);
    if (!tt->tensors) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory for %d tensor entries", path, n);
    tt->count = 0;
    for (const cJSON *it = header->child; it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) continue;
        tensor_entry *t = &tt->tensors[tt->count++];
        t->name = it->string;
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsObject(it) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
            return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s: header entry needs dtype, shape and data_offsets", path, t->name);
        if (!parse_dtype(dt->valuestring, &t->dtype))
            return rams_fail(RAMS_ERR_UNSUPPORTED, "%s: tensor %s: dtype %s is not supported (F32, F16, BF16 are)", path, t->name, dt->valuestring);
        int ndim = cJSON_GetArraySize(shape);
        if (ndim > 4) return rams_fail(RAMS_ERR_SHAPE, "%s: tensor %s: %d dimensions (at most 4 expected)", path, t->name, ndim);
        t->ndim = ndim;
        /* The element count is checked against the data size below, so each dimension only needs
         * to keep the product (and the product times 4 bytes) from overflowing: 2^60 / dim at every step. */
        uint64_t count = 1;
        for (int d = 0; d < ndim; d++) {
            int64_t v;
            if (!json_uint(cJSON_GetArrayItem(shape, d), 4294967296.0, &v))
                return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s: shape[%d] is not a non-negative integer", path, t->name, d);
            t->shape[d] = v;
            if (v && count > (UINT64_C(1) << 60) / (uint64_t)v)
                return rams_fail(RAMS_ERR_LIMIT, "%s: tensor %s: shape overflows", path, t->name);
            count *= (uint64_t)v;
        }
        int64_t b, e;
        if (cJSON_GetArraySize(offs) != 2 || !json_uint(cJSON_GetArrayItem(offs, 0), 9.0e18, &b) ||
            !json_uint(cJSON_GetArrayItem(offs, 1), 9.0e18, &e))
            return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s: data_offsets must be two non-negative integers", path, t->name);
        if (b > e || (uint64_t)e > tt->data_size)
            return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s: data_offsets [%lld, %lld] outside the %zu data bytes", path,
                             t->name, (long long)b, (long long)e, tt->data_size);
        if ((uint64_t)(e - b) != count * dtype_bytes(t->dtype))
            return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s: %lld data bytes for %llu elements of %s", path, t->name,
                             (long long)(e - b), (unsigned long long)count, dt->valuestring);
        t->begin = (size_t)b;
        t->end = (size_t)e;
    }
    qsort(tt->tensors, (size_t)tt->count, sizeof *tt->tensors, compare_by_offset);
    for (int i = 1; i < tt->count; i++)
        if (tt->tensors[i].begin < tt->tensors[i - 1].end)
            return rams_fail(RAMS_ERR_FORMAT, "%s: tensors %s and %s overlap in the data section", path,
                             tt->tensors[i - 1].name, tt->tensors[i].name);
    return RAMS_OK;
}

/* ---- metadata ---------------------------------------------------------------------------- */

/* Metadata values are strings (a safetensors rule); ours hold JSON. */
static rams_status metadata_json(const char *path, const cJSON *meta, const char *key, cJSON **out)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(meta, key);
    if (!s) return rams_fail(RAMS_ERR_FORMAT, "%s: metadata key %s is missing (convert the checkpoint with tools/convert.py)", path, key);
    if (!cJSON_IsString(s)) return rams_fail(RAMS_ERR_FORMAT, "%s: metadata %s is not a string", path, key);
    *out = cJSON_Parse(s->valuestring);
    if (!*out) return rams_fail(RAMS_ERR_FORMAT, "%s: metadata %s is not valid JSON", path, key);
    return RAMS_OK;
}

static rams_status get_int(const char *path, const cJSON *obj, const char *where, const char *key, int lo, int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return rams_fail(RAMS_ERR_FORMAT, "%s: metadata %s.%s must be an integer", path, where, key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return rams_fail(RAMS_ERR_LIMIT, "%s: metadata %s.%s = %.0f is outside %d..%d", path, where, key, v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return RAMS_OK;
}

static rams_status get_float(const char *path, const cJSON *obj, const char *where, const char *key, double lo, double hi, float *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v)) return rams_fail(RAMS_ERR_FORMAT, "%s: metadata %s.%s must be a number", path, where, key);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return rams_fail(RAMS_ERR_LIMIT, "%s: metadata %s.%s = %g is outside %g..%g", path, where, key, v->valuedouble, lo, hi);
    *out = (float)v->valuedouble;
    return RAMS_OK;
}

#define TRY(expr) do { rams_status st_ = (expr); if (st_ != RAMS_OK) return st_; } while (0)

static rams_status parse_config(const char *path, const cJSON *c, rams_config *cfg)
{
    if (!cJSON_IsObject(c)) return rams_fail(RAMS_ERR_FORMAT, "%s: metadata ramstrans.config is not an object", path);
    TRY(get_int(path, c, "config", "image_size", 1, RAMS_MAX_IMAGE_SIZE, &cfg->image_size));
    TRY(get_int(path, c, "config", "patch_size", 1, cfg->image_size, &cfg->patch_size));
    TRY(get_int(path, c, "config", "hidden_size", 1, RAMS_MAX_HIDDEN, &cfg->hidden));
    TRY(get_int(path, c, "config", "num_heads", 1, cfg->hidden, &cfg->heads));
    TRY(get_int(path, c, "config", "num_layers", 1, RAMS_MAX_LAYERS, &cfg->layers));
    TRY(get_int(path, c, "config", "mlp_size", 1, RAMS_MAX_MLP, &cfg->mlp));
    TRY(get_int(path, c, "config", "num_classes", 1, RAMS_MAX_CLASSES, &cfg->classes));
    TRY(get_float(path, c, "config", "ln_eps", 1e-30, 1.0, &cfg->ln_eps));
    TRY(get_float(path, c, "config", "alpha", 1e-6, 1e6, &cfg->alpha));
    if (cfg->image_size % cfg->patch_size)
        return rams_fail(RAMS_ERR_FORMAT, "%s: image_size %d is not a multiple of patch_size %d", path, cfg->image_size, cfg->patch_size);
    if (cfg->hidden % cfg->heads)
        return rams_fail(RAMS_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_heads %d", path, cfg->hidden, cfg->heads);
    cfg->grid = cfg->image_size / cfg->patch_size;
    cfg->num_tokens = cfg->grid * cfg->grid + 2;
    if (cfg->num_tokens > RAMS_MAX_TOKENS)
        return rams_fail(RAMS_ERR_LIMIT, "%s: %d tokens (grid %d) is above the limit of %d", path, cfg->num_tokens, cfg->grid, RAMS_MAX_TOKENS);
    cfg->head_size = cfg->hidden / cfg->heads;
    /* A small file can declare an architecture whose context needs terabytes (the L attention maps
     * of N x N floats, the N x M MLP activations): bound what rams_context_create will allocate. */
    double work_floats = rams_model_work_floats(cfg);
    if (work_floats > (double)RAMS_MAX_CONTEXT_FLOATS)
        return rams_fail(RAMS_ERR_LIMIT, "%s: the architecture needs %.3g floats of working memory per context, above the limit of %.3g",
                         path, work_floats, (double)RAMS_MAX_CONTEXT_FLOATS);
    cfg->default_mode = RAMS_MODE_FUSED;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(c, "default_mode");
    if (mode) {
        if (!cJSON_IsString(mode) || rams_mode_parse(mode->valuestring, &cfg->default_mode) != RAMS_OK ||
            cfg->default_mode == RAMS_MODE_DEFAULT)
            return rams_fail(RAMS_ERR_FORMAT, "%s: metadata config.default_mode must be \"scale1\", \"scale2\" or \"fused\"", path);
    }
    return RAMS_OK;
}

static rams_status parse_float3(const char *path, const cJSON *obj, const char *key, float out[3], int positive)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3)
        return rams_fail(RAMS_ERR_FORMAT, "%s: metadata preprocess.%s must be an array of 3 numbers", path, key);
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        /* Checked as the float it becomes: 1e300 would be Inf, a std of 1e-300 would be 0. */
        float f = cJSON_IsNumber(v) && fabs(v->valuedouble) <= FLT_MAX ? (float)v->valuedouble : NAN;
        if (!isfinite(f) || (positive && !(f > 0)))
            return rams_fail(RAMS_ERR_FORMAT, "%s: metadata preprocess.%s[%d] is not a %snumber (in float range)", path, key, i,
                             positive ? "positive " : "");
        out[i] = f;
    }
    return RAMS_OK;
}

static rams_status parse_preprocess(const char *path, const cJSON *p, const rams_config *cfg, rams_preprocess *pp)
{
    if (!cJSON_IsObject(p)) return rams_fail(RAMS_ERR_FORMAT, "%s: metadata ramstrans.preprocess is not an object", path);
    memset(pp, 0, sizeof *pp);
    const cJSON *resize = cJSON_GetObjectItemCaseSensitive(p, "resize");
    const cJSON *mode = resize ? cJSON_GetObjectItemCaseSensitive(resize, "mode") : NULL;
    if (!cJSON_IsString(mode))
        return rams_fail(RAMS_ERR_FORMAT, "%s: metadata preprocess.resize.mode must be \"fixed\", \"shorter\" or \"none\"", path);
    const int max_side = 8 * RAMS_MAX_IMAGE_SIZE;
    if (!strcmp(mode->valuestring, "fixed")) {
        pp->resize_mode = RAMS_RESIZE_FIXED;
        TRY(get_int(path, resize, "preprocess.resize", "width", 1, max_side, &pp->resize_width));
        TRY(get_int(path, resize, "preprocess.resize", "height", 1, max_side, &pp->resize_height));
    } else if (!strcmp(mode->valuestring, "shorter")) {
        pp->resize_mode = RAMS_RESIZE_SHORTER;
        TRY(get_int(path, resize, "preprocess.resize", "size", 1, max_side, &pp->resize_shorter));
    } else if (!strcmp(mode->valuestring, "none")) {
        pp->resize_mode = RAMS_RESIZE_NONE;
    } else {
        return rams_fail(RAMS_ERR_UNSUPPORTED, "%s: metadata preprocess.resize.mode \"%s\" is not supported", path, mode->valuestring);
    }
    const cJSON *interp = cJSON_GetObjectItemCaseSensitive(p, "interpolation");
    if (interp && (!cJSON_IsString(interp) || strcmp(interp->valuestring, "bilinear")))
        return rams_fail(RAMS_ERR_UNSUPPORTED, "%s: metadata preprocess.interpolation: only \"bilinear\" is supported", path);
    const cJSON *crop = cJSON_GetObjectItemCaseSensitive(p, "crop");
    if (!cJSON_IsObject(crop)) return rams_fail(RAMS_ERR_FORMAT, "%s: metadata preprocess.crop must be an object", path);
    TRY(get_int(path, crop, "preprocess.crop", "width", 1, RAMS_MAX_IMAGE_SIZE, &pp->crop_width));
    TRY(get_int(path, crop, "preprocess.crop", "height", 1, RAMS_MAX_IMAGE_SIZE, &pp->crop_height));
    if (pp->crop_width != cfg->image_size || pp->crop_height != cfg->image_size)
        return rams_fail(RAMS_ERR_SHAPE, "%s: preprocess crop %dx%d differs from the network's input %dx%d", path,
                         pp->crop_width, pp->crop_height, cfg->image_size, cfg->image_size);
    TRY(parse_float3(path, p, "mean", pp->mean, 0));
    TRY(parse_float3(path, p, "std", pp->std, 1));
    return RAMS_OK;
}

static rams_status parse_labels(const char *path, const cJSON *a, rams_model *m)
{
    int c = m->cfg.classes;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != c)
        return rams_fail(RAMS_ERR_FORMAT, "%s: metadata ramstrans.labels must be an array of %d strings", path, c);
    m->labels = calloc((size_t)c, sizeof *m->labels);
    if (!m->labels) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory for %d labels", path, c);
    int i = 0;
    for (const cJSON *it = a->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it) || strlen(it->valuestring) > RAMS_MAX_LABEL_BYTES)
            return rams_fail(RAMS_ERR_FORMAT, "%s: label %d is not a string of at most %d bytes", path, i, RAMS_MAX_LABEL_BYTES);
        m->labels[i] = strdup(it->valuestring);
        if (!m->labels[i]) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory for labels", path);
    }
    return RAMS_OK;
}

/* ---- binding tensors to weights ---------------------------------------------------------- */

static tensor_entry *find_tensor(tensor_table *tt, const char *name)
{
    /* A checkpoint trained with DataParallel names everything "module.<name>". */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < tt->count; i++) {
            const char *n = tt->tensors[i].name;
            if (pass == 1) {
                if (strncmp(n, "module.", 7)) continue;
                n += 7;
            }
            if (!strcmp(n, name)) return &tt->tensors[i];
        }
    return NULL;
}

static size_t tensor_elements(const tensor_entry *t) { return (t->end - t->begin) / dtype_bytes(t->dtype); }

/* NaN or Inf in a weight poisons every output.  Scanning every weight would cost a read of the
 * whole file (hundreds of MB) at load, so only the tensors that are not matrices are scanned:
 * biases, LayerNorm parameters, CLS tokens and position embeddings (1-D and 3-D; a fraction of a
 * percent of a ViT's weights).  A non-finite value in a matrix shows as non-finite logits, which
 * rams_classify_tensor refuses at run time. */
static rams_status check_finite(const tensor_table *tt, const char *name, const float *data, size_t n, int ndim)
{
    if (ndim != 1 && ndim != 3) return RAMS_OK;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(data[i]))
            return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s holds a non-finite value (%g at element %zu)", tt->path, name,
                             (double)data[i], i);
    return RAMS_OK;
}

/* Finds `name`, checks its shape (dims listed, -1 terminates) and returns f32 data. */
static rams_status bind(tensor_table *tt, const char *name, const float **out, int ndim, const int64_t *want)
{
    tensor_entry *t = find_tensor(tt, name);
    if (!t) return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s is missing", tt->path, name);
    int ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == want[d];
    if (!ok) {
        char got[96] = "", exp[96] = "";
        for (int d = 0; d < t->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "", (long long)t->shape[d]);
        for (int d = 0; d < ndim; d++)
            snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", d ? "," : "", (long long)want[d]);
        return rams_fail(RAMS_ERR_SHAPE, "%s: tensor %s has shape [%s], the architecture needs [%s]", tt->path, name, got, exp);
    }
    t->used = 1;
    const uint8_t *src = tt->data + t->begin;
    size_t n = tensor_elements(t);
    if (t->dtype == DT_F32 && ((uintptr_t)src % sizeof(float)) == 0) {
        *out = (const float *)src; /* in place: no second copy of f32 weights */
        return check_finite(tt, name, *out, n, ndim);
    }
    float *dst = tt->converted;
    tt->converted += n;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        if (t->dtype == DT_F32) {
            memcpy(&dst[i], src + 4 * i, 4);
            continue;
        }
        memcpy(&h, src + 2 * i, 2);
        dst[i] = t->dtype == DT_F16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
    *out = dst;
    return check_finite(tt, name, *out, n, ndim);
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

static rams_status bind_weights(rams_model *m, tensor_table *tt)
{
    const rams_config *c = &m->cfg;
    int64_t D = c->hidden, M = c->mlp, C = c->classes, N = c->num_tokens, P = c->patch_size;
    rams_weights *w = &m->w;
    char name[128];

    TRY(bind(tt, "transformer.embeddings.patch_embeddings.weight", &w->patch_w, 4, SHAPE(D, 3, P, P)));
    TRY(bind(tt, "transformer.embeddings.patch_embeddings.bias", &w->patch_b, 1, SHAPE(D)));
    TRY(bind(tt, "transformer.embeddings.position_embeddings", &w->pos, 3, SHAPE(1, N, D)));
    TRY(bind(tt, "transformer.embeddings.cls_token1", &w->cls1, 3, SHAPE(1, 1, D)));
    TRY(bind(tt, "transformer.embeddings.cls_token2", &w->cls2, 3, SHAPE(1, 1, D)));
    w->layer = calloc((size_t)c->layers, sizeof *w->layer);
    if (!w->layer) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory", tt->path);
    for (int i = 0; i < c->layers; i++) {
        rams_layer_weights *l = &w->layer[i];
        struct { const char *suffix; const float **dst; int ndim; const int64_t *shape; } parts[] = {
            {"attention_norm.weight", &l->attn_norm_w, 1, SHAPE(D)},
            {"attention_norm.bias", &l->attn_norm_b, 1, SHAPE(D)},
            {"attn.query.weight", &l->q_w, 2, SHAPE(D, D)},   {"attn.query.bias", &l->q_b, 1, SHAPE(D)},
            {"attn.key.weight", &l->k_w, 2, SHAPE(D, D)},     {"attn.key.bias", &l->k_b, 1, SHAPE(D)},
            {"attn.value.weight", &l->v_w, 2, SHAPE(D, D)},   {"attn.value.bias", &l->v_b, 1, SHAPE(D)},
            {"attn.out.weight", &l->out_w, 2, SHAPE(D, D)},   {"attn.out.bias", &l->out_b, 1, SHAPE(D)},
            {"ffn_norm.weight", &l->ffn_norm_w, 1, SHAPE(D)}, {"ffn_norm.bias", &l->ffn_norm_b, 1, SHAPE(D)},
            {"ffn.fc1.weight", &l->fc1_w, 2, SHAPE(M, D)},    {"ffn.fc1.bias", &l->fc1_b, 1, SHAPE(M)},
            {"ffn.fc2.weight", &l->fc2_w, 2, SHAPE(D, M)},    {"ffn.fc2.bias", &l->fc2_b, 1, SHAPE(D)},
        };
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            snprintf(name, sizeof name, "transformer.encoder.layer.%d.%s", i, parts[k].suffix);
            TRY(bind(tt, name, parts[k].dst, parts[k].ndim, parts[k].shape));
        }
    }
    TRY(bind(tt, "transformer.encoder.part_norm.weight", &w->norm_w, 1, SHAPE(D)));
    TRY(bind(tt, "transformer.encoder.part_norm.bias", &w->norm_b, 1, SHAPE(D)));
    TRY(bind(tt, "part_head.weight", &w->head_w, 2, SHAPE(C, D)));
    TRY(bind(tt, "part_head.bias", &w->head_b, 1, SHAPE(C)));
    /* More tensors than the architecture has layers means the metadata and weights disagree. */
    snprintf(name, sizeof name, "transformer.encoder.layer.%d.attn.query.weight", c->layers);
    if (find_tensor(tt, name))
        return rams_fail(RAMS_ERR_SHAPE, "%s: the file holds %s but num_layers is %d", tt->path, name, c->layers);
    return RAMS_OK;
}

/* ---- the file ---------------------------------------------------------------------------- */

static rams_status map_file(const char *path, const rams_model_params *params, rams_model *m)
{
    /* O_NONBLOCK: opening a FIFO given as a model must not hang; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return rams_fail(RAMS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return rams_fail(RAMS_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return rams_fail(RAMS_ERR_IO, "%s: not a regular file", path);
    }
    if (params->max_file_bytes && (uint64_t)st.st_size > params->max_file_bytes) {
        close(fd);
        return rams_fail(RAMS_ERR_LIMIT, "%s: %lld bytes is above the model size limit of %zu", path, (long long)st.st_size,
                         params->max_file_bytes);
    }
    if (st.st_size < 8) {
        close(fd);
        return rams_fail(RAMS_ERR_FORMAT, "%s: %lld bytes is too short for a safetensors file", path, (long long)st.st_size);
    }
    m->file_size = (size_t)st.st_size;
    if (params->use_mmap) {
        void *p = mmap(NULL, m->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p == MAP_FAILED) return rams_fail(RAMS_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        m->file = p;
        m->file_is_mapped = 1;
        return RAMS_OK;
    }
    m->file = malloc(m->file_size);
    if (!m->file) {
        close(fd);
        return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory reading %zu bytes", path, m->file_size);
    }
    size_t got = 0;
    while (got < m->file_size) {
        ssize_t r = read(fd, (char *)m->file + got, m->file_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            close(fd);
            return rams_fail(RAMS_ERR_IO, "%s: read failed after %zu bytes", path, got);
        }
        got += (size_t)r;
    }
    close(fd);
    return RAMS_OK;
}

rams_status rams_model_file_parse(const char *path, const rams_model_params *params, rams_model *m)
{
    TRY(map_file(path, params, m));
    const uint8_t *bytes = m->file;
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | bytes[i];
    if (header_len > RAMS_MAX_HEADER_BYTES)
        return rams_fail(RAMS_ERR_LIMIT, "%s: header of %llu bytes is above the %u-byte limit", path,
                         (unsigned long long)header_len, RAMS_MAX_HEADER_BYTES);
    if (header_len > m->file_size - 8)
        return rams_fail(RAMS_ERR_FORMAT, "%s: header claims %llu bytes but the file has %zu after the length", path,
                         (unsigned long long)header_len, m->file_size - 8);

    cJSON *header = cJSON_ParseWithLength((const char *)bytes + 8, (size_t)header_len);
    cJSON *config = NULL, *pre = NULL, *labels = NULL;
    tensor_table tt = {.path = path, .data = bytes + 8 + header_len, .data_size = m->file_size - 8 - header_len};
    rams_status st = RAMS_OK;
    if (!header || !cJSON_IsObject(header)) {
        st = rams_fail(RAMS_ERR_FORMAT, "%s: the safetensors header is not a JSON object", path);
        goto done;
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(header, "__metadata__");
    if (!cJSON_IsObject(meta)) {
        st = rams_fail(RAMS_ERR_FORMAT, "%s: no __metadata__: not a libramstrans model file (convert it with tools/convert.py)", path);
        goto done;
    }
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(meta, "ramstrans.format_version");
    if (!cJSON_IsString(version)) {
        st = rams_fail(RAMS_ERR_FORMAT, "%s: metadata ramstrans.format_version is missing: not a libramstrans model file", path);
        goto done;
    }
    if (strcmp(version->valuestring, "1")) {
        st = rams_fail(RAMS_ERR_UNSUPPORTED, "%s: model format version %s is not supported (this library reads 1)", path, version->valuestring);
        goto done;
    }
    if ((st = metadata_json(path, meta, "ramstrans.config", &config)) || (st = parse_config(path, config, &m->cfg)) ||
        (st = metadata_json(path, meta, "ramstrans.preprocess", &pre)) ||
        (st = parse_preprocess(path, pre, &m->cfg, &m->preprocess)) ||
        (st = metadata_json(path, meta, "ramstrans.labels", &labels)) || (st = parse_labels(path, labels, m)) ||
        (st = parse_tensor_table(path, header, &tt)))
        goto done;

    /* One buffer for every tensor that cannot be used in place. */
    size_t to_convert = 0, kinds = 0;
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < tt.count; i++) {
        const tensor_entry *t = &tt.tensors[i];
        if (t->dtype != DT_F32 || ((uintptr_t)(tt.data + t->begin) % sizeof(float)))
            to_convert += tensor_elements(t);
        seen[t->dtype] = 1;
    }
    kinds = (size_t)(seen[0] + seen[1] + seen[2]);
    snprintf(m->dtype, sizeof m->dtype, "%s", kinds > 1 ? "mixed" : seen[DT_F16] ? "F16" : seen[DT_BF16] ? "BF16" : "F32");
    if (to_convert) {
        m->converted = malloc(to_convert * sizeof(float));
        if (!m->converted) {
            st = rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory widening %zu weights to f32", path, to_convert);
            goto done;
        }
    }
    tt.converted = m->converted;
    st = bind_weights(m, &tt);
    /* Valid: have the kernel map every page now, in the background, rather than one fault at a
     * time during the first run (a ~0.35 s difference for ViT-B/16 on the machines measured). */
    if (st == RAMS_OK && m->file_is_mapped) m->prefault = rams_prefault_start(m->file, m->file_size);

done:
    free(tt.tensors);
    cJSON_Delete(labels);
    cJSON_Delete(pre);
    cJSON_Delete(config);
    cJSON_Delete(header);
    return st;
}

void rams_model_file_release(rams_model *m)
{
    rams_prefault_wait(m->prefault);
    if (m->file) {
        if (m->file_is_mapped) munmap(m->file, m->file_size);
        else free(m->file);
    }
    free(m->converted);
    free(m->w.layer);
    if (m->labels)
        for (int i = 0; i < m->cfg.classes; i++) free(m->labels[i]);
    free(m->labels);
}
