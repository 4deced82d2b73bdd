/* vml-read-pool.h: the worker threads for reads that anyone may ask for
 * (GetLease's index lookups, Inquire's storage reads). They never take a
 * thread of GTask's shared pool, where every state-changing operation
 * (Acquire, Release, Transfer, CreateLease, ...) runs its sanlock work: a
 * flood of reads queues here, behind VML_READ_THREADS threads, and the
 * state-changing work never waits behind it. (How long a flood may be is
 * bounded by the authority's calls in flight per uid.) */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* One: the reads' storage I/O then never runs beside itself, and an
 * Acquire's competes with at most one read (bench/readers: flooded/idle
 * 1.55-1.58 with one thread, 1.93-2.10 with two; docs/benchmarks.md). The
 * reads themselves are slower under a flood, which is the point. */
#define VML_READ_THREADS 1

/* Like g_task_run_in_thread (@task, @func), in the read pool. Takes a
 * reference on @task until @func returns. */
void vml_read_pool_run (GTask *task, GTaskThreadFunc func);

G_END_DECLS
