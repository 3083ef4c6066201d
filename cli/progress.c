/* ramscli's progress bar on stderr (a terminal only) and its clock. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---- progress bar ----------------------------------------------------------------------------- */

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "More than a few": a bar for two or three files is noise. */
#define CLI_PROGRESS_MIN_INPUTS 5

void cli_progress_start(cli_progress *p, size_t total)
{
    memset(p, 0, sizeof *p);
    p->total = total;
    p->enabled = total >= CLI_PROGRESS_MIN_INPUTS && isatty(STDERR_FILENO);
    p->start = p->last_draw = cli_now();
}

static void format_duration(char *buf, size_t size, double seconds)
{
    if (seconds < 0 || seconds > 99 * 3600.0) {
        snprintf(buf, size, "--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

static void progress_draw(cli_progress *p, double now)
{
    enum { WIDTH = 30 };
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? p->done / elapsed : 0;
    int filled = p->total ? (int)(WIDTH * p->done / p->total) : WIDTH;
    char bar[WIDTH + 1], eta[32];
    for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = 0;
    format_duration(eta, sizeof eta, rate > 0 ? (p->total - p->done) / rate : -1);
    fprintf(stderr, "\r%zu/%zu [%s] %.1f/s ETA %s\033[K", p->done, p->total, bar, rate, eta);
    fflush(stderr);
    p->drawn = 1;
    p->last_draw = now;
}

void cli_progress_step(cli_progress *p)
{
    p->done++;
    if (!p->enabled) return;
    double now = cli_now();
    if (now - p->last_draw >= 0.1 || p->done == p->total || !p->drawn) progress_draw(p, now);
}

void cli_progress_clear(cli_progress *p)
{
    if (p->enabled && p->drawn) {
        fputs("\r\033[K", stderr);
        p->drawn = 0;
    }
}

void cli_progress_finish(cli_progress *p)
{
    if (!p->enabled) return;
    if (!p->drawn) progress_draw(p, cli_now()); /* the last step drew the final count already */
    fputc('\n', stderr);
    p->drawn = 0;
}
