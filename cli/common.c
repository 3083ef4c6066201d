/* ramscli helpers every subcommand uses: error lines, the model, the default thread count. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void cli_report(const char *what, const char *message)
{
    if (!message || !*message) message = "failed (no message)";
    size_t n = what ? strlen(what) : 0;
    if (n && strncmp(message, what, n) == 0 && message[n] == ':') fprintf(stderr, "ramscli: %s\n", message);
    else if (n) fprintf(stderr, "ramscli: %s: %s\n", what, message);
    else fprintf(stderr, "ramscli: %s\n", message);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ramscli: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'ramscli %s --help')\n", cmd);
    return CLI_EXIT_USAGE;
}

rams_model *cli_load_model(const char *path, const cli_load_options *opts)
{
    rams_model_params mp = rams_model_default_params();
    if (opts) {
        mp.precision = opts->precision;
        mp.kernel = opts->kernel;
        mp.threads = opts->threads;
    }
    rams_model *m = NULL;
    if (rams_model_load(path, &mp, &m) != RAMS_OK) {
        cli_report(path ? path : "default model", rams_last_error());
        return NULL;
    }
    return m;
}

int cli_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}
