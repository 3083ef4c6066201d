/* ramscli classify: images and .npy tensors, files or directories, in input order. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const classify_usage =
    "usage: ramscli classify [--model PATH] [--mode scale1|scale2|fused] [--top-k K] [--json]\n"
    "                        [--threads N] [--precision f32|bf16|int8] [--kernel NAME] FILE|DIR...\n"
    "\n"
    "Classifies each FILE: a JPEG, PNG or WebP photo (decoded and preprocessed as the model file says)\n"
    "or a .npy float32 tensor of shape 3xSxS that is already preprocessed.  A DIR is searched\n"
    "recursively for images and .npy files, in sorted order, each directory and file once (a\n"
    "symlink back to a directory already searched is skipped).  Results come in input order.\n"
    "\n" CLI_HELP_MODEL_PRECISION_KERNEL
    "      --mode MODE    scale1: the full image only; scale2: the zoomed pass; fused: the mean of\n"
    "                     both scales' probabilities (default: the model file's default mode)\n"
    "  -k, --top-k K      predictions shown per input (default 5)\n"
    "      --json         one JSON object per input per line: file, mode, top [{index, label,\n"
    "                     prob}], logits {scale1, scale2|null}, box {top, left, bottom, right}|null\n"
    "                     (inclusive, input-tensor pixels), box_image (original-image pixels)|null,\n"
    "                     fallback (the DPPM mask was empty: the whole input was zoomed)\n"
    "  -t, --threads N    threads (default: the online CPUs), also for packing the weights at load;\n"
    "                     a small model runs one image per thread\n"
    "  -h, --help         this text\n"
    "\n"
    "A failing input prints one line 'ramscli: FILE: problem' on stderr and the others still run;\n"
    "the exit status is then 1.  With many inputs and a terminal, stderr shows a progress bar.\n";

typedef struct {
    const cli_list *inputs;
    rams_run_params params;
    int json;
    cli_progress progress;
    int failures;
} classify_job;

/* The human table: a header line per input, then one line per prediction. */
static char *result_text(const char *file, const rams_result *r)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) return NULL;
    fprintf(f, "%s  [%s]", file, rams_mode_name(r->mode));
    if (r->has_box) {
        fprintf(f, "  box t=%d l=%d b=%d r=%d", r->box.top, r->box.left, r->box.bottom, r->box.right);
        if (r->has_image_box)
            fprintf(f, " (in the image: t=%d l=%d b=%d r=%d)", r->image_box.top, r->image_box.left,
                    r->image_box.bottom, r->image_box.right);
        if (r->box_is_fallback) fputs(" fallback: empty mask", f);
    }
    fputc('\n', f);
    for (int i = 0; i < r->top_k; i++)
        fprintf(f, "  %2d. %6.2f%%  %s (%d)\n", i + 1, 100.0 * r->top[i].prob,
                r->top[i].label ? r->top[i].label : "?", r->top[i].index);
    fclose(f);
    return text;
}

static void classify_work(rams_context *ctx, size_t index, void *user, cli_outcome *out)
{
    classify_job *job = user;
    const char *file = job->inputs->paths[index];
    rams_result r;
    if (rams_classify_file(ctx, file, &job->params, &r) != RAMS_OK) {
        out->failed = 1;
        out->error = strdup(rams_last_error());
        return;
    }
    out->text = job->json ? cli_result_json(file, &r) : result_text(file, &r);
    if (!out->text) {
        out->failed = 1;
        out->error = strdup("out of memory formatting the result");
    }
}

static void classify_emit(size_t index, cli_outcome *out, void *user)
{
    classify_job *job = user;
    if (out->failed) {
        cli_progress_clear(&job->progress);
        fflush(stdout);
        cli_report(job->inputs->paths[index], out->error ? out->error : "out of memory");
        job->failures++;
    } else {
        fputs(out->text, stdout);
        if (job->json) fputc('\n', stdout);
        if (job->progress.enabled) fflush(stdout);
    }
    free(out->text);
    free(out->error);
    cli_progress_step(&job->progress);
}

int cli_cmd_classify(int argc, char **argv)
{
    const char *model_path = NULL;
    cli_load_options load = {RAMS_PRECISION_F32, NULL, 0};
    classify_job job = {0};
    job.params = rams_run_default_params();
    long threads = cli_default_threads(), top_k = job.params.top_k;
    int first;
    const cli_option options[] = {
        CLI_STRING("model", 'm', &model_path),
        CLI_PRECISION("precision", 0, &load.precision),
        CLI_STRING("kernel", 0, &load.kernel),
        CLI_MODE("mode", 0, &job.params.mode),
        CLI_INT("top-k", 'k', &top_k, 1, 1000000, "a positive number"),
        CLI_FLAG("json", 0, &job.json),
        CLI_INT("threads", 't', &threads, 1, 256, NULL),
        CLI_END,
    };
    const cli_command_line cl = {"classify", classify_usage, options, 1, -1, "no FILE or DIR given", NULL};
    int parsed = cli_parse_command_line(&cl, argc, argv, &first);
    if (parsed != CLI_PARSED) return parsed;
    job.params.top_k = (int)top_k;

    cli_list inputs = {0};
    for (int i = first; i < argc; i++)
        if (cli_list_add_argument(&inputs, argv[i])) {
            cli_report("classify", "out of memory");
            cli_list_free(&inputs);
            return CLI_EXIT_FAILED;
        }
    if (inputs.count == 0) {
        cli_report("classify", "no images or .npy files found in the given directories");
        return CLI_EXIT_FAILED;
    }

    load.threads = (int)threads;
    rams_model *m = cli_load_model(model_path, &load);
    if (!m) {
        cli_list_free(&inputs);
        return CLI_EXIT_FAILED;
    }
    job.inputs = &inputs;
    cli_progress_start(&job.progress, inputs.count);
    int pool_rc = cli_run_pool(m, inputs.count, (int)threads, classify_work, classify_emit, &job);
    cli_progress_finish(&job.progress);
    rams_model_free(m);
    cli_list_free(&inputs);
    return pool_rc || job.failures ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}
