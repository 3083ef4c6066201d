/* Our model file: the released RAMS-Trans state dict's tensors (or a plain ViT's in the same names,
 * with one CLS token: config num_cls_tokens 1, transformer.embeddings.cls_token) in a safetensors container
 * (safetensors.c), plus our metadata (tools/model_file.py documents the keys): the configuration,
 * the preprocessing and the labels, each validated, then every tensor bound to its weight with its
 * shape checked against the architecture.  f32 tensors are used in place from the mapping; f16 and
 * bf16 ones are widened once into one owned buffer. */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "memory.h"
#include "model.h"
#include "safetensors.h"
#include "threadpool.h"

/* ---- metadata ---------------------------------------------------------------------------- */

/* Metadata values are strings (a safetensors rule); ours hold JSON. */
static rams_status metadata_json(const char *path, const cJSON *meta, const char *key, cJSON **out)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(meta, key);
    if (!s)
        return rams_fail(RAMS_ERR_FORMAT,
                         "%s: metadata key %s is missing (convert the checkpoint with tools/convert.py)",
                         path, key);
    if (!cJSON_IsString(s)) return rams_fail(RAMS_ERR_FORMAT, "%s: metadata %s is not a string", path, key);
    *out = cJSON_Parse(s->valuestring);
    if (!*out) return rams_fail(RAMS_ERR_FORMAT, "%s: metadata %s is not valid JSON", path, key);
    return RAMS_OK;
}

static rams_status get_int(const char *path, const cJSON *obj, const char *where, const char *key, int lo,
                           int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return rams_fail(RAMS_ERR_FORMAT, "%s: metadata %s.%s must be an integer", path, where, key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return rams_fail(RAMS_ERR_LIMIT, "%s: metadata %s.%s = %.0f is outside %d..%d", path, where, key,
                         v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return RAMS_OK;
}

static rams_status get_float(const char *path, const cJSON *obj, const char *where, const char *key,
                             double lo, double hi, float *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v))
        return rams_fail(RAMS_ERR_FORMAT, "%s: metadata %s.%s must be a number", path, where, key);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return rams_fail(RAMS_ERR_LIMIT, "%s: metadata %s.%s = %g is outside %g..%g", path, where, key,
                         v->valuedouble, lo, hi);
    *out = (float)v->valuedouble;
    return RAMS_OK;
}

#define TRY(expr)                       \
    do {                                \
        rams_status st_ = (expr);       \
        if (st_ != RAMS_OK) return st_; \
    } while (0)

static rams_status parse_config(const char *path, const cJSON *c, rams_config *cfg)
{
    if (!cJSON_IsObject(c))
        return rams_fail(RAMS_ERR_FORMAT, "%s: metadata ramstrans.config is not an object", path);
    TRY(get_int(path, c, "config", "image_size", 1, RAMS_MAX_IMAGE_SIZE, &cfg->image_size));
    TRY(get_int(path, c, "config", "patch_size", 1, cfg->image_size, &cfg->patch_size));
    TRY(get_int(path, c, "config", "hidden_size", 1, RAMS_MAX_HIDDEN, &cfg->hidden));
    TRY(get_int(path, c, "config", "num_heads", 1, cfg->hidden, &cfg->heads));
    TRY(get_int(path, c, "config", "num_layers", 1, RAMS_MAX_LAYERS, &cfg->layers));
    TRY(get_int(path, c, "config", "mlp_size", 1, RAMS_MAX_MLP, &cfg->mlp));
    TRY(get_int(path, c, "config", "num_classes", 1, RAMS_MAX_CLASSES, &cfg->classes));
    TRY(get_float(path, c, "config", "ln_eps", 1e-30, 1.0, &cfg->ln_eps));
    TRY(get_float(path, c, "config", "alpha", 1e-6, 1e6, &cfg->alpha));
    /* Absent in RAMS-Trans files (two CLS tokens); 1 for a plain ViT (format version 2). */
    cfg->cls_tokens = 2;
    if (cJSON_GetObjectItemCaseSensitive(c, "num_cls_tokens"))
        TRY(get_int(path, c, "config", "num_cls_tokens", 1, RAMS_MAX_CLS_TOKENS, &cfg->cls_tokens));
    if (cfg->image_size % cfg->patch_size)
        return rams_fail(RAMS_ERR_FORMAT, "%s: image_size %d is not a multiple of patch_size %d", path,
                         cfg->image_size, cfg->patch_size);
    if (cfg->hidden % cfg->heads)
        return rams_fail(RAMS_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_heads %d", path,
                         cfg->hidden, cfg->heads);
    cfg->grid = cfg->image_size / cfg->patch_size;
    cfg->num_tokens = cfg->grid * cfg->grid + cfg->cls_tokens;
    if (cfg->num_tokens > RAMS_MAX_TOKENS)
        return rams_fail(RAMS_ERR_LIMIT, "%s: %d tokens (grid %d) is above the limit of %d", path,
                         cfg->num_tokens, cfg->grid, RAMS_MAX_TOKENS);
    cfg->head_size = cfg->hidden / cfg->heads;
    /* A small file can declare an architecture whose context needs terabytes (the L attention maps
     * of N x N floats, the N x M MLP activations): bound what rams_context_create will allocate. */
    double work_floats = rams_model_work_floats(cfg);
    if (work_floats > (double)RAMS_MAX_CONTEXT_FLOATS)
        return rams_fail(
            RAMS_ERR_LIMIT,
            "%s: the architecture needs %.3g floats of working memory per context, above the limit of %.3g",
            path, work_floats, (double)RAMS_MAX_CONTEXT_FLOATS);
    cfg->default_mode = RAMS_MODE_FUSED;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(c, "default_mode");
    if (mode) {
        if (!cJSON_IsString(mode) || rams_mode_parse(mode->valuestring, &cfg->default_mode) != RAMS_OK ||
            cfg->default_mode == RAMS_MODE_DEFAULT)
            return rams_fail(RAMS_ERR_FORMAT,
                             "%s: metadata config.default_mode must be \"scale1\", \"scale2\" or \"fused\"",
                             path);
    }
    return RAMS_OK;
}

static rams_status parse_float3(const char *path, const cJSON *obj, const char *key, float out[3],
                                int positive)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3)
        return rams_fail(RAMS_ERR_FORMAT, "%s: metadata preprocess.%s must be an array of 3 numbers", path,
                         key);
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        /* Checked as the float it becomes: 1e300 would be Inf, a std of 1e-300 would be 0. */
        float f = cJSON_IsNumber(v) && fabs(v->valuedouble) <= FLT_MAX ? (float)v->valuedouble : NAN;
        if (!isfinite(f) || (positive && !(f > 0)))
            return rams_fail(RAMS_ERR_FORMAT,
                             "%s: metadata preprocess.%s[%d] is not a %snumber (in float range)", path, key,
                             i, positive ? "positive " : "");
        out[i] = f;
    }
    return RAMS_OK;
}

static rams_status parse_preprocess(const char *path, const cJSON *p, const rams_config *cfg,
                                    rams_preprocess *pp)
{
    if (!cJSON_IsObject(p))
        return rams_fail(RAMS_ERR_FORMAT, "%s: metadata ramstrans.preprocess is not an object", path);
    memset(pp, 0, sizeof *pp);
    const cJSON *resize = cJSON_GetObjectItemCaseSensitive(p, "resize");
    const cJSON *mode = resize ? cJSON_GetObjectItemCaseSensitive(resize, "mode") : NULL;
    if (!cJSON_IsString(mode))
        return rams_fail(RAMS_ERR_FORMAT,
                         "%s: metadata preprocess.resize.mode must be \"fixed\", \"shorter\" or \"none\"",
                         path);
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
        return rams_fail(RAMS_ERR_UNSUPPORTED, "%s: metadata preprocess.resize.mode \"%s\" is not supported",
                         path, mode->valuestring);
    }
    const cJSON *interp = cJSON_GetObjectItemCaseSensitive(p, "interpolation");
    if (interp && (!cJSON_IsString(interp) || strcmp(interp->valuestring, "bilinear")))
        return rams_fail(RAMS_ERR_UNSUPPORTED,
                         "%s: metadata preprocess.interpolation: only \"bilinear\" is supported", path);
    const cJSON *crop = cJSON_GetObjectItemCaseSensitive(p, "crop");
    if (!cJSON_IsObject(crop))
        return rams_fail(RAMS_ERR_FORMAT, "%s: metadata preprocess.crop must be an object", path);
    TRY(get_int(path, crop, "preprocess.crop", "width", 1, RAMS_MAX_IMAGE_SIZE, &pp->crop_width));
    TRY(get_int(path, crop, "preprocess.crop", "height", 1, RAMS_MAX_IMAGE_SIZE, &pp->crop_height));
    if (pp->crop_width != cfg->image_size || pp->crop_height != cfg->image_size)
        return rams_fail(RAMS_ERR_SHAPE, "%s: preprocess crop %dx%d differs from the network's input %dx%d",
                         path, pp->crop_width, pp->crop_height, cfg->image_size, cfg->image_size);
    TRY(parse_float3(path, p, "mean", pp->mean, 0));
    TRY(parse_float3(path, p, "std", pp->std, 1));
    return RAMS_OK;
}

static rams_status parse_labels(const char *path, const cJSON *a, rams_model *m)
{
    int c = m->cfg.classes;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != c)
        return rams_fail(RAMS_ERR_FORMAT, "%s: metadata ramstrans.labels must be an array of %d strings",
                         path, c);
    m->labels = calloc((size_t)c, sizeof *m->labels);
    if (!m->labels) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory for %d labels", path, c);
    int i = 0;
    for (const cJSON *it = a->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it) || strlen(it->valuestring) > RAMS_MAX_LABEL_BYTES)
            return rams_fail(RAMS_ERR_FORMAT, "%s: label %d is not a string of at most %d bytes", path, i,
                             RAMS_MAX_LABEL_BYTES);
        m->labels[i] = strdup(it->valuestring);
        if (!m->labels[i]) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory for labels", path);
    }
    return RAMS_OK;
}

/* ---- binding tensors to weights ---------------------------------------------------------- */

/* One weight matrix to pack into the backend's layout, recorded by the binding pass and run after
 * it (pack_matrices), on several threads: where it goes, its shape, the tensor it is read from
 * (whose file range is released once it is packed) and, for a q8 matrix, its per-row scales. */
typedef struct {
    void *dst;
    size_t bytes; /* the packed size: the largest matrices are packed first */
    int out_dim, in_dim;
    const rams_tensor_entry *t;
    const rams_tensor_entry *scale; /* a q8 matrix's per-row scales, else NULL */
} pack_job;

/* bind_weights runs twice: first counting (what must be widened to f32, what the backend packs),
 * then, with the memory allocated, binding. */
typedef struct {
    const rams_safetensors *st;
    const rams_file_bytes *file;
    const rams_gemm_backend *be;
    int q8; /* a q8 file: the Linear weight matrices are I8 with per-row scales */
    int counting;
    size_t convert_floats; /* counting: floats to widen (f16, bf16, unaligned f32)     */
    size_t packed_bytes;   /* counting: bytes the backend packs the matrices into     */
    int max_in;            /* counting: the widest matrix row                         */
    float *converted;      /* binding: next free float in model->converted            */
    char *packed;          /* binding: next free byte in model->packed               */
    int max_out;           /* counting: the most rows of a q8 matrix packed as it is   */
    int job_count;         /* counting: matrices to pack; binding: recorded so far    */
    int job_cap;           /* binding: room in jobs (what the counting pass counted)  */
    pack_job *jobs;        /* binding: the matrices to pack (pack_matrices)           */
} binder;

#define PACK_ALIGN 64
static size_t pack_round(size_t n) { return (n + PACK_ALIGN - 1) / PACK_ALIGN * PACK_ALIGN; }

static const rams_tensor_entry *find_tensor(const rams_safetensors *st, const char *name)
{
    /* A checkpoint trained with DataParallel names everything "module.<name>". */
    const rams_tensor_entry *t = rams_safetensors_find(st, name);
    if (t) return t;
    char prefixed[160];
    if (snprintf(prefixed, sizeof prefixed, "module.%s", name) >= (int)sizeof prefixed) return NULL;
    return rams_safetensors_find(st, prefixed);
}

/* NaN or Inf in a weight poisons every output.  Scanning every weight would cost a read of the
 * whole file (hundreds of MB) at load, so only the tensors that are not matrices are scanned:
 * biases, LayerNorm parameters, CLS tokens and position embeddings (1-D and 3-D; a fraction of a
 * percent of a ViT's weights).  A non-finite value in a matrix shows as non-finite logits, which
 * rams_classify_tensor refuses at run time. */
static rams_status check_finite(const binder *b, const char *name, const float *data, size_t n, int ndim)
{
    if (ndim != 1 && ndim != 3) return RAMS_OK;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(data[i]))
            return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s holds a non-finite value (%g at element %zu)",
                             b->st->path, name, (double)data[i], i);
    return RAMS_OK;
}

/* Finds `name` and checks its shape (ndim dims listed). */
static rams_status find_checked(binder *b, const char *name, int ndim, const int64_t *want,
                                const rams_tensor_entry **out)
{
    const rams_tensor_entry *t = find_tensor(b->st, name);
    if (!t) return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s is missing", b->st->path, name);
    int ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == want[d];
    if (!ok) {
        char got[96] = "", exp[96] = "";
        for (int d = 0; d < t->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "",
                     (long long)t->shape[d]);
        for (int d = 0; d < ndim; d++)
            snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", d ? "," : "", (long long)want[d]);
        return rams_fail(RAMS_ERR_SHAPE, "%s: tensor %s has shape [%s], the architecture needs [%s]",
                         b->st->path, name, got, exp);
    }
    *out = t;
    return RAMS_OK;
}

/* Finds `name`, checks its shape and returns f32 data. */
static rams_status bind(binder *b, const char *name, const float **out, int ndim, const int64_t *want)
{
    const rams_tensor_entry *t;
    TRY(find_checked(b, name, ndim, want, &t));
    if (t->dtype == RAMS_DTYPE_I8)
        return rams_fail(RAMS_ERR_FORMAT,
                         "%s: tensor %s is I8: only the Linear weight matrices of a q8 file may be "
                         "(norms, biases, CLS tokens and position embeddings stay floating point)",
                         b->st->path, t->name);
    size_t n = rams_tensor_elements(t);
    if (b->counting) {
        if (!rams_tensor_f32_in_place(b->st, t)) b->convert_floats += n;
        *out = NULL;
        return RAMS_OK;
    }
    const float *in_place = rams_tensor_f32_in_place(b->st, t);
    if (in_place) {
        *out = in_place; /* no second copy of f32 weights */
    } else {
        rams_tensor_to_f32(b->st, t, b->converted);
        *out = b->converted;
        b->converted += n;
    }
    return check_finite(b, name, *out, n, ndim);
}

typedef struct {
    const rams_safetensors *st;
    const rams_tensor_entry *t;
    const rams_tensor_entry *scale; /* a q8 matrix's per-row scales, else NULL */
    int in_dim;
} row_source;

static float q8_scale(const rams_safetensors *st, const rams_tensor_entry *scale, int row)
{
    float s;
    rams_tensor_range_to_f32(st, scale, (size_t)row, 1, &s);
    return s;
}

/* Row `row` as f32: a q8 matrix's int8 values times the row's scale (w = q * scale in f32). */
static void read_row(const void *src, int row, float *dst)
{
    const row_source *rs = src;
    rams_tensor_range_to_f32(rs->st, rs->t, (size_t)row * rs->in_dim, (size_t)rs->in_dim, dst);
    if (rs->scale) {
        float s = q8_scale(rs->st, rs->scale, row);
        for (int i = 0; i < rs->in_dim; i++) dst[i] *= s;
    }
}

/* The q8 side of a weight matrix t.  In a q8 file the quantizable matrices (every Linear weight but
 * the patch embedding) must be I8 with an F32 tensor "<name>_scale" of one finite, non-negative
 * scale per output row (*scale receives it); anywhere else I8 is refused.  The scales are checked
 * in the counting pass, before anything is allocated. */
static rams_status q8_parts(binder *b, const rams_tensor_entry *t, int quantizable, int out_dim,
                            const rams_tensor_entry **scale)
{
    const char *path = b->st->path;
    *scale = NULL;
    if (!b->q8 || !quantizable) {
        if (t->dtype != RAMS_DTYPE_I8) return RAMS_OK;
        return rams_fail(
            RAMS_ERR_FORMAT, "%s: tensor %s is I8, but %s", path, t->name,
            b->q8 ? "the patch embedding stays floating point in a q8 file"
                  : "the file is not quantized (its metadata has no ramstrans.quantization \"q8\")");
    }
    if (t->dtype != RAMS_DTYPE_I8)
        return rams_fail(RAMS_ERR_FORMAT,
                         "%s: tensor %s is %s, but a q8 file stores the Linear weight matrices as I8", path,
                         t->name, rams_dtype_name(t->dtype));
    char name[200];
    if (snprintf(name, sizeof name, "%s_scale", t->name) >= (int)sizeof name)
        return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s: name too long", path, t->name);
    const rams_tensor_entry *s = rams_safetensors_find(b->st, name);
    if (!s)
        return rams_fail(RAMS_ERR_FORMAT, "%s: tensor %s is missing (the per-row scales of the q8 matrix %s)",
                         path, name, t->name);
    if (s->dtype != RAMS_DTYPE_F32 || s->ndim != 1 || s->shape[0] != out_dim)
        return rams_fail(
            RAMS_ERR_SHAPE,
            "%s: tensor %s must be F32 [%d], one scale per output row of %s (it is %s with %d dimension%s)",
            path, name, out_dim, t->name, rams_dtype_name(s->dtype), s->ndim, s->ndim == 1 ? "" : "s");
    if (b->counting)
        for (int r = 0; r < out_dim; r++) {
            float v = q8_scale(b->st, s, r);
            if (!isfinite(v) || v < 0)
                return rams_fail(RAMS_ERR_FORMAT,
                                 "%s: tensor %s: scale %d is %g (scales must be finite and not negative)",
                                 path, name, r, (double)v);
        }
    *scale = s;
    return RAMS_OK;
}

/* A weight matrix [out_dim, in_dim] (a tensor of `ndim` dims shaped `want`) for the backend: f32
 * data for openblas-sgemm, else packed in the backend's layout from the file's f32, f16 or bf16
 * values, one row at a time (never widened whole).  A q8 file's int8 matrices go to an int8
 * backend as they are (pack_q8), to the others dequantized (w = q * scale).  `quantizable`: 0 for
 * the patch embedding, which the int8 precision keeps in f32 (and a q8 file stores in float).  The
 * pages of a packed tensor are then handed back to the kernel (the mapping stays valid: they would
 * be read again from the file), so that the file's weights and their packed copy are not both
 * resident. */
static rams_status bind_matrix(binder *b, const char *name, rams_matrix *mx, int out_dim, int in_dim,
                               int ndim, const int64_t *want, int quantizable)
{
    mx->out_dim = out_dim, mx->in_dim = in_dim;
    const rams_tensor_entry *t = NULL, *scale = NULL;
    TRY(find_checked(b, name, ndim, want, &t));
    TRY(q8_parts(b, t, quantizable, out_dim, &scale));
    int f32 = !b->be->pack || (b->be->precision == RAMS_PRECISION_INT8 && !quantizable);
    size_t n = (size_t)out_dim * in_dim;
    if (f32 && !scale) return bind(b, name, &mx->f32, ndim, want);
    if (f32) { /* a q8 matrix run in f32: dequantized once */
        if (b->counting) {
            b->convert_floats += n;
            return RAMS_OK;
        }
        row_source rs = {b->st, t, scale, in_dim};
        for (int r = 0; r < out_dim; r++) read_row(&rs, r, b->converted + (size_t)r * in_dim);
        mx->f32 = b->converted;
        b->converted += n;
    } else {
        size_t bytes = pack_round(b->be->packed_bytes(out_dim, in_dim));
        if (b->counting) {
            b->packed_bytes += bytes;
            b->job_count++;
            if (in_dim > b->max_in) b->max_in = in_dim;
            if (scale && out_dim > b->max_out) b->max_out = out_dim;
            return RAMS_OK;
        }
        /* Packed later, with the others (pack_matrices), which then releases the tensor's pages. */
        if (b->job_count >= b->job_cap)
            return rams_fail(RAMS_ERR_INTERNAL, "%s: more matrices to pack than counted", b->st->path);
        b->jobs[b->job_count++] = (pack_job){b->packed, bytes, out_dim, in_dim, t, scale};
        mx->packed = b->packed;
        b->packed += bytes;
        return RAMS_OK;
    }
    if (b->file->mapped) rams_release_pages(b->st->data + t->begin, t->end - t->begin);
    return RAMS_OK;
}

/* ---- packing the matrices ---------------------------------------------------------------- */

/* The matrices recorded by the binding pass, packed by the threads of a pool that each take the
 * next job from a shared counter, the largest first (fc1 and fc2 are 4x the attention matrices),
 * each with its own row and scales buffers.  A job writes only its own bytes of model->packed from
 * the file's read-only bytes, so the packed weights are the same on any number of threads. */
typedef struct {
    const rams_safetensors *st;
    const rams_gemm_backend *be;
    int mapped;
    const pack_job *jobs;
    int count;
    atomic_int next;
    float *work;   /* per thread: a row of max_in floats, then max_out scales */
    size_t stride; /* floats of one thread's buffers (a multiple of 64 bytes) */
    int max_in;
} pack_run;

static void pack_job_run(const pack_run *r, const pack_job *j, float *row, float *scales)
{
    if (j->scale && r->be->pack_q8) {
        rams_tensor_to_f32(r->st, j->scale, scales);
        r->be->pack_q8(j->dst, j->out_dim, j->in_dim, (const int8_t *)(r->st->data + j->t->begin), scales);
    } else {
        row_source rs = {r->st, j->t, j->scale, j->in_dim};
        r->be->pack(j->dst, j->out_dim, j->in_dim, read_row, &rs, row);
    }
    /* Its pages of the mapped file are handed back (rounded inwards: a page it shares with the
     * next tensor stays). */
    if (r->mapped) rams_release_pages(r->st->data + j->t->begin, j->t->end - j->t->begin);
}

static void pack_worker(void *arg, int index, int count)
{
    (void)count;
    pack_run *r = arg;
    float *row = r->work + (size_t)index * r->stride, *scales = row + r->max_in;
    for (;;) {
        int i = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
        if (i >= r->count) break;
        pack_job_run(r, &r->jobs[i], row, scales);
    }
}

static int larger_first(const void *a, const void *b)
{
    const pack_job *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return (const char *)x->dst < (const char *)y->dst ? -1 : (const char *)x->dst > (const char *)y->dst;
}

/* Packs b's recorded jobs on min(threads, jobs) threads (threads 0: the online CPUs). */
static rams_status pack_matrices(const binder *b, int threads, const char *path, const char *kernel)
{
    if (b->job_count == 0) return RAMS_OK;
    if (threads <= 0) threads = rams_online_cpus();
    if (threads > b->job_count) threads = b->job_count;
    qsort(b->jobs, (size_t)b->job_count, sizeof *b->jobs, larger_first);
    pack_run r = {.st = b->st,
                  .be = b->be,
                  .mapped = b->file->mapped,
                  .jobs = b->jobs,
                  .count = b->job_count,
                  .max_in = b->max_in};
    atomic_init(&r.next, 0);
    r.stride = ((size_t)b->max_in + (size_t)(b->max_out ? b->max_out : 1) + 15) / 16 * 16;
    r.work = malloc((size_t)threads * r.stride * sizeof(float));
    if (!r.work)
        return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory packing the weights for %s (%d threads)",
                         path, kernel, threads);
    rams_pool *pool = NULL;
    if (threads > 1 && rams_pool_create(threads, &pool) != RAMS_OK) {
        /* No threads to be had: the calling thread packs them all, as with threads = 1. */
        pool = NULL;
        rams_clear_error();
    }
    rams_pool_run(pool, pack_worker, &r);
    rams_pool_free(pool);
    free(r.work);
    return RAMS_OK;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

static rams_status bind_weights(rams_model *m, binder *b)
{
    const rams_config *c = &m->cfg;
    int64_t D = c->hidden, M = c->mlp, C = c->classes, N = c->num_tokens, P = c->patch_size;
    rams_weights *w = &m->w;
    char name[128];

    TRY(bind_matrix(b, "transformer.embeddings.patch_embeddings.weight", &w->patch_w, (int)D,
                    (int)(3 * P * P), 4, SHAPE(D, 3, P, P), 0));
    TRY(bind(b, "transformer.embeddings.patch_embeddings.bias", &w->patch_b, 1, SHAPE(D)));
    TRY(bind(b, "transformer.embeddings.position_embeddings", &w->pos, 3, SHAPE(1, N, D)));
    if (c->cls_tokens == 1) { /* a plain ViT: [cls, patches] */
        TRY(bind(b, "transformer.embeddings.cls_token", &w->cls1, 3, SHAPE(1, 1, D)));
        w->cls2 = NULL;
    } else {
        TRY(bind(b, "transformer.embeddings.cls_token1", &w->cls1, 3, SHAPE(1, 1, D)));
        TRY(bind(b, "transformer.embeddings.cls_token2", &w->cls2, 3, SHAPE(1, 1, D)));
    }
    if (!w->layer) w->layer = calloc((size_t)c->layers, sizeof *w->layer);
    if (!w->layer) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory", b->st->path);
    for (int i = 0; i < c->layers; i++) {
        rams_layer_weights *l = &w->layer[i];
        struct {
            const char *suffix;
            const float **dst;
            int ndim;
            const int64_t *shape;
        } parts[] = {
            {"attention_norm.weight", &l->attn_norm_w, 1, SHAPE(D)},
            {"attention_norm.bias", &l->attn_norm_b, 1, SHAPE(D)},
            {"attn.query.bias", &l->q_b, 1, SHAPE(D)},
            {"attn.key.bias", &l->k_b, 1, SHAPE(D)},
            {"attn.value.bias", &l->v_b, 1, SHAPE(D)},
            {"attn.out.bias", &l->out_b, 1, SHAPE(D)},
            {"ffn_norm.weight", &l->ffn_norm_w, 1, SHAPE(D)},
            {"ffn_norm.bias", &l->ffn_norm_b, 1, SHAPE(D)},
            {"ffn.fc1.bias", &l->fc1_b, 1, SHAPE(M)},
            {"ffn.fc2.bias", &l->fc2_b, 1, SHAPE(D)},
        };
        struct {
            const char *suffix;
            rams_matrix *dst;
            int64_t out, in;
        } mats[] = {
            {"attn.query.weight", &l->q_w, D, D}, {"attn.key.weight", &l->k_w, D, D},
            {"attn.value.weight", &l->v_w, D, D}, {"attn.out.weight", &l->out_w, D, D},
            {"ffn.fc1.weight", &l->fc1_w, M, D},  {"ffn.fc2.weight", &l->fc2_w, D, M},
        };
        for (size_t k = 0; k < sizeof mats / sizeof mats[0]; k++) {
            snprintf(name, sizeof name, "transformer.encoder.layer.%d.%s", i, mats[k].suffix);
            TRY(bind_matrix(b, name, mats[k].dst, (int)mats[k].out, (int)mats[k].in, 2,
                            SHAPE(mats[k].out, mats[k].in), 1));
        }
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            snprintf(name, sizeof name, "transformer.encoder.layer.%d.%s", i, parts[k].suffix);
            TRY(bind(b, name, parts[k].dst, parts[k].ndim, parts[k].shape));
        }
    }
    TRY(bind(b, "transformer.encoder.part_norm.weight", &w->norm_w, 1, SHAPE(D)));
    TRY(bind(b, "transformer.encoder.part_norm.bias", &w->norm_b, 1, SHAPE(D)));
    TRY(bind_matrix(b, "part_head.weight", &w->head_w, (int)C, (int)D, 2, SHAPE(C, D), 1));
    TRY(bind(b, "part_head.bias", &w->head_b, 1, SHAPE(C)));
    /* More tensors than the architecture has layers means the metadata and weights disagree. */
    snprintf(name, sizeof name, "transformer.encoder.layer.%d.attn.query.weight", c->layers);
    if (find_tensor(b->st, name))
        return rams_fail(RAMS_ERR_SHAPE, "%s: the file holds %s but num_layers is %d", b->st->path, name,
                         c->layers);
    return RAMS_OK;
}

/* ---- the file ---------------------------------------------------------------------------- */

rams_status rams_model_file_parse(const char *path, const rams_model_params *params, rams_model *m)
{
    TRY(rams_file_bytes_load(path, params->use_mmap, params->max_file_bytes, &m->file));
    rams_safetensors st;
    cJSON *config = NULL, *pre = NULL, *labels = NULL;
    rams_status status = rams_safetensors_open(path, &m->file, &st);
    if (status != RAMS_OK) goto done;
    const cJSON *meta = rams_safetensors_metadata(&st);
    if (!meta) {
        status = rams_fail(
            RAMS_ERR_FORMAT,
            "%s: no __metadata__: not a libramstrans model file (convert it with tools/convert.py)", path);
        goto done;
    }
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(meta, "ramstrans.format_version");
    if (!cJSON_IsString(version)) {
        status = rams_fail(RAMS_ERR_FORMAT,
                           "%s: metadata ramstrans.format_version is missing: not a libramstrans model file",
                           path);
        goto done;
    }
    /* Version 2 marks files with one CLS token (a plain ViT), which readers of version 1 must refuse. */
    if (strcmp(version->valuestring, "1") && strcmp(version->valuestring, "2")) {
        status = rams_fail(RAMS_ERR_UNSUPPORTED,
                           "%s: model format version %s is not supported (this library reads 1 and 2)", path,
                           version->valuestring);
        goto done;
    }
    if ((status = metadata_json(path, meta, "ramstrans.config", &config)) ||
        (status = parse_config(path, config, &m->cfg)) ||
        (status = metadata_json(path, meta, "ramstrans.preprocess", &pre)) ||
        (status = parse_preprocess(path, pre, &m->cfg, &m->preprocess)) ||
        (status = metadata_json(path, meta, "ramstrans.labels", &labels)) ||
        (status = parse_labels(path, labels, m)) || (status = rams_safetensors_read_table(&st)))
        goto done;

    /* A q8 file (issue 13) says so; libraries before it refuse its I8 tensors by dtype. */
    int q8 = 0;
    const cJSON *quant = cJSON_GetObjectItemCaseSensitive(meta, "ramstrans.quantization");
    if (quant) {
        if (!cJSON_IsString(quant) || strcmp(quant->valuestring, "q8")) {
            status = rams_fail(
                RAMS_ERR_UNSUPPORTED,
                "%s: metadata ramstrans.quantization %s%s%s is not supported (this library reads \"q8\")",
                path, cJSON_IsString(quant) ? "\"" : "",
                cJSON_IsString(quant) ? quant->valuestring : "(not a string)",
                cJSON_IsString(quant) ? "\"" : "");
            goto done;
        }
        q8 = 1;
    }
    size_t kinds = 0;
    int seen[RAMS_DTYPE_COUNT] = {0};
    for (int i = 0; i < st.count; i++) seen[st.tensors[i].dtype] = 1;
    for (int i = 0; i < RAMS_DTYPE_COUNT; i++) kinds += (size_t)seen[i];
    snprintf(m->dtype, sizeof m->dtype, "%s",
             q8          ? "Q8"
             : kinds > 1 ? "mixed"
                         : rams_dtype_name(seen[RAMS_DTYPE_F16]    ? RAMS_DTYPE_F16
                                           : seen[RAMS_DTYPE_BF16] ? RAMS_DTYPE_BF16
                                                                   : RAMS_DTYPE_F32));
    /* The kernel every matrix runs on, then what must be widened and packed (a counting pass),
     * then one buffer for the tensors that cannot be used in place and one for the packed ones. */
    m->precision = params->precision;
    if ((status = rams_gemm_backend_choose(params->precision, params->kernel, &m->gemm)) != RAMS_OK ||
        (status = rams_attention_backend_choose(params->precision, &m->attention)) != RAMS_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", rams_last_error());
        status = rams_fail(status, "%s: %s", path, why);
        goto done;
    }
    binder b = {.st = &st, .file = &m->file, .be = m->gemm, .q8 = q8, .counting = 1};
    if ((status = bind_weights(m, &b)) != RAMS_OK) goto done;
    if (b.convert_floats) {
        m->converted = malloc(b.convert_floats * sizeof(float));
        if (!m->converted) {
            status = rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory widening %zu weights to f32", path,
                               b.convert_floats);
            goto done;
        }
    }
    if (b.packed_bytes) {
        m->packed = rams_big_alloc(b.packed_bytes);
        if (m->packed) m->packed_bytes = b.packed_bytes; /* what rams_model_file_release unmaps */
        b.jobs = malloc((size_t)b.job_count * sizeof *b.jobs);
        if (!m->packed || !b.jobs) {
            free(b.jobs);
            status = rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory packing the weights for %s (%zu bytes)",
                               path, m->gemm->name, b.packed_bytes);
            goto done;
        }
    }
    b.counting = 0;
    b.job_cap = b.job_count;
    b.job_count = 0;
    b.converted = m->converted;
    b.packed = m->packed;
    status = bind_weights(m, &b);
    /* Then the matrices are packed, all at once, on the threads the params give. */
    if (status == RAMS_OK) status = pack_matrices(&b, params->threads, path, m->gemm->name);
    free(b.jobs);
    /* Valid: have the kernel map every page now, in the background, rather than one fault at a
     * time during the first run (a ~0.35 s difference for ViT-B/16 on the machines measured).  Not
     * when the matrices were packed: their pages in the file are no longer needed. */
    if (status == RAMS_OK && m->file.mapped && !m->packed)
        m->prefault = rams_prefault_start(m->file.bytes, m->file.size);

done:
    rams_safetensors_free(&st);
    cJSON_Delete(labels);
    cJSON_Delete(pre);
    cJSON_Delete(config);
    return status;
}

void rams_model_file_release(rams_model *m)
{
    rams_prefault_wait(m->prefault);
    rams_file_bytes_release(&m->file);
    free(m->converted);
    rams_big_free(m->packed, m->packed_bytes);
    free(m->w.layer);
    if (m->labels)
        for (int i = 0; i < m->cfg.classes; i++) free(m->labels[i]);
    free(m->labels);
}
