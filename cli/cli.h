/* ramscli: what the subcommands share (option parsing, input lists, ordered worker pool, progress
 * bar, JSON, errors).  One file per subcommand (cmd_*.c); ramscli.c dispatches. */
#ifndef RAMSCLI_H
#define RAMSCLI_H

#include <stddef.h>
#include <stdio.h>

#include "ramstrans.h"

/* Exit statuses: 0 all fine, 1 some input (or the model) failed, 2 the command line was wrong. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILED = 1, CLI_EXIT_USAGE = 2 };

/* ---- errors and the model (common.c) -------------------------------------------------------- */

/* Prints "ramscli: WHAT: MESSAGE" on stderr as one line.  When the library's message already
 * starts with WHAT (it names the file itself), WHAT is not repeated. */
void cli_report(const char *what, const char *message);

/* Prints "ramscli: <cmd>: <printf message>" and a hint to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How a model is loaded: --precision (and --kernel, where a command has it; --threads, where a
 * command has it, packs a bf16 or int8 model's weights on that many threads). */
typedef struct {
    rams_precision precision; /* RAMS_PRECISION_F32 unless --precision says otherwise   */
    const char *kernel;       /* NULL: the library's choice                              */
    int threads;              /* 0: the library's default (the online CPUs)              */
} cli_load_options;

/* The --help lines of -m/--model, --precision and --kernel, as classify and eval print them. */
#define CLI_HELP_MODEL_PRECISION_KERNEL                                                             \
    "  -m, --model PATH   the model file (default: the default model)\n"                            \
    "      --precision P  f32 (default; exact); bf16: matrix products on bf16 operands with\n"      \
    "                     f32 sums, on AMX or AVX512-BF16 where the CPU has them; int8: int8\n"     \
    "                     weights (a q8 file's, or quantized at load) and per-token int8\n"         \
    "                     activations, int32 sums, on AMX, VNNI or AVX2 (ramscli info)\n"           \
    "      --kernel NAME  run on this matrix-product kernel of the precision (ramscli info lists\n" \
    "                     them; default: the fastest this CPU runs)\n"

/* Loads `path` (NULL: the default model) with `opts` (NULL: f32, the library's kernel) and
 * reports a failure; NULL on failure. */
rams_model *cli_load_model(const char *path, const cli_load_options *opts);

/* Threads when --threads is not given: the online CPUs (1..256). */
int cli_default_threads(void);

/* ---- the option parser (options.c) ---------------------------------------------------------- */

/* What an option takes and where its value goes. */
typedef enum {
    CLI_OPT_FLAG,     /* no value: *(int *)dest = 1                                             */
    CLI_OPT_STRING,   /* *(const char **)dest = the value                                       */
    CLI_OPT_FILE,     /* the same, but an empty value is refused ("--out wants a file name")    */
    CLI_OPT_INT,      /* *(long *)dest = a whole decimal number in [lo, hi]                    */
    CLI_OPT_MODE,     /* *(rams_mode *)dest = scale1, scale2 or fused (rams_mode_parse)          */
    CLI_OPT_PRECISION /* *(rams_precision *)dest = f32, bf16 or int8 (rams_precision_parse)     */
} cli_opt_kind;

typedef struct {
    const char *name; /* the long name, without "--"; NULL ends a table                        */
    char letter;      /* the short name ('m' for -m), or 0                                     */
    cli_opt_kind kind;
    void *dest;
    long lo, hi;       /* CLI_OPT_INT: the accepted range                                       */
    const char *wants; /* CLI_OPT_INT: how the error names the range ("a positive number");
                        * NULL: "LO..HI"                                                        */
} cli_option;

/* Table entries; the conditional makes the compiler check each dest's type. */
#define CLI_FLAG(name, letter, dest)                                  \
    {                                                                 \
        name, letter, CLI_OPT_FLAG, 1 ? (dest) : (int *)0, 0, 0, NULL \
    }
#define CLI_STRING(name, letter, dest)                                          \
    {                                                                           \
        name, letter, CLI_OPT_STRING, 1 ? (dest) : (const char **)0, 0, 0, NULL \
    }
#define CLI_FILE(name, letter, dest)                                          \
    {                                                                         \
        name, letter, CLI_OPT_FILE, 1 ? (dest) : (const char **)0, 0, 0, NULL \
    }
#define CLI_INT(name, letter, dest, lo, hi, wants)                       \
    {                                                                    \
        name, letter, CLI_OPT_INT, 1 ? (dest) : (long *)0, lo, hi, wants \
    }
#define CLI_MODE(name, letter, dest)                                        \
    {                                                                       \
        name, letter, CLI_OPT_MODE, 1 ? (dest) : (rams_mode *)0, 0, 0, NULL \
    }
#define CLI_PRECISION(name, letter, dest)                                             \
    {                                                                                 \
        name, letter, CLI_OPT_PRECISION, 1 ? (dest) : (rams_precision *)0, 0, 0, NULL \
    }
#define CLI_END                                 \
    {                                           \
        NULL, 0, CLI_OPT_FLAG, NULL, 0, 0, NULL \
    }

/* A subcommand's command line: its options, its usage text and what it takes after them. */
typedef struct {
    const char *name;          /* "classify": messages read "ramscli classify: ..."             */
    const char *usage;         /* printed on stdout by -h / --help (always accepted)            */
    const cli_option *options; /* ends with an entry whose name is NULL                         */
    int min_operands;          /* fewer: the usage error `missing`                              */
    int max_operands;          /* more: the usage error `extra` (one %s, the first one too many);
                                * negative: any number                                          */
    const char *missing, *extra;
} cli_command_line;

/* Parses argv (argv[0] = the subcommand's name) with getopt_long: long options, their unique
 * abbreviations and --name=value, short options (clustered too), operands anywhere, "--" ends
 * the options.  In order: each option as it comes (a bad value, an unknown option or a missing
 * value is a usage error; -h/--help prints the usage and stops), then the operand count, then
 * the CLI_OPT_FILE values.  Usage errors print "ramscli: CMD: what is wrong" and the hint to
 * --help on stderr, nothing on stdout.
 *
 * Returns CLI_PARSED with *first_operand = the index of the first operand in the (permuted) argv,
 * or the exit status to end with: CLI_EXIT_OK after --help, CLI_EXIT_USAGE after an error. */
enum { CLI_PARSED = -1 };
int cli_parse_command_line(const cli_command_line *cl, int argc, char **argv, int *first_operand);

/* ---- inputs (inputs.c) ---------------------------------------------------------------------- */

typedef struct {
    char **paths;
    size_t count, capacity;
} cli_list;

/* Appends an argument: a file as it is (whatever its name; content decides), a directory
 * expanded recursively in sorted order to the images and .npy files inside it.  The walk of one
 * argument enters each directory once and lists each file once, by (st_dev, st_ino): symlinks
 * are followed, but one back to a directory already met (".", a parent) is skipped, and a file
 * reached by several paths (symlinks, hard links) keeps the first in sorted depth-first order.
 * Arguments are walked independently (a directory given twice is listed twice, as a file
 * given twice is).  A path that does not exist is kept, so that it fails later with the
 * library's message in its place in the output.  Returns 0, or -1 when out of memory. */
int cli_list_add_argument(cli_list *list, const char *path);
int cli_list_push(cli_list *list, const char *path);
void cli_list_free(cli_list *list);

/* Does this directory entry look like something to classify (by extension or magic bytes)? */
int cli_is_input_file(const char *path);

/* ---- progress bar on stderr (progress.c) ---------------------------------------------------- */

typedef struct {
    int enabled;
    size_t total, done;
    double start, last_draw;
    int drawn; /* a bar is on the terminal line now */
} cli_progress;

/* Enabled only with more than a few inputs and stderr a terminal. */
void cli_progress_start(cli_progress *p, size_t total);
void cli_progress_step(cli_progress *p);
/* Erases the bar (before printing an error line; the next step redraws it). */
void cli_progress_clear(cli_progress *p);
void cli_progress_finish(cli_progress *p);

double cli_now(void); /* monotonic seconds */

/* ---- ordered worker pool (pool.c) ----------------------------------------------------------- */

/* The outcome of one item, made by a worker and consumed in input order by the main thread. */
typedef struct {
    int failed;
    char *error; /* malloc'd message when failed                              */
    char *text;  /* malloc'd output to print (may be NULL)                     */
    void *data;  /* anything else the command keeps per item (freed by emit)  */
} cli_outcome;

/* Runs work(ctx, index, user, &outcome) for every index in 0..count-1 on `threads` threads, each
 * with its own rams_context over `model`, and calls emit(index, &outcome, user) on the calling
 * thread in index order as soon as each outcome (and all before it) is ready.  Returns 0, or -1
 * when a context or thread could not be made (reported). */
typedef void (*cli_work_fn)(rams_context *ctx, size_t index, void *user, cli_outcome *out);
typedef void (*cli_emit_fn)(size_t index, cli_outcome *out, void *user);
int cli_run_pool(const rams_model *model, size_t count, int threads, cli_work_fn work, cli_emit_fn emit,
                 void *user);

/* ---- JSON (json_out.c) ---------------------------------------------------------------------- */

/* One classify result as a single-line JSON object (malloc'd string), or NULL when out of memory. */
char *cli_result_json(const char *file, const rams_result *r);
/* The model's description for `info --json` (malloc'd), or NULL. */
char *cli_info_json(const char *path, const rams_model *m, const rams_model_info *info);

/* ---- subcommands (cmd_*.c) ------------------------------------------------------------------ */
/* Each gets argv[0] = its own name and returns the exit status. */
int cli_cmd_classify(int argc, char **argv); /* cmd_classify.c */
int cli_cmd_info(int argc, char **argv);     /* cmd_info.c     */
int cli_cmd_eval(int argc, char **argv);     /* cmd_eval.c     */
int cli_cmd_explain(int argc, char **argv);  /* cmd_explain.c  */
int cli_cmd_bench(int argc, char **argv);    /* cmd_bench.c    */
int cli_cmd_version(int argc, char **argv);  /* ramscli.c      */
int cli_cmd_quantize(int argc, char **argv); /* cmd_quantize.c */

#endif
