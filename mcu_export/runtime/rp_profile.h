/*
 * rp_profile.h - optional per-layer profiling hooks (compile with -DRP_PROFILE).
 *
 * With RP_PROFILE defined, the generated model (model.c) and the stream scheduler
 * (rp_stream.c) call rp_profile_event() around each unit of work: every whole-map step, each
 * stream stage's steps, the stream itself, the output op and the tensor hook. The application
 * implements rp_profile_event (the generated harness does, with an exact instruction clock in
 * QEMU); begin / end events nest. Without RP_PROFILE the macros expand to nothing: the default
 * build's code is unchanged.
 *
 * Ids (mcu_export/profile.py reads them from this file):
 */
#ifndef RP_PROFILE_H
#define RP_PROFILE_H

#include <stdint.h>

#define RP_PROFILE_ID_RUN 0     /* <prefix>_run's own code (set by the caller around the run) */
#define RP_PROFILE_ID_STREAM 1  /* rp_stream_run outside its stages: camera rows, scheduling */
#define RP_PROFILE_ID_OUTPUT 2  /* the output op: begin, consume calls, finish */
#define RP_PROFILE_ID_REPORT 3  /* the caller's tensor hook (the harness's checksums, prints) */
#define RP_PROFILE_STEP_BASE 100    /* whole-map step i (1-based): 100 + i */
#define RP_PROFILE_STAGE_BASE 1000  /* stream stage i (0-based): 1000 + i */
#define RP_PROFILE_ID_STEP(i) (RP_PROFILE_STEP_BASE + (i))
#define RP_PROFILE_ID_STAGE(i) (RP_PROFILE_STAGE_BASE + (i))

#if defined(RP_PROFILE)
/** @brief A begin (begin = 1) or end (begin = 0) event of the unit of work id; implemented by
 *  the application. */
void rp_profile_event(int32_t id, int32_t begin);
#define RP_PROFILE_BEGIN(id) rp_profile_event((id), 1)
#define RP_PROFILE_END(id) rp_profile_event((id), 0)
#else
#define RP_PROFILE_BEGIN(id) ((void)0)
#define RP_PROFILE_END(id) ((void)0)
#endif

#endif /* RP_PROFILE_H */
