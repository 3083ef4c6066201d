/* Stage timing (timing.h) and the stages' names. */
#define RAMSTRANS_EXPERIMENTAL

#include "timing.h"

#include <string.h>

#include "clock.h"

void rams_timer_start(rams_timer *t)
{
    memset(t->seconds, 0, sizeof t->seconds);
    t->mark = rams_now();
}

void rams_timer_lap(rams_timer *t, rams_stage stage)
{
    double now = rams_now();
    t->seconds[stage] += now - t->mark;
    t->mark = now;
}

const char *rams_stage_name(rams_stage stage)
{
    static const char *const names[RAMS_STAGE_COUNT] = {"patch embedding", "blocks",  "rollout",
                                                        "DPPM and crop",   "scale 2", "head"};
    return (unsigned)stage < RAMS_STAGE_COUNT ? names[stage] : "unknown";
}
