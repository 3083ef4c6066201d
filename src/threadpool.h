/* A fork-join pool: the one place libramstrans runs threads.
 *
 * OpenBLAS is kept single-threaded (rams_pool_create sets it so) and the encoder splits its work
 * into row blocks, one per pool thread, each calling single-threaded GEMMs on its own rows: two
 * independent GEMMs on two cores outrun one GEMM split by OpenBLAS (its 2-thread rate here is
 * ~1.55x its 1-thread rate, SPEC 5), and the softmax, GELU and LayerNorm loops between the GEMMs
 * run in parallel too instead of on one core while the other waits. */
#ifndef RAMS_THREADPOOL_H
#define RAMS_THREADPOOL_H

#include "ramstrans.h"

typedef struct rams_pool rams_pool;

/* More threads than this never pay for one image's row blocks. */
#define RAMS_MAX_THREADS 256

/* The online CPUs, 1..RAMS_MAX_THREADS: what threads = 0 means. */
int rams_online_cpus(void);

/* A pool of `threads` threads including the caller (threads - 1 are started). */
rams_status rams_pool_create(int threads, rams_pool **out);
void rams_pool_free(rams_pool *pool);
int rams_pool_threads(const rams_pool *pool);

/* Runs fn(arg, i, n) for every i in 0..n-1 (n = the pool's threads; i = 0 on the caller) and
 * returns when all have finished.  A NULL pool runs fn(arg, 0, 1). */
void rams_pool_run(rams_pool *pool, void (*fn)(void *arg, int index, int count), void *arg);

/* The half-open slice [*begin, *end) of n items that worker `index` of `count` takes. */
void rams_split(int n, int index, int count, int *begin, int *end);

#endif
