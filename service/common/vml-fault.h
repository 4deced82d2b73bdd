/* vml-fault.h: crash points for tests. A test that must show what a
 * restart finds after vmleased died at one exact line of the lease path
 * (between writing a record and the sanlock call it announces, say) starts
 * vmleased with VMLEASE_CRASH_AT=<point>; at that point vmleased kills
 * itself with SIGKILL, as a crash or the OOM killer would. Without the
 * variable (always, outside tests) a point costs one pointer comparison. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Dies by SIGKILL when VMLEASE_CRASH_AT names @point; returns otherwise.
 * @point is a short dotted name, e.g. "disks.before-acquire"; every point
 * is listed in docs/decisions.md "Crash points". */
void vml_crash_point (const char *point);

G_END_DECLS
