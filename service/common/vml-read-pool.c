/* vml-read-pool.c: see vml-read-pool.h. GTask lets a task return from any
 * thread (its callback runs on the task's main context), so a plain
 * GThreadPool can run a GTask's thread function. */
#include "config.h"

#include "vml-read-pool.h"

typedef struct {
  GTask           *task;
  GTaskThreadFunc  func;
} ReadJob;

static gboolean
drop_task (gpointer task)
{
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

/* Our reference goes on the task's own main context, after its callback
 * (queued there by the return, at the same priority): the task, and its
 * data with it, are then freed on the main loop, never here; the data
 * (GetLease's) touches the manager's tables. */
static void
run_job (gpointer job_data, gpointer pool_data)
{
  ReadJob *job = job_data;

  job->func (job->task, g_task_get_source_object (job->task), g_task_get_task_data (job->task),
             g_task_get_cancellable (job->task));
  g_main_context_invoke_full (g_task_get_context (job->task), G_PRIORITY_DEFAULT, drop_task,
                              job->task, NULL);
  g_free (job);
}

static GThreadPool *
read_pool (void)
{
  static GThreadPool *pool;

  if (g_once_init_enter (&pool))
    {
      g_autoptr(GError) error = NULL;
      GThreadPool *created = g_thread_pool_new (run_job, NULL, VML_READ_THREADS, FALSE, &error);

      /* Non-exclusive pools are made without starting a thread: no error. */
      g_assert_no_error (error);
      g_once_init_leave (&pool, created);
    }
  return pool;
}

void
vml_read_pool_run (GTask *task, GTaskThreadFunc func)
{
  ReadJob *job = g_new0 (ReadJob, 1);

  job->task = g_object_ref (task);
  job->func = func;
  g_thread_pool_push (read_pool (), job, NULL);
}
