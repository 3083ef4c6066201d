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

/* Row blocks of the encoder start at multiples of this many rows, whatever the thread count.
 * OpenBLAS computes a product's rows in blocks of its kernel's unroll and a ragged last block with
 * other code, so a row's last bits depend on where its GEMM call starts (measured: blocks of 12
 * rows on this Zen 3's Haswell kernels; SkylakeX's sgemm kernel takes 4).  With every call starting
 * at a multiple of 12 rows (and ending at one, or at the matrix's end) a row gets the same bits on
 * 1 thread as on 16, so a result does not depend on the machine's core count (tests/test_threads.c).
 * The price is balance: a thread gets up to 12 rows more than its even share (ViT-B/16 at 448,
 * 786 tokens: +1 % on 2 threads, +4 % on 4, +10 % on 8).  This does not hold on OpenBLAS's AVX-512
 * kernel sets (SkylakeX, Cooperlake, SapphireRapids) for small models: there a product with few
 * enough rows goes to small-matrix kernels that sum in another order, and a block's row count
 * decides it (README, "Exactness and tests"). */
#define RAMS_ROW_ALIGN 12

/* Like rams_split, but every boundary inside (0, n) is a multiple of RAMS_ROW_ALIGN: the one
 * nearest to the even split, so a worker gets at most RAMS_ROW_ALIGN rows more than its share. */
void rams_split_rows(int n, int index, int count, int *begin, int *end);

/* The most rows rams_split_rows gives any of `count` workers. */
int rams_split_rows_max(int n, int count);

#endif
