/* ramscli's one option parser: each subcommand describes its options in a table (cli_option) and
 * this turns the table into getopt_long's, parses, checks the values and reports usage errors
 * the same way for every command. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
    MAX_OPTIONS = 32,
    LONG_ONLY = 256 /* getopt_long's value of table entry i without a letter: LONG_ONLY + i */
};

/* A whole decimal integer in [lo, hi]; 0 on success. */
static int parse_long(const char *text, long lo, long hi, long *out)
{
    if (!text || !*text) return -1;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Stores one option's value; a usage error's exit status when the value is wrong, else 0. */
static int take_value(const cli_command_line *cl, const cli_option *o, const char *value)
{
    switch (o->kind) {
    case CLI_OPT_FLAG: *(int *)o->dest = 1; break;
    case CLI_OPT_STRING:
    case CLI_OPT_FILE: *(const char **)o->dest = value; break;
    case CLI_OPT_INT:
        if (parse_long(value, o->lo, o->hi, (long *)o->dest)) {
            if (o->wants)
                return cli_usage_error(cl->name, "--%s wants %s, not '%s'", o->name, o->wants, value);
            return cli_usage_error(cl->name, "--%s wants %ld..%ld, not '%s'", o->name, o->lo, o->hi, value);
        }
        break;
    case CLI_OPT_MODE:
        if (rams_mode_parse(value, (rams_mode *)o->dest) != RAMS_OK)
            return cli_usage_error(cl->name, "unknown mode '%s' (scale1, scale2 or fused)", value);
        break;
    case CLI_OPT_PRECISION:
        if (rams_precision_parse(value, (rams_precision *)o->dest) != RAMS_OK)
            return cli_usage_error(cl->name, "unknown precision '%s' (f32, bf16 or int8)", value);
        break;
    }
    return 0;
}

int cli_parse_command_line(const cli_command_line *cl, int argc, char **argv, int *first_operand)
{
    /* getopt_long's tables: "h" and --help first, then one entry per option. */
    struct option longs[MAX_OPTIONS + 2];
    char shorts[3 * MAX_OPTIONS + 8];
    size_t n = 0, ns = 0;
    shorts[ns++] = ':'; /* a missing value is ':', not '?' */
    shorts[ns++] = 'h';
    longs[0] = (struct option){"help", no_argument, NULL, 'h'};
    for (const cli_option *o = cl->options; o && o->name && n < MAX_OPTIONS; o++, n++) {
        int has_value = o->kind != CLI_OPT_FLAG;
        longs[n + 1] = (struct option){o->name, has_value ? required_argument : no_argument, NULL,
                                       o->letter ? o->letter : LONG_ONLY + (int)n};
        if (o->letter) {
            shorts[ns++] = o->letter;
            if (has_value) shorts[ns++] = ':';
        }
    }
    longs[n + 1] = (struct option){NULL, 0, NULL, 0};
    shorts[ns] = '\0';

    int c;
    optind = 0; /* start afresh (glibc: and re-read the environment) */
    opterr = 0; /* the messages are ours */
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        if (c == 'h') {
            fputs(cl->usage, stdout);
            return CLI_EXIT_OK;
        }
        if (c == ':') return cli_usage_error(cl->name, "option '%s' needs a value", argv[optind - 1]);
        const cli_option *o = NULL;
        if (c >= LONG_ONLY && c < LONG_ONLY + (int)n) o = &cl->options[c - LONG_ONLY];
        else if (c != '?')
            for (size_t i = 0; i < n && !o; i++)
                if (cl->options[i].letter == c) o = &cl->options[i];
        if (!o) {
            /* An unknown letter is named alone (it may sit inside a cluster such as -jk3); an
             * unknown, ambiguous or wrongly valued long option as it was written. */
            if (optopt > 0 && optopt < LONG_ONLY && optopt != ':' && !strchr(shorts, optopt))
                return cli_usage_error(cl->name, "unknown option '-%c'", optopt);
            return cli_usage_error(cl->name, "unknown option '%s'", argv[optind - 1]);
        }
        int rc = take_value(cl, o, optarg);
        if (rc) return rc;
    }

    int operands = argc - optind;
    if (operands < cl->min_operands) return cli_usage_error(cl->name, "%s", cl->missing);
    if (cl->max_operands >= 0 && operands > cl->max_operands)
        return cli_usage_error(cl->name, cl->extra, argv[optind + cl->max_operands]);
    for (size_t i = 0; i < n; i++) {
        const cli_option *o = &cl->options[i];
        if (o->kind == CLI_OPT_FILE && *(const char **)o->dest && !**(const char **)o->dest)
            return cli_usage_error(cl->name, "--%s wants a file name", o->name);
    }
    *first_operand = optind;
    return CLI_PARSED;
}
