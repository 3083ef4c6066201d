/* The stages' times of a run, taken in one place: the run (run.c) marks the end of each stage on a
 * timer the context owns, and no stage function takes or returns a time. */
#ifndef RAMS_TIMING_H
#define RAMS_TIMING_H

#ifndef RAMSTRANS_EXPERIMENTAL
#error "define RAMSTRANS_EXPERIMENTAL before the first include: rams_stage is experimental API"
#endif

#include "ramstrans.h"

typedef struct {
    double seconds[RAMS_STAGE_COUNT];
    double mark; /* when the stage now running began */
} rams_timer;

/* Zeroes the times; the first stage begins now. */
void rams_timer_start(rams_timer *t);

/* The stage that began at the last mark ends now: its time is added to `stage`, and the next
 * stage begins. */
void rams_timer_lap(rams_timer *t, rams_stage stage);

#endif
