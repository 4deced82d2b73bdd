/* vml-read-pool.h: the worker threads for reads that anyone may ask for
 * (GetLease's index lookups, Inquire's storage reads). They never take a
 * thread of GTask's shared pool, where every state-changing operation
 * (Acquire, Release, Transfer, CreateLease, ...) runs its sanlock work: a
 * flood of reads queues here, behind VML_READ_THREADS threads, and the
 * state-changing work never waits behind it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VML_READ_THREADS 2

/* Like g_task_run_in_thread (@task, @func), in the read pool. Takes a
 * reference on @task until @func returns. */
void vml_read_pool_run (GTask *task, GTaskThreadFunc func);

G_END_DECLS
