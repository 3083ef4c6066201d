#include "threadpool.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "error.h"

struct rams_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    unsigned long generation; /* bumped for every job; workers run each generation once */
    int pending;              /* workers still running the current job                  */
    int stop;
    void (*fn)(void *, int, int);
    void *arg;
};

typedef struct {
    rams_pool *pool;
    int index;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg wa = *(worker_arg *)p;
    free(p);
    rams_pool *pool = wa.pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->generation == seen && !pool->stop) pthread_cond_wait(&pool->start, &pool->lock);
        if (pool->stop) break;
        seen = pool->generation;
        void (*fn)(void *, int, int) = pool->fn;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->lock);
        fn(arg, wa.index, pool->threads);
        pthread_mutex_lock(&pool->lock);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

rams_status rams_pool_create(int threads, rams_pool **out)
{
    *out = NULL;
    if (threads < 1) threads = 1;
    /* The pool owns parallelism: OpenBLAS must not start threads of its own under ours. */
    openblas_set_num_threads(1);
    rams_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return rams_fail(RAMS_ERR_NO_MEMORY, "out of memory for a thread pool");
    pool->threads = threads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    if (threads > 1) {
        pool->workers = calloc((size_t)threads - 1, sizeof *pool->workers);
        if (!pool->workers) {
            rams_pool_free(pool);
            return rams_fail(RAMS_ERR_NO_MEMORY, "out of memory for a thread pool");
        }
    }
    for (int i = 1; i < threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) *wa = (worker_arg){pool, i};
        if (!wa || pthread_create(&pool->workers[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            pool->threads = i; /* the ones started so far are joined by rams_pool_free */
            rams_pool_free(pool);
            return rams_fail(RAMS_ERR_NO_MEMORY, "cannot start thread %d of %d", i, threads);
        }
    }
    *out = pool;
    return RAMS_OK;
}

void rams_pool_free(rams_pool *pool)
{
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i < pool->threads; i++) pthread_join(pool->workers[i - 1], NULL);
    pthread_cond_destroy(&pool->start);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool);
}

int rams_pool_threads(const rams_pool *pool) { return pool ? pool->threads : 1; }

void rams_pool_run(rams_pool *pool, void (*fn)(void *arg, int index, int count), void *arg)
{
    if (!pool || pool->threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->arg = arg;
    pool->pending = pool->threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);
    fn(arg, 0, pool->threads);
    pthread_mutex_lock(&pool->lock);
    while (pool->pending) pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}

void rams_split(int n, int index, int count, int *begin, int *end)
{
    *begin = (int)((long long)n * index / count);
    *end = (int)((long long)n * (index + 1) / count);
}

static int aligned_boundary(int n, int index, int count)
{
    if (index >= count) return n;
    /* round(n * index / count / A) * A, in integers */
    long long A = RAMS_ROW_ALIGN, b = (2LL * n * index + (long long)count * A) / (2LL * count * A) * A;
    return b < n ? (int)b : n;
}

void rams_split_rows(int n, int index, int count, int *begin, int *end)
{
    *begin = aligned_boundary(n, index, count);
    *end = aligned_boundary(n, index + 1, count);
}

int rams_split_rows_max(int n, int count)
{
    int most = 0;
    for (int i = 0; i < count; i++) {
        int a, b;
        rams_split_rows(n, i, count, &a, &b);
        if (b - a > most) most = b - a;
    }
    return most;
}

int rams_online_cpus(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > RAMS_MAX_THREADS ? RAMS_MAX_THREADS : (int)cpus;
}
