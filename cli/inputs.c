/* ramscli's input lists: files as given, directories walked recursively in sorted order. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"

/* ---- input lists ------------------------------------------------------------------------------ */

int cli_list_push(cli_list *list, const char *path)
{
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

void cli_list_free(cli_list *list)
{
    for (size_t i = 0; i < list->count; i++) free(list->paths[i]);
    free(list->paths);
    list->paths = NULL;
    list->count = list->capacity = 0;
}

int cli_is_input_file(const char *path)
{
    static const char *const extensions[] = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".npy"};
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof extensions / sizeof *extensions; i++)
            if (strcasecmp(dot, extensions[i]) == 0) return 1;
    /* No telling name: let the content decide, as the library does. */
    rams_file_kind kind;
    return rams_file_kind_of(path, &kind) == RAMS_OK && kind != RAMS_FILE_UNKNOWN;
}

static int compare_names(const void *a, const void *b)
{
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

static size_t id_hash(dev_t dev, ino_t ino)
{
    uint64_t h = (uint64_t)ino ^ ((uint64_t)dev * 0x9e3779b97f4a7c15u);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    return (size_t)h;
}

/* 1 when (dev, ino) is new (and now recorded), 0 when it was met before, -1 when out of memory. */
static int id_set_add(cli_id_set *set, dev_t dev, ino_t ino)
{
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

static int add_directory(cli_list *list, const char *dir, int depth, cli_id_set *seen)
{
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
        if (cli_list_push(&names, e->d_name)) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    if (names.count) qsort(names.paths, names.count, sizeof *names.paths, compare_names);
    size_t dirlen = strlen(dir);
    while (dirlen > 1 && dir[dirlen - 1] == '/') dirlen--;
    for (size_t i = 0; rc == 0 && i < names.count; i++) {
        size_t len = dirlen + 1 + strlen(names.paths[i]) + 1;
        char *full = malloc(len);
        if (!full) {
            rc = -1;
            break;
        }
        snprintf(full, len, "%.*s/%s", (int)dirlen, dir, names.paths[i]);
        struct stat st;
        if (stat(full, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
            /* Each directory entered once, each file listed once: the first path in sorted
             * depth-first order wins, and a symlink back to a directory met before is skipped. */
            int fresh = id_set_add(seen, st.st_dev, st.st_ino);
            if (fresh < 0) rc = -1;
            else if (fresh && S_ISDIR(st.st_mode)) rc = add_directory(list, full, depth + 1, seen);
            else if (fresh && cli_is_input_file(full)) rc = cli_list_push(list, full);
        }
        free(full);
    }
    cli_list_free(&names);
    return rc;
}

int cli_list_add_argument(cli_list *list, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_id_set seen = {0};
        int rc = id_set_add(&seen, st.st_dev, st.st_ino) < 0 ? -1 : add_directory(list, path, 0, &seen);
        free(seen.slots);
        return rc;
    }
    return cli_list_push(list, path);
}
