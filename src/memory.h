/* Large working buffers (activations, attention maps): anonymous mappings populated when made.
 * (Transparent huge pages were tried: zeroing them made context creation 3x slower for no gain.)  On the virtual machines measured here a page
 * fault costs ~20 us, so first-touching 30 MB of 4 KB pages during the first run cost ~150 ms of a
 * 0.9 s ViT-B pass; populated in one call at context creation it costs a few ms. */
#ifndef RAMS_MEMORY_H
#define RAMS_MEMORY_H

#include <stddef.h>

/* A count of floats rounded up to whole 64-byte cache lines, so that buffers carved one after
 * another out of one allocation each start on a cache line. */
static inline size_t rams_cache_line_floats(size_t floats) { return (floats + 15) / 16 * 16; }

/* Zero-filled memory of `bytes` (> 0), 64-byte aligned; NULL when out of memory. */
void *rams_big_alloc(size_t bytes);
void rams_big_free(void *p, size_t bytes);

/* Asks the kernel to map a read-only file mapping's pages now, in the background: the model's
 * weights are then mapped by the time the first run reads them.  Returns a handle to pass to
 * rams_prefault_wait (NULL when nothing was started). */
/* Hands the whole pages inside [addr, addr + bytes) of a read-only private file mapping back to
 * the kernel (MADV_DONTNEED): they leave the resident set and are read from the file again if
 * touched (best effort; nothing changes where madvise is missing). */
void rams_release_pages(const void *addr, size_t bytes);

typedef struct rams_prefault rams_prefault;
rams_prefault *rams_prefault_start(const void *addr, size_t bytes);
void rams_prefault_wait(rams_prefault *p);

#endif
