/* ramscli: the command-line face of libramstrans.  This file dispatches; each subcommand has its
 * own file (cmd_*.c) and they all parse their options with options.c.
 *
 *   ramscli classify [--model PATH] [--mode M] [--top-k K] [--json] [--threads N] FILE|DIR...
 *   ramscli info     [--model PATH] [--json]
 *   ramscli eval     [--model PATH] [--json] [--limit N] [--threads N] DIR
 *   ramscli explain  [--model PATH] [--out OUT.png] [--rollout FILE.npy] [--mode M] IMAGE
 *   ramscli bench    [--model PATH] [--mode M] [--runs N] [--threads N] [--input FILE] [--json]
 *   ramscli version
 *
 * Exit status: 0 all fine, 1 some input or the model failed, 2 the command line was wrong. */
#define _POSIX_C_SOURCE 200809L
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
    "  classify   classify images (JPEG, PNG, WebP) or preprocessed .npy tensors, files or directories\n"
    "  info       describe a model file\n"
    "  eval       score a model on an ImageFolder tree (DIR/<class>/<image>)\n"
    "  explain    draw where the model looked (rollout heatmap, zoom box, crop) into a PNG\n"
    "  bench      time a model stage by stage (GFLOP/s against this machine's sgemm)\n"
    "  quantize   write a q8 model file (int8 weights, per-row scales) from an f32/f16/bf16 one\n"
    "  version    print the version\n"
    "\n"
    "'ramscli COMMAND --help' describes each command.  Without --model the default model is\n"
    "used: $RAMSTRANS_MODEL, else the installed one, else the source tree's models/.\n"
    "Exit status: 0 success, 1 an input or the model failed, 2 usage error.\n";

/* ---- version ---------------------------------------------------------------------------------- */

static const char version_usage[] =
    "usage: ramscli version\n\nPrints ramscli's version and the linked library's.\n";

int cli_cmd_version(int argc, char **argv)
{
    const cli_option options[] = {CLI_END};
    const cli_command_line cl = {"version", version_usage, options, 0, 0, NULL, "unexpected argument '%s'"};
    int first, parsed = cli_parse_command_line(&cl, argc, argv, &first);
    if (parsed != CLI_PARSED) return parsed;
    printf("ramscli %s (libramstrans %s)\n", RAMSTRANS_VERSION_STRING, rams_version_string());
    return CLI_EXIT_OK;
}

/* ---- dispatch --------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"classify", cli_cmd_classify}, {"info", cli_cmd_info},   {"eval", cli_cmd_eval},
    {"explain", cli_cmd_explain},   {"bench", cli_cmd_bench}, {"version", cli_cmd_version},
    {"quantize", cli_cmd_quantize},
};

int main(int argc, char **argv)
{
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
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) return cli_cmd_version(1, argv + 1);
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
