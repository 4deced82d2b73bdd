/* vml-read-pool.c: see vml-read-pool.h. GTask lets a task return from any
 * thread (its callback runs on the task's main context), so a plain
 * GThreadPool can run a GTask's thread function. */
#include "config.h"

#include "vml-read-pool.h"

typedef struct {
  GTask           *task;
  GTaskThreadFunc  func;
} ReadJob;

static void
run_job (gpointer job_data, gpointer pool_data)
{
  ReadJob *job = job_data;

  job->func (job->task, g_task_get_source_object (job->task), g_task_get_task_data (job->task),
             g_task_get_cancellable (job->task));
  g_object_unref (job->task);
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
