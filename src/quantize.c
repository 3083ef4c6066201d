/* rams_quantize_model_file (issue 13): a q8 model file from a model file of f32, f16 or bf16
 * weights, byte for byte what tools/convert.py --dtype q8 (tools/model_file.py) writes from the
 * same weights: the same tensors under the released code's names in sorted order, the same JSON
 * header (Python's json.dumps with separators (",", ":") and ASCII escapes, padded with spaces to a
 * multiple of 8), the metadata of the input in its order plus "ramstrans.quantization": "q8", and
 * the q8 rule of kernels/gemm_int8.h for every Linear weight matrix but the patch embedding. */
#define _GNU_SOURCE /* O_CLOEXEC, fsync */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "kernels/gemm_int8.h"
#include "model.h"
#include "safetensors.h"

typedef struct {
    char name[128];
    const char *dtype; /* "F32" or "I8"                                               */
    int ndim;
    int64_t shape[4];
    const float *f32; /* the f32 data (F32 tensors; the source of an I8 matrix)     */
    int rows, cols;   /* I8 matrices and their scales: the matrix's shape           */
    int is_scale;     /* the "<matrix>_scale" tensor of the matrix named `name` minus it */
    size_t bytes, offset;
} out_tensor;

typedef struct {
    out_tensor *t;
    int n, cap;
} out_list;

static int add(out_list *l, const char *name, const char *dtype, const float *f32, int ndim,
               const int64_t *shape)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        out_tensor *t = realloc(l->t, (size_t)cap * sizeof *t);
        if (!t) return -1;
        l->t = t, l->cap = cap;
    }
    out_tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dtype, t->f32 = f32, t->ndim = ndim;
    size_t count = 1;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d], count *= (size_t)shape[d];
    t->bytes = count * (strcmp(dtype, "I8") ? 4 : 1);
    return 0;
}

/* A Linear weight matrix as I8 plus its F32 scales. */
static int add_q8(out_list *l, const char *name, const rams_matrix *m)
{
    char scale_name[140];
    snprintf(scale_name, sizeof scale_name, "%s_scale", name);
    if (add(l, name, "I8", m->f32, 2, (const int64_t[]){m->out_dim, m->in_dim})) return -1;
    l->t[l->n - 1].rows = m->out_dim, l->t[l->n - 1].cols = m->in_dim;
    if (add(l, scale_name, "F32", m->f32, 1, (const int64_t[]){m->out_dim})) return -1;
    l->t[l->n - 1].rows = m->out_dim, l->t[l->n - 1].cols = m->in_dim, l->t[l->n - 1].is_scale = 1;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const out_tensor *)a)->name, ((const out_tensor *)b)->name);
}

/* The tensors of the model, as tools/convert.py names and shapes them (expected_shapes). */
static int list_tensors(const rams_model *m, out_list *l)
{
    const rams_config *c = &m->cfg;
    const rams_weights *w = &m->w;
    int64_t D = c->hidden, M = c->mlp, C = c->classes, N = c->num_tokens, P = c->patch_size;
    char name[128];
#define ADD(tensor, data, nd, ...)                                                                         \
    do {                                                                                                   \
        if (add(l, "transformer.embeddings." tensor, "F32", (data), (nd), (const int64_t[]){__VA_ARGS__})) \
            return -1;                                                                                     \
    } while (0)
    ADD("patch_embeddings.weight", w->patch_w.f32, 4, D, 3, P, P);
    ADD("patch_embeddings.bias", w->patch_b, 1, D);
    ADD("position_embeddings", w->pos, 3, 1, N, D);
    if (c->cls_tokens == 1) {
        ADD("cls_token", w->cls1, 3, 1, 1, D);
    } else {
        ADD("cls_token1", w->cls1, 3, 1, 1, D);
        ADD("cls_token2", w->cls2, 3, 1, 1, D);
    }
#undef ADD
    for (int i = 0; i < c->layers; i++) {
        const rams_layer_weights *lw = &w->layer[i];
        struct {
            const char *suffix;
            const float *data;
            int64_t dim;
        } vecs[] = {
            {"attention_norm.weight", lw->attn_norm_w, D},
            {"attention_norm.bias", lw->attn_norm_b, D},
            {"attn.query.bias", lw->q_b, D},
            {"attn.key.bias", lw->k_b, D},
            {"attn.value.bias", lw->v_b, D},
            {"attn.out.bias", lw->out_b, D},
            {"ffn_norm.weight", lw->ffn_norm_w, D},
            {"ffn_norm.bias", lw->ffn_norm_b, D},
            {"ffn.fc1.bias", lw->fc1_b, M},
            {"ffn.fc2.bias", lw->fc2_b, D},
        };
        for (size_t k = 0; k < sizeof vecs / sizeof vecs[0]; k++) {
            snprintf(name, sizeof name, "transformer.encoder.layer.%d.%s", i, vecs[k].suffix);
            if (add(l, name, "F32", vecs[k].data, 1, (const int64_t[]){vecs[k].dim})) return -1;
        }
        struct {
            const char *suffix;
            const rams_matrix *m;
        } mats[] = {
            {"attn.query.weight", &lw->q_w}, {"attn.key.weight", &lw->k_w},  {"attn.value.weight", &lw->v_w},
            {"attn.out.weight", &lw->out_w}, {"ffn.fc1.weight", &lw->fc1_w}, {"ffn.fc2.weight", &lw->fc2_w},
        };
        for (size_t k = 0; k < sizeof mats / sizeof mats[0]; k++) {
            snprintf(name, sizeof name, "transformer.encoder.layer.%d.%s", i, mats[k].suffix);
            if (add_q8(l, name, mats[k].m)) return -1;
        }
    }
    if (add(l, "transformer.encoder.part_norm.weight", "F32", w->norm_w, 1, (const int64_t[]){D}) ||
        add(l, "transformer.encoder.part_norm.bias", "F32", w->norm_b, 1, (const int64_t[]){D}) ||
        add_q8(l, "part_head.weight", &w->head_w) ||
        add(l, "part_head.bias", "F32", w->head_b, 1, (const int64_t[]){C}))
        return -1;
    qsort(l->t, (size_t)l->n, sizeof *l->t, by_name);
    return 0;
}

/* ---- the header, as Python's json.dumps(header, separators=(",", ":")) writes it ---------- */

typedef struct {
    char *s;
    size_t n, cap;
    int failed;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->failed) return;
    if (t->n + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (t->n + n + 1 > cap) cap *= 2;
        char *p = realloc(t->s, cap);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->s = p, t->cap = cap;
    }
    memcpy(t->s + t->n, s, n);
    t->n += n;
    t->s[t->n] = '\0';
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

/* One UTF-8 code point from s (at most `left` bytes); -1 when malformed. */
static long utf8_next(const unsigned char *s, size_t left, size_t *len)
{
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!n || (size_t)n > left) return -1;
    long cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return -1;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    *len = (size_t)n;
    return cp;
}

/* A JSON string with ensure_ascii: \" \\ \n \r \t \b \f, everything else outside ' '..'~' as
 * \uXXXX (lowercase hex; above U+FFFF a surrogate pair). */
static int put_string(text *t, const char *s)
{
    put(t, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        size_t len;
        long cp = utf8_next(p, left, &len);
        if (cp < 0) return -1;
        char buf[32]; /* two \\uXXXX escapes: 13 bytes, with room GCC can see for any long */
        switch (cp) {
        case '"': puts_(t, "\\\""); break;
        case '\\': puts_(t, "\\\\"); break;
        case '\n': puts_(t, "\\n"); break;
        case '\r': puts_(t, "\\r"); break;
        case '\t': puts_(t, "\\t"); break;
        case '\b': puts_(t, "\\b"); break;
        case '\f': puts_(t, "\\f"); break;
        default:
            if (cp >= 0x20 && cp <= 0x7e) {
                buf[0] = (char)cp;
                put(t, buf, 1);
            } else if (cp > 0xffff) {
                long v = cp - 0x10000;
                snprintf(buf, sizeof buf, "\\u%04lx\\u%04lx", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
                puts_(t, buf);
            } else {
                snprintf(buf, sizeof buf, "\\u%04lx", cp);
                puts_(t, buf);
            }
        }
        p += len, left -= len;
    }
    put(t, "\"", 1);
    return 0;
}

static rams_status header_text(const char *path, const cJSON *meta, const out_list *l, text *t)
{
    puts_(t, "{\"__metadata__\":{");
    int first = 1;
    for (const cJSON *it = meta->child; it; it = it->next) {
        if (!strcmp(it->string, "ramstrans.quantization")) continue;
        if (!cJSON_IsString(it))
            return rams_fail(RAMS_ERR_FORMAT, "%s: metadata %s is not a string", path, it->string);
        if (!first) puts_(t, ",");
        first = 0;
        if (put_string(t, it->string) || (puts_(t, ":"), put_string(t, it->valuestring)))
            return rams_fail(RAMS_ERR_FORMAT, "%s: metadata %s is not valid UTF-8", path, it->string);
    }
    puts_(t, first ? "\"ramstrans.quantization\":\"q8\"}" : ",\"ramstrans.quantization\":\"q8\"}");
    for (int i = 0; i < l->n; i++) {
        const out_tensor *o = &l->t[i];
        char buf[160];
        puts_(t, ",");
        put_string(t, o->name);
        snprintf(buf, sizeof buf, ":{\"dtype\":\"%s\",\"shape\":[", o->dtype);
        puts_(t, buf);
        for (int d = 0; d < o->ndim; d++) {
            snprintf(buf, sizeof buf, "%s%lld", d ? "," : "", (long long)o->shape[d]);
            puts_(t, buf);
        }
        snprintf(buf, sizeof buf, "],\"data_offsets\":[%zu,%zu]}", o->offset, o->offset + o->bytes);
        puts_(t, buf);
    }
    puts_(t, "}");
    while (!t->failed && t->n % 8) puts_(t, " "); /* the data 8-byte aligned, as safetensors does */
    return t->failed ? rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory for the header", path) : RAMS_OK;
}

/* ---- writing ------------------------------------------------------------------------------- */

static int write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

static rams_status write_file(const char *in_path, const char *out_path, const out_list *l,
                              const text *header)
{
    /* A new file beside the output, created as open(2) with 0666 creates it (the umask applies, as
     * for convert.py's output), never one that exists. */
    static atomic_uint counter;
    size_t len = strlen(out_path) + 48;
    char *tmp = malloc(len);
    if (!tmp) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory", out_path);
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        snprintf(tmp, len, "%s.tmp.%ld.%u", out_path, (long)getpid(), atomic_fetch_add(&counter, 1));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        rams_status st = rams_fail(RAMS_ERR_IO, "%s: cannot create %s: %s", out_path, tmp, strerror(errno));
        free(tmp);
        return st;
    }
    FILE *f = fdopen(fd, "wb");
    int8_t *q = NULL;
    float *scale = NULL;
    int q_rows = 0;
    const char *q_name = NULL;
    rams_status st = RAMS_OK;
    if (!f) {
        close(fd);
        st = rams_fail(RAMS_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)header->n >> (8 * i));
    int bad = write_all(f, len8, 8) || write_all(f, header->s, header->n);
    for (int i = 0; !bad && i < l->n; i++) {
        const out_tensor *o = &l->t[i];
        if (!strcmp(o->dtype, "F32") && !o->is_scale) {
            bad = write_all(f, o->f32, o->bytes);
            continue;
        }
        /* A matrix and its scales: quantized once (the I8 tensor sorts before its "_scale"). */
        size_t base = strlen(o->name) - (o->is_scale ? 6 : 0);
        if (!q_name || strncmp(q_name, o->name, base) || strlen(q_name) != base) {
            size_t n = (size_t)o->rows * o->cols;
            int8_t *nq = realloc(q, n ? n : 1);
            float *ns = realloc(scale, (size_t)(o->rows ? o->rows : 1) * sizeof *scale);
            if (nq) q = nq;
            if (ns) scale = ns;
            if (!nq || !ns) {
                st = rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory quantizing %s", out_path, o->name);
                goto out;
            }
            for (size_t k = 0; k < n; k++)
                if (!isfinite(o->f32[k])) {
                    st = rams_fail(RAMS_ERR_FORMAT,
                                   "%s: tensor %.*s holds a non-finite value (%g at element %zu), which int8 "
                                   "cannot represent",
                                   in_path, (int)base, o->name, (double)o->f32[k], k);
                    goto out;
                }
            rams_q8_quantize_matrix(o->f32, o->rows, o->cols, q, scale);
            q_name = o->name, q_rows = o->rows;
        }
        bad = o->is_scale ? write_all(f, scale, (size_t)q_rows * sizeof *scale) : write_all(f, q, o->bytes);
    }
    if (bad || fflush(f) || fsync(fileno(f)))
        st = rams_fail(RAMS_ERR_IO, "%s: write error: %s", tmp, strerror(errno));
out:
    if (f && fclose(f) && st == RAMS_OK)
        st = rams_fail(RAMS_ERR_IO, "%s: write error: %s", tmp, strerror(errno));
    if (st == RAMS_OK && rename(tmp, out_path))
        st = rams_fail(RAMS_ERR_IO, "%s: cannot rename %s: %s", out_path, tmp, strerror(errno));
    if (st != RAMS_OK) unlink(tmp);
    free(tmp), free(q), free(scale);
    return st;
}

rams_status rams_quantize_model_file(const char *input_path, const char *output_path)
{
    rams_clear_error();
    const char *null = !input_path ? "input_path" : !output_path ? "output_path" : NULL;
    if (null) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "rams_quantize_model_file: %s is NULL", null);
    /* Loaded in f32 (f16 and bf16 widened exactly): every check of rams_model_load applies. */
    rams_model_params mp = rams_model_default_params();
    mp.precision = RAMS_PRECISION_F32;
    mp.kernel = "openblas-sgemm";
    rams_model *m = NULL;
    rams_status st = rams_model_load(input_path, &mp, &m);
    if (st != RAMS_OK) return st;
    if (!strcmp(m->dtype, "Q8")) {
        rams_model_file_release(m);
        free(m);
        return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "%s: already a q8 model file", input_path);
    }
    rams_safetensors sf;
    out_list l = {0};
    text header = {0};
    st = rams_safetensors_open(input_path, &m->file, &sf);
    if (st == RAMS_OK) {
        if (list_tensors(m, &l)) {
            st = rams_fail(RAMS_ERR_NO_MEMORY, "%s: out of memory", input_path);
        } else {
            size_t offset = 0;
            for (int i = 0; i < l.n; i++) l.t[i].offset = offset, offset += l.t[i].bytes;
            st = header_text(input_path, rams_safetensors_metadata(&sf), &l, &header);
            if (st == RAMS_OK) st = write_file(input_path, output_path, &l, &header);
        }
    }
    rams_safetensors_free(&sf);
    free(l.t);
    free(header.s);
    /* Freed without rams_model_free, which would clear the message of a failure. */
    rams_model_file_release(m);
    free(m);
    return st;
}
