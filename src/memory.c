#include "memory.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Under AddressSanitizer the big buffers come from the (instrumented) heap instead: a mapping of
 * our own has no redzones, so an overflow out of the attention maps or the activations would go
 * unseen by the sanitizer builds and the fuzzers that exist to catch it. */
#if defined(__SANITIZE_ADDRESS__)
#define RAMS_BIG_ALLOC_FROM_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RAMS_BIG_ALLOC_FROM_HEAP 1
#endif
#endif

#ifdef RAMS_BIG_ALLOC_FROM_HEAP
#include <string.h>

void *rams_big_alloc(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    memset(p, 0, bytes);
    return p;
}

void rams_big_free(void *p, size_t bytes)
{
    (void)bytes;
    free(p);
}
#else
void *rams_big_alloc(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_POPULATE_WRITE
    /* Best effort: an older kernel (EINVAL) or a tight memory limit leaves the pages to fault in
     * on first use, as plain malloc'd memory would. */
    (void)madvise(p, bytes, MADV_POPULATE_WRITE);
#endif
    return p;
}

void rams_big_free(void *p, size_t bytes)
{
    if (p) munmap(p, bytes);
}
#endif

struct rams_prefault {
    pthread_t thread;
    const uint8_t *addr;
    size_t bytes;
};

static void *prefault_main(void *arg)
{
    rams_prefault *pf = arg;
#ifdef MADV_POPULATE_READ
    if (madvise((void *)pf->addr, pf->bytes, MADV_POPULATE_READ) == 0) return NULL;
#endif
    /* Kernels before 5.14: read one byte per page. */
    long page = sysconf(_SC_PAGESIZE);
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < pf->bytes; i += (size_t)(page > 0 ? page : 4096)) sink ^= pf->addr[i];
    (void)sink;
    return NULL;
}

rams_prefault *rams_prefault_start(const void *addr, size_t bytes)
{
    rams_prefault *pf = malloc(sizeof *pf);
    if (!pf) return NULL;
    pf->addr = addr;
    pf->bytes = bytes;
    if (pthread_create(&pf->thread, NULL, prefault_main, pf) != 0) {
        free(pf);
        return NULL; /* pages then fault in on first use: slower, never wrong */
    }
    return pf;
}

void rams_prefault_wait(rams_prefault *pf)
{
    if (!pf) return;
    pthread_join(pf->thread, NULL);
    free(pf);
}

void rams_release_pages(const void *addr, size_t bytes)
{
#ifdef MADV_DONTNEED
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || bytes == 0) return;
    uintptr_t a = (uintptr_t)addr, begin = (a + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page,
              end = (a + bytes) / (uintptr_t)page * (uintptr_t)page;
    if (end > begin) (void)madvise((void *)begin, end - begin, MADV_DONTNEED);
#else
    (void)addr, (void)bytes;
#endif
}
