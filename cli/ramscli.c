/* ramscli: the command-line face of libramstrans.
 *
 *   ramscli classify [--model PATH] [--mode M] [--top-k K] [--json] [--threads N] FILE|DIR...
 *   ramscli info     [--model PATH] [--json]
 *   ramscli eval     [--model PATH] [--json] [--limit N] [--threads N] DIR
 *   ramscli explain  ...   (cli/explain.c)
 *   ramscli version
 *
 * Exit status: 0 all fine, 1 some input or the model failed, 2 the command line was wrong. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const main_usage =
    "usage: ramscli COMMAND [OPTIONS] ...\n"
    "\n"
    "RAMS-Trans fine-grained image recognition (libramstrans %s).\n"
    "\n"
    "commands:\n"
    "  classify   classify images (JPEG, PNG) or preprocessed .npy tensors, files or directories\n"
    "  info       describe a model file\n"
    "  eval       score a model on an ImageFolder tree (DIR/<class>/<image>)\n"
    "  explain    draw where the model looked (rollout heatmap, zoom box, crop) into a PNG\n"
    "  bench      time a model stage by stage (GFLOP/s against this machine's sgemm)\n"
    "  version    print the version\n"
    "\n"
    "'ramscli COMMAND --help' describes each command.  Without --model the default model is\n"
    "used: $RAMSTRANS_MODEL, else the installed one, else the source tree's models/.\n"
    "Exit status: 0 success, 1 an input or the model failed, 2 usage error.\n";

/* ---- version ---------------------------------------------------------------------------------- */

static int cmd_version(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        puts("usage: ramscli version\n\nPrints ramscli's version and the linked library's.");
        return CLI_EXIT_OK;
    }
    if (argc > 1) return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
    printf("ramscli %s (libramstrans %s)\n", RAMSTRANS_VERSION_STRING, rams_version_string());
    return CLI_EXIT_OK;
}

/* ---- info ------------------------------------------------------------------------------------- */

static const char *const info_usage =
    "usage: ramscli info [--model PATH] [--json]\n"
    "\n"
    "Describes a model file: architecture, weight dtype, preprocessing, labels, default mode,\n"
    "file size, and the library version.\n"
    "\n"
    "  -m, --model PATH   the model file (default: the default model)\n"
    "      --json         one JSON object on one line\n"
    "  -h, --help         this text\n";

static void print_info_text(const char *path, const rams_model *m, const rams_model_info *in) {
    printf("model         %s\n", path ? path : "(default)");
    if (in->file_bytes >= 1000000)
        printf("file          %.1f MB, ", in->file_bytes / 1e6);
    else
        printf("file          %.1f kB, ", in->file_bytes / 1e3);
    printf("weights %s\n", in->dtype ? in->dtype : "?");
    printf("architecture  ViT, input %dx%d, patch %d (grid %dx%d), hidden %d, %d heads, %d layers,\n"
           "              MLP %d, LayerNorm eps %g\n",
           in->image_size, in->image_size, in->patch_size, in->grid, in->grid, in->hidden_size,
           in->num_heads, in->num_layers, in->mlp_size, in->ln_eps);
    printf("DPPM alpha    %g\n", in->alpha);
    printf("default mode  %s\n", rams_mode_name(in->default_mode));
    const rams_preprocess *pp = &in->preprocess;
    printf("preprocess    ");
    if (pp->resize_mode == RAMS_RESIZE_FIXED)
        printf("resize to %dx%d (bilinear), ", pp->resize_width, pp->resize_height);
    else if (pp->resize_mode == RAMS_RESIZE_SHORTER)
        printf("resize shorter side to %d (bilinear), ", pp->resize_shorter);
    else
        printf("no resize, ");
    printf("center crop %dx%d,\n              mean (%g, %g, %g), std (%g, %g, %g)\n", pp->crop_width,
           pp->crop_height, pp->mean[0], pp->mean[1], pp->mean[2], pp->std[0], pp->std[1],
           pp->std[2]);
    printf("classes       %d:", in->num_classes);
    int shown = in->num_classes < 6 ? in->num_classes : 6;
    for (int i = 0; i < shown; i++) {
        const char *l = rams_model_label(m, i);
        printf("%s %s", i ? "," : "", l ? l : "?");
    }
    printf("%s\n", shown < in->num_classes ? ", ..." : "");
    printf("library       %s\n", rams_version_string());
}

static int cmd_info(int argc, char **argv) {
    static const struct option options[] = {{"model", required_argument, NULL, 'm'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *model_path = NULL;
    int json = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:h", options, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(info_usage, stdout); return CLI_EXIT_OK;
        case ':': return cli_usage_error("info", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("info", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error("info", "unexpected argument '%s'", argv[optind]);

    rams_model *m = cli_load_model(model_path);
    if (!m) return CLI_EXIT_FAILED;
    const char *shown_path = model_path ? model_path : rams_default_model_path();
    rams_model_info info;
    int rc = CLI_EXIT_OK;
    if (rams_model_get_info(m, &info) != RAMS_OK) {
        cli_report(shown_path, rams_last_error());
        rc = CLI_EXIT_FAILED;
    } else if (json) {
        char *text = cli_info_json(shown_path, m, &info);
        if (text) puts(text);
        else cli_report("info", "out of memory"), rc = CLI_EXIT_FAILED;
        free(text);
    } else {
        print_info_text(shown_path, m, &info);
    }
    rams_model_free(m);
    return rc;
}

/* ---- classify --------------------------------------------------------------------------------- */

static const char *const classify_usage =
    "usage: ramscli classify [--model PATH] [--mode scale1|scale2|fused] [--top-k K] [--json]\n"
    "                        [--threads N] FILE|DIR...\n"
    "\n"
    "Classifies each FILE: a JPEG or PNG photo (decoded and preprocessed as the model file says)\n"
    "or a .npy float32 tensor of shape 3xSxS that is already preprocessed.  A DIR is searched\n"
    "recursively for images and .npy files, in sorted order, each directory and file once (a\n"
    "symlink back to a directory already searched is skipped).  Results come in input order.\n"
    "\n"
    "  -m, --model PATH   the model file (default: the default model)\n"
    "      --mode MODE    scale1: the full image only; scale2: the zoomed pass; fused: the mean of\n"
    "                     both scales' probabilities (default: the model file's default mode)\n"
    "  -k, --top-k K      predictions shown per input (default 5)\n"
    "      --json         one JSON object per input per line: file, mode, top [{index, label,\n"
    "                     prob}], logits {scale1, scale2|null}, box {top, left, bottom, right}|null\n"
    "                     (inclusive, input-tensor pixels), box_image (original-image pixels)|null,\n"
    "                     fallback (the DPPM mask was empty: the whole input was zoomed)\n"
    "  -t, --threads N    threads (default: the online CPUs); a small model runs one image per thread\n"
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
static char *result_text(const char *file, const rams_result *r) {
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

static void classify_work(rams_context *ctx, size_t index, void *user, cli_outcome *out) {
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

static void classify_emit(size_t index, cli_outcome *out, void *user) {
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

static int cmd_classify(int argc, char **argv) {
    static const struct option options[] = {{"model", required_argument, NULL, 'm'},
                                            {"mode", required_argument, NULL, 'M'},
                                            {"top-k", required_argument, NULL, 'k'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"threads", required_argument, NULL, 't'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *model_path = NULL;
    classify_job job = {0};
    job.params = rams_run_default_params();
    long threads = cli_default_threads(), value;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:k:t:h", options, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'M':
            if (rams_mode_parse(optarg, &job.params.mode) != RAMS_OK)
                return cli_usage_error("classify", "unknown mode '%s' (scale1, scale2 or fused)",
                                       optarg);
            break;
        case 'k':
            if (cli_parse_int(optarg, 1, 1000000, &value))
                return cli_usage_error("classify", "--top-k wants a positive number, not '%s'", optarg);
            job.params.top_k = (int)value;
            break;
        case 'j': job.json = 1; break;
        case 't':
            if (cli_parse_int(optarg, 1, 256, &threads))
                return cli_usage_error("classify", "--threads wants 1..256, not '%s'", optarg);
            break;
        case 'h': fputs(classify_usage, stdout); return CLI_EXIT_OK;
        case ':': return cli_usage_error("classify", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("classify", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return cli_usage_error("classify", "no FILE or DIR given");

    cli_list inputs = {0};
    for (int i = optind; i < argc; i++)
        if (cli_list_add_argument(&inputs, argv[i])) {
            cli_report("classify", "out of memory");
            cli_list_free(&inputs);
            return CLI_EXIT_FAILED;
        }
    if (inputs.count == 0) {
        cli_report("classify", "no images or .npy files found in the given directories");
        return CLI_EXIT_FAILED;
    }

    rams_model *m = cli_load_model(model_path);
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

/* ---- dispatch --------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"classify", cmd_classify}, {"info", cmd_info},   {"eval", cli_cmd_eval},
    {"explain", cli_cmd_explain}, {"bench", cli_cmd_bench}, {"version", cmd_version},
};

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, main_usage, rams_version_string());
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        if (!strcmp(name, "help") && argc > 2) { /* "ramscli help classify" */
            char *sub[] = {argv[2], "--help", NULL};
            for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
                if (!strcmp(argv[2], commands[i].name)) return commands[i].run(2, sub);
            return cli_usage_error("help", "unknown command '%s'", argv[2]);
        }
        printf(main_usage, rams_version_string());
        return CLI_EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) return cmd_version(1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(name, commands[i].name)) {
            int rc = commands[i].run(argc - 1, argv + 1);
            /* Results that never reached their file (a full disk, a closed pipe) are a failure. */
            if (fflush(stdout) != 0 || ferror(stdout)) {
                cli_report("stdout", "write error");
                return CLI_EXIT_FAILED;
            }
            return rc;
        }
    fprintf(stderr, "ramscli: unknown command '%s' (see 'ramscli --help')\n", name);
    return CLI_EXIT_USAGE;
}
