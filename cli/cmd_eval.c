/* ramscli eval: scores a model on an ImageFolder tree (DIR/<class>/<image>).
 *
 * Every image runs once in fused mode; a fused result carries the top-k of each scale as well as
 * the fused one (rams_result.top_scale1, top_scale2, top_fused), so one pass scores all modes. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"

enum { MODES = 3, TOPK = 5, MAX_CONFUSED_SHOWN = 5 };
static const rams_mode mode_of[MODES] = {RAMS_MODE_SCALE1, RAMS_MODE_SCALE2, RAMS_MODE_FUSED};

static const char *const eval_usage =
    "usage: ramscli eval [--model PATH] [--json] [--limit N] [--threads N] [--precision f32|bf16|int8]\n"
    "                    [--kernel NAME] DIR\n"
    "\n"
    "Scores the model on an ImageFolder tree: DIR/<class>/<image>, each folder name matched to one\n"
    "of the model's labels ignoring case and punctuation (a leading number such as CUB's '001.' may\n"
    "be left out on either side).  Each image runs once, in fused mode, whose result also holds\n"
    "each scale's predictions: they give the top-1 and top-5 accuracy of every mode (scale1: the\n"
    "full image; scale2: the zoomed crop; fused: the mean of both scales' probabilities).  Also\n"
    "prints images per second and the most confused pairs (in the model's default mode).\n"
    "\n" CLI_HELP_MODEL_PRECISION_KERNEL
    "      --json         print one JSON object instead of the table: {\"images\": n, \"top1\":\n"
    "                     {\"scale1\": a, \"scale2\": b, \"fused\": c}, \"top5\": {...},\n"
    "                     \"images_per_s\": r, ...} with fractions in 0..1\n"
    "  -n, --limit N      score at most N images, taken round-robin over the classes\n"
    "  -t, --threads N    threads (default: the online CPUs), also for packing the weights at load;\n"
    "                     a small model runs one image per thread\n"
    "  -h, --help         this text\n";

/* Lower-case letters and digits only: "T-shirt/top" and "tshirt_top" both become "tshirttop". */
static char *normalise(const char *s, int drop_leading_digits)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    if (!out) return NULL;
    for (; *s; s++)
        if (isalnum((unsigned char)*s)) *o++ = (char)tolower((unsigned char)*s);
    *o = 0;
    if (drop_leading_digits) {
        char *p = out;
        while (isdigit((unsigned char)*p)) p++;
        if (*p) memmove(out, p, strlen(p) + 1); /* keep all-digit names as they are */
    }
    return out;
}

/* The label index a folder name stands for, or -1. */
static int match_label(const rams_model *m, int classes, const char *folder)
{
    for (int pass = 0; pass < 2; pass++) {
        char *want = normalise(folder, pass);
        if (!want) return -1;
        for (int i = 0; i < classes; i++) {
            const char *label = rams_model_label(m, i);
            char *have = label ? normalise(label, pass) : NULL;
            int same = have && strcmp(want, have) == 0;
            free(have);
            if (same) {
                free(want);
                return i;
            }
        }
        free(want);
    }
    return -1;
}

typedef struct {
    int truth;
    int top[MODES][TOPK]; /* class indices, most probable first */
} image_score;

typedef struct {
    char **paths; /* in evaluation order */
    int *truth;
    size_t count;
    int classes, topk, default_slot;
    cli_progress progress;
    size_t scored, failed;
    size_t top1[MODES], top5[MODES];
    int (*pairs)[2]; /* (truth, predicted) of every miss in the default mode */
    size_t num_pairs;
} eval_job;

static void eval_work(rams_context *ctx, size_t index, void *user, cli_outcome *out)
{
    eval_job *job = user;
    rams_run_params rp = rams_run_default_params();
    rp.mode = RAMS_MODE_FUSED;
    rp.top_k = job->topk;
    rams_result r;
    if (rams_classify_file(ctx, job->paths[index], &rp, &r) != RAMS_OK) {
        out->failed = 1;
        out->error = strdup(rams_last_error());
        return;
    }
    const rams_prediction *lists[MODES] = {r.top_scale1, r.top_scale2, r.top_fused};
    if (!lists[0] || !lists[1] || !lists[2]) {
        out->failed = 1;
        out->error = strdup("the fused run gave no per-scale predictions");
        return;
    }
    image_score *s = calloc(1, sizeof *s);
    if (!s) {
        out->failed = 1;
        out->error = strdup("out of memory");
        return;
    }
    for (int m = 0; m < MODES; m++)
        for (int j = 0; j < TOPK; j++) s->top[m][j] = j < r.top_k && j < job->topk ? lists[m][j].index : -1;
    s->truth = job->truth[index];
    out->data = s;
}

static void eval_emit(size_t index, cli_outcome *out, void *user)
{
    eval_job *job = user;
    if (out->failed) {
        cli_progress_clear(&job->progress);
        cli_report(job->paths[index], out->error ? out->error : "out of memory");
        job->failed++;
    } else {
        image_score *s = out->data;
        job->scored++;
        for (int m = 0; m < MODES; m++) {
            job->top1[m] += s->top[m][0] == s->truth;
            for (int j = 0; j < job->topk; j++)
                if (s->top[m][j] == s->truth) job->top5[m]++;
        }
        int predicted = s->top[job->default_slot][0];
        if (predicted != s->truth) {
            job->pairs[job->num_pairs][0] = s->truth;
            job->pairs[job->num_pairs][1] = predicted;
            job->num_pairs++;
        }
    }
    free(out->error);
    free(out->data);
    cli_progress_step(&job->progress);
}

static int compare_pairs(const void *a, const void *b)
{
    const int *x = a, *y = b;
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

typedef struct {
    int truth, predicted;
    size_t count;
} confused;

/* The most frequent (truth, predicted) misses, most frequent first (ties: lower truth first). */
static size_t most_confused(eval_job *job, confused *best, size_t max)
{
    size_t shown = 0;
    qsort(job->pairs, job->num_pairs, sizeof *job->pairs, compare_pairs);
    for (size_t i = 0; i < job->num_pairs;) {
        size_t j = i;
        while (j < job->num_pairs && !compare_pairs(job->pairs[i], job->pairs[j])) j++;
        confused c = {job->pairs[i][0], job->pairs[i][1], j - i};
        size_t pos = shown;
        while (pos > 0 && best[pos - 1].count < c.count) pos--;
        if (pos < max) {
            size_t move = shown < max ? shown - pos : max - 1 - pos;
            memmove(best + pos + 1, best + pos, move * sizeof *best);
            best[pos] = c;
            if (shown < max) shown++;
        }
        i = j;
    }
    return shown;
}

/* Collects DIR/<class>/... and puts the images in round-robin order over the classes, so that
 * --limit N takes a balanced subset.  Returns 0, or -1 after reporting. */
static int collect(eval_job *job, const rams_model *m, const char *dir, size_t limit)
{
    DIR *d = opendir(dir);
    if (!d) {
        cli_report(dir, strerror(errno));
        return -1;
    }
    cli_list folders = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (cli_list_push(&folders, e->d_name)) break;
    }
    closedir(d);
    int rc = 0;
    size_t nf = folders.count;
    cli_list *per_class = calloc(nf ? nf : 1, sizeof *per_class);
    int *label_of = calloc(nf ? nf : 1, sizeof *label_of);
    if (!per_class || !label_of) rc = -1, cli_report("eval", "out of memory");
    /* sorted folder names, as ImageFolder does */
    for (size_t i = 1; i < nf; i++)
        for (size_t j = i; j > 0 && strcmp(folders.paths[j - 1], folders.paths[j]) > 0; j--) {
            char *t = folders.paths[j];
            folders.paths[j] = folders.paths[j - 1];
            folders.paths[j - 1] = t;
        }
    size_t classes_seen = 0, total = 0;
    for (size_t i = 0; rc == 0 && i < nf; i++) {
        size_t len = strlen(dir) + strlen(folders.paths[i]) + 2;
        char *full = malloc(len);
        if (!full) {
            rc = -1;
            break;
        }
        snprintf(full, len, "%s/%s", dir, folders.paths[i]);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            label_of[i] = match_label(m, job->classes, folders.paths[i]);
            if (label_of[i] < 0) {
                const char *l0 = rams_model_label(m, 0);
                char msg[512];
                snprintf(msg, sizeof msg, "folder '%s' matches none of the model's %d labels (e.g. '%s')",
                         folders.paths[i], job->classes, l0 ? l0 : "?");
                cli_report(dir, msg);
                rc = -1;
            } else if (cli_list_add_argument(&per_class[i], full)) {
                rc = -1;
            } else {
                classes_seen++;
                total += per_class[i].count;
            }
        }
        free(full);
    }
    if (rc == 0 && total == 0) {
        cli_report(dir, classes_seen ? "no images in the class folders"
                                     : "no class folders (want DIR/<class>/<image>)");
        rc = -1;
    }
    if (rc == 0) {
        size_t n = limit && limit < total ? limit : total;
        job->paths = calloc(n, sizeof *job->paths);
        job->truth = calloc(n, sizeof *job->truth);
        job->pairs = calloc(n, sizeof *job->pairs);
        if (!job->paths || !job->truth || !job->pairs) {
            cli_report("eval", "out of memory");
            rc = -1;
        }
        for (size_t round = 0; rc == 0 && job->count < n; round++)
            for (size_t i = 0; i < nf && job->count < n; i++)
                if (round < per_class[i].count) {
                    job->paths[job->count] = per_class[i].paths[round];
                    per_class[i].paths[round] = NULL; /* moved */
                    job->truth[job->count] = label_of[i];
                    job->count++;
                }
    }
    for (size_t i = 0; per_class && i < nf; i++) cli_list_free(&per_class[i]);
    free(per_class);
    free(label_of);
    cli_list_free(&folders);
    return rc;
}

static void print_json(const eval_job *job, const rams_model *m, double seconds, int threads,
                       const confused *conf, size_t nconf)
{
    static const char *names[MODES] = {"scale1", "scale2", "fused"};
    double n = job->scored ? (double)job->scored : 1;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "images", (double)job->scored);
    cJSON *t1 = cJSON_AddObjectToObject(o, "top1"), *t5 = cJSON_AddObjectToObject(o, "top5");
    for (int k = 0; k < MODES; k++) {
        cJSON_AddNumberToObject(t1, names[k], job->top1[k] / n);
        cJSON_AddNumberToObject(t5, names[k], job->top5[k] / n);
    }
    cJSON_AddNumberToObject(o, "images_per_s", seconds > 0 ? job->scored / seconds : 0);
    cJSON_AddNumberToObject(o, "failed", (double)job->failed);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    cJSON_AddNumberToObject(o, "threads", threads);
    cJSON_AddStringToObject(o, "default_mode", names[job->default_slot]);
    cJSON *list = cJSON_AddArrayToObject(o, "confused");
    for (size_t i = 0; i < nconf; i++) {
        cJSON *c = cJSON_CreateObject();
        const char *lt = rams_model_label(m, conf[i].truth), *lp = rams_model_label(m, conf[i].predicted);
        cJSON_AddStringToObject(c, "true", lt ? lt : "?");
        cJSON_AddStringToObject(c, "predicted", lp ? lp : "?");
        cJSON_AddNumberToObject(c, "count", (double)conf[i].count);
        cJSON_AddItemToArray(list, c);
    }
    char *text = cJSON_PrintUnformatted(o);
    if (text) puts(text);
    free(text);
    cJSON_Delete(o);
}

static void print_table(const eval_job *job, const rams_model *m, double seconds, int threads,
                        const confused *conf, size_t nconf)
{
    static const char *names[MODES] = {"scale1", "scale2", "fused"};
    double n = job->scored ? (double)job->scored : 1;
    printf("images   %zu scored, %zu failed, %.1f s, %.1f images/s (one fused run each, %d thread%s)\n",
           job->scored, job->failed, seconds, seconds > 0 ? job->scored / seconds : 0.0, threads,
           threads == 1 ? "" : "s");
    printf("mode     top-1     top-%d\n", job->topk);
    for (int k = 0; k < MODES; k++)
        printf("%-7s  %6.2f%%   %6.2f%%%s\n", names[k], 100 * job->top1[k] / n, 100 * job->top5[k] / n,
               k == job->default_slot ? "   (the model's default mode)" : "");
    if (nconf) {
        printf("most confused (%s): true -> predicted\n", names[job->default_slot]);
        for (size_t i = 0; i < nconf; i++) {
            const char *lt = rams_model_label(m, conf[i].truth), *lp = rams_model_label(m, conf[i].predicted);
            printf("  %6zu  %s -> %s\n", conf[i].count, lt ? lt : "?", lp ? lp : "?");
        }
    }
}

int cli_cmd_eval(int argc, char **argv)
{
    const char *model_path = NULL;
    cli_load_options load = {RAMS_PRECISION_F32, NULL, 0};
    int json = 0, first;
    long limit = 0, threads = cli_default_threads();
    const cli_option options[] = {
        CLI_STRING("model", 'm', &model_path),
        CLI_PRECISION("precision", 0, &load.precision),
        CLI_STRING("kernel", 0, &load.kernel),
        CLI_FLAG("json", 0, &json),
        CLI_INT("limit", 'n', &limit, 1, 1000000000L, "a positive number"),
        CLI_INT("threads", 't', &threads, 1, 256, NULL),
        CLI_END,
    };
    const cli_command_line cl = {
        "eval", eval_usage, options, 1, 1, "no DIR given", "one DIR only, got '%s' too"};
    int parsed = cli_parse_command_line(&cl, argc, argv, &first);
    if (parsed != CLI_PARSED) return parsed;
    const char *dir = argv[first];

    load.threads = (int)threads;
    rams_model *m = cli_load_model(model_path, &load);
    if (!m) return CLI_EXIT_FAILED;
    rams_model_info info;
    if (rams_model_get_info(m, &info) != RAMS_OK) {
        cli_report(model_path ? model_path : "default model", rams_last_error());
        rams_model_free(m);
        return CLI_EXIT_FAILED;
    }
    eval_job job = {0};
    job.classes = info.num_classes;
    job.topk = info.num_classes < TOPK ? info.num_classes : TOPK;
    job.default_slot = 2;
    for (int k = 0; k < MODES; k++)
        if (mode_of[k] == info.default_mode) job.default_slot = k;

    int rc = CLI_EXIT_FAILED;
    if (collect(&job, m, dir, (size_t)limit) == 0) {
        cli_progress_start(&job.progress, job.count);
        double start = cli_now();
        int pool_rc = cli_run_pool(m, job.count, (int)threads, eval_work, eval_emit, &job);
        double seconds = cli_now() - start;
        cli_progress_finish(&job.progress);
        if (pool_rc == 0) {
            confused conf[MAX_CONFUSED_SHOWN];
            size_t nconf = most_confused(&job, conf, MAX_CONFUSED_SHOWN);
            if (json) print_json(&job, m, seconds, (int)threads, conf, nconf);
            else print_table(&job, m, seconds, (int)threads, conf, nconf);
            rc = job.failed || job.scored == 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        }
    }
    for (size_t i = 0; i < job.count; i++) free(job.paths[i]);
    free(job.paths);
    free(job.truth);
    free(job.pairs);
    rams_model_free(m);
    return rc;
}
