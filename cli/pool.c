#define RAMSTRANS_EXPERIMENTAL /* rams_model_flops */
/* An ordered worker pool: N threads, each with its own rams_context over one shared model, take
 * inputs in turn; the calling thread prints the outcomes in input order as they become ready. */
#include <pthread.h>
#include <stdlib.h>

#include "cli.h"

/* Above this many FLOPs per image (a few ms of work), threads share one image. */
#define CLI_INTRA_IMAGE_FLOPS 2e9

typedef struct {
    cli_outcome outcome;
    int ready;
} slot;

typedef struct {
    size_t count, next;
    slot *slots;
    cli_work_fn work;
    void *user;
    pthread_mutex_t lock;
    pthread_cond_t ready;
} pool;

typedef struct {
    pool *p;
    rams_context *ctx;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *p = w->p;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t i = p->next++;
        pthread_mutex_unlock(&p->lock);
        if (i >= p->count) break;
        cli_outcome out = {0};
        p->work(w->ctx, i, p->user, &out);
        pthread_mutex_lock(&p->lock);
        p->slots[i].outcome = out;
        p->slots[i].ready = 1;
        pthread_cond_broadcast(&p->ready);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

/* One context using `threads` threads inside each image. */
static int run_inline(const rams_model *model, size_t count, int threads, cli_work_fn work, cli_emit_fn emit,
                      void *user)
{
    rams_context *ctx = NULL;
    rams_context_params cp = rams_context_default_params();
    cp.threads = threads;
    if (rams_context_create(model, &cp, &ctx) != RAMS_OK) {
        cli_report("context", rams_last_error());
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        cli_outcome out = {0};
        work(ctx, i, user, &out);
        emit(i, &out, user);
    }
    rams_context_free(ctx);
    return 0;
}

int cli_run_pool(const rams_model *model, size_t count, int threads, cli_work_fn work, cli_emit_fn emit,
                 void *user)
{
    /* A large model splits each image over the threads; a small one (or a single input) would
     * spend more on synchronisation than on arithmetic, so it runs one image per thread. */
    if (count <= 1 || rams_model_flops(model, RAMS_MODE_FUSED) > CLI_INTRA_IMAGE_FLOPS)
        return run_inline(model, count, threads, work, emit, user);
    if ((size_t)threads > count) threads = (int)count;
    if (threads <= 1) return run_inline(model, count, 1, work, emit, user);
    rams_context_params one_thread = rams_context_default_params();
    one_thread.threads = 1;

    pool p = {.count = count, .work = work, .user = user};
    p.slots = calloc(count, sizeof *p.slots);
    worker *workers = calloc((size_t)threads, sizeof *workers);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    if (!p.slots || !workers || !tids) {
        free(p.slots), free(workers), free(tids);
        cli_report(NULL, "out of memory");
        return -1;
    }
    int made = 0;
    for (; made < threads; made++) {
        workers[made].p = &p;
        if (rams_context_create(model, &one_thread, &workers[made].ctx) != RAMS_OK) {
            cli_report("context", rams_last_error());
            for (int i = 0; i < made; i++) rams_context_free(workers[i].ctx);
            free(p.slots), free(workers), free(tids);
            return -1;
        }
    }
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.ready, NULL);
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tids[started], NULL, worker_main, &workers[started])) break;
    if (started == 0) { /* no thread at all: do the work here */
        for (int i = 0; i < threads; i++) rams_context_free(workers[i].ctx);
        pthread_mutex_destroy(&p.lock);
        pthread_cond_destroy(&p.ready);
        free(p.slots), free(workers), free(tids);
        return run_inline(model, count, 1, work, emit, user);
    }
    for (size_t i = 0; i < count; i++) {
        pthread_mutex_lock(&p.lock);
        while (!p.slots[i].ready) pthread_cond_wait(&p.ready, &p.lock);
        cli_outcome out = p.slots[i].outcome;
        pthread_mutex_unlock(&p.lock);
        emit(i, &out, user);
    }
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    for (int i = 0; i < threads; i++) rams_context_free(workers[i].ctx);
    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.ready);
    free(p.slots), free(workers), free(tids);
    return 0;
}
