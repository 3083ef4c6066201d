/* ramscli helpers: error lines, numbers, model loading, input lists, the progress bar. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "image.h" /* rams_sniff: the library's own idea of what it can decode */

/* ---- errors ----------------------------------------------------------------------------------- */

void cli_report(const char *what, const char *message) {
    if (!message || !*message) message = "failed (no message)";
    size_t n = what ? strlen(what) : 0;
    if (n && strncmp(message, what, n) == 0 && message[n] == ':')
        fprintf(stderr, "ramscli: %s\n", message);
    else if (n)
        fprintf(stderr, "ramscli: %s: %s\n", what, message);
    else
        fprintf(stderr, "ramscli: %s\n", message);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "ramscli: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'ramscli %s --help')\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_parse_int(const char *text, long lo, long hi, long *out) {
    if (!text || !*text) return -1;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

rams_model *cli_load_model(const char *path) {
    rams_model_params mp = rams_model_default_params();
    rams_model *m = NULL;
    if (rams_model_load(path, &mp, &m) != RAMS_OK) {
        cli_report(path ? path : "default model", rams_last_error());
        return NULL;
    }
    return m;
}

/* ---- input lists ------------------------------------------------------------------------------ */

int cli_list_push(cli_list *list, const char *path) {
    if (list->count == list->capacity) {
        size_t cap = list->capacity ? list->capacity * 2 : 64;
        char **p = realloc(list->paths, cap * sizeof *p);
        if (!p) return -1;
        list->paths = p;
        list->capacity = cap;
    }
    char *copy = strdup(path);
    if (!copy) return -1;
    list->paths[list->count++] = copy;
    return 0;
}

void cli_list_free(cli_list *list) {
    for (size_t i = 0; i < list->count; i++) free(list->paths[i]);
    free(list->paths);
    list->paths = NULL;
    list->count = list->capacity = 0;
}

int cli_is_input_file(const char *path) {
    static const char *const extensions[] = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".npy"};
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof extensions / sizeof *extensions; i++)
            if (strcasecmp(dot, extensions[i]) == 0) return 1;
    /* No telling name: let the content decide, as the library does. */
    uint8_t head[16];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return rams_sniff(head, n) != RAMS_FILE_UNKNOWN;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files and directories one walk has met, by (st_dev, st_ino): an open-addressing hash set.
 * A symlink to a directory already entered (".", a parent) would otherwise walk it again, and
 * two such links in one directory fan out exponentially. */
typedef struct {
    dev_t dev;
    ino_t ino;
    int used;
} cli_file_id;

typedef struct {
    cli_file_id *slots;
    size_t count, capacity; /* capacity: 0 or a power of two, at most half full */
} cli_id_set;

static size_t id_hash(dev_t dev, ino_t ino) {
    uint64_t h = (uint64_t)ino ^ ((uint64_t)dev * 0x9e3779b97f4a7c15u);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    return (size_t)h;
}

/* 1 when (dev, ino) is new (and now recorded), 0 when it was met before, -1 when out of memory. */
static int id_set_add(cli_id_set *set, dev_t dev, ino_t ino) {
    if (2 * (set->count + 1) > set->capacity) {
        size_t cap = set->capacity ? 2 * set->capacity : 256;
        cli_file_id *slots = calloc(cap, sizeof *slots);
        if (!slots) return -1;
        for (size_t i = 0; i < set->capacity; i++) {
            if (!set->slots[i].used) continue;
            size_t j = id_hash(set->slots[i].dev, set->slots[i].ino) & (cap - 1);
            while (slots[j].used) j = (j + 1) & (cap - 1);
            slots[j] = set->slots[i];
        }
        free(set->slots);
        set->slots = slots;
        set->capacity = cap;
    }
    size_t j = id_hash(dev, ino) & (set->capacity - 1);
    for (; set->slots[j].used; j = (j + 1) & (set->capacity - 1))
        if (set->slots[j].dev == dev && set->slots[j].ino == ino) return 0;
    set->slots[j] = (cli_file_id){dev, ino, 1};
    set->count++;
    return 1;
}

/* Directories deeper than this are not entered (a very deep tree ends here, not in a crash;
 * loops are cut by the id set before). */
#define CLI_MAX_DEPTH 64

static int add_directory(cli_list *list, const char *dir, int depth, cli_id_set *seen) {
    if (depth > CLI_MAX_DEPTH) {
        cli_report(dir, "directory nesting too deep (symlink loop?); skipped");
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        cli_report(dir, strerror(errno));
        return 0; /* not fatal: other inputs still run */
    }
    cli_list names = {0};
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ".", ".." and hidden files */
        if (cli_list_push(&names, e->d_name)) { rc = -1; break; }
    }
    closedir(d);
    if (names.count) qsort(names.paths, names.count, sizeof *names.paths, compare_names);
    size_t dirlen = strlen(dir);
    while (dirlen > 1 && dir[dirlen - 1] == '/') dirlen--;
    for (size_t i = 0; rc == 0 && i < names.count; i++) {
        size_t len = dirlen + 1 + strlen(names.paths[i]) + 1;
        char *full = malloc(len);
        if (!full) { rc = -1; break; }
        snprintf(full, len, "%.*s/%s", (int)dirlen, dir, names.paths[i]);
        struct stat st;
        if (stat(full, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
            /* Each directory entered once, each file listed once: the first path in sorted
             * depth-first order wins, and a symlink back to a directory met before is skipped. */
            int fresh = id_set_add(seen, st.st_dev, st.st_ino);
            if (fresh < 0)
                rc = -1;
            else if (fresh && S_ISDIR(st.st_mode))
                rc = add_directory(list, full, depth + 1, seen);
            else if (fresh && cli_is_input_file(full))
                rc = cli_list_push(list, full);
        }
        free(full);
    }
    cli_list_free(&names);
    return rc;
}

int cli_list_add_argument(cli_list *list, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_id_set seen = {0};
        int rc = id_set_add(&seen, st.st_dev, st.st_ino) < 0 ? -1 : add_directory(list, path, 0, &seen);
        free(seen.slots);
        return rc;
    }
    return cli_list_push(list, path);
}

/* ---- progress bar ----------------------------------------------------------------------------- */

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "More than a few": a bar for two or three files is noise. */
#define CLI_PROGRESS_MIN_INPUTS 5

void cli_progress_start(cli_progress *p, size_t total) {
    memset(p, 0, sizeof *p);
    p->total = total;
    p->enabled = total >= CLI_PROGRESS_MIN_INPUTS && isatty(STDERR_FILENO);
    p->start = p->last_draw = cli_now();
}

static void format_duration(char *buf, size_t size, double seconds) {
    if (seconds < 0 || seconds > 99 * 3600.0) {
        snprintf(buf, size, "--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

static void progress_draw(cli_progress *p, double now) {
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

void cli_progress_step(cli_progress *p) {
    p->done++;
    if (!p->enabled) return;
    double now = cli_now();
    if (now - p->last_draw >= 0.1 || p->done == p->total || !p->drawn) progress_draw(p, now);
}

void cli_progress_clear(cli_progress *p) {
    if (p->enabled && p->drawn) {
        fputs("\r\033[K", stderr);
        p->drawn = 0;
    }
}

void cli_progress_finish(cli_progress *p) {
    if (!p->enabled) return;
    if (!p->drawn) progress_draw(p, cli_now()); /* the last step drew the final count already */
    fputc('\n', stderr);
    p->drawn = 0;
}

int cli_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}
