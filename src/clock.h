/* The library's one clock. */
#ifndef RAMS_CLOCK_H
#define RAMS_CLOCK_H

/* A monotonic clock in seconds. */
double rams_now(void);

#endif
