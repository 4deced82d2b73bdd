/* vml-lockspace-index.c: a lockspace's resource index, updated under its
 * lock (vml_lockspace_run_locked_index_async in vml-lockspace.h).
 *
 * The lock is a sanlock lease ("vmlease-index-lock") held by a short-lived
 * vmlease-holder. Another host holds it for milliseconds, but one that died
 * holding it keeps it until sanlock sees that host dead (8 × io_timeout +
 * the watchdog's 60 s): so waiting for it is a main-loop timer between
 * single tries, each a short worker job, never a sleep in a pool thread.
 * Updates on this host wait their turn in the lockspace's queue. */
#include "config.h"

#include "vml-error.h"
#include "vml-holder.h"
#include "vml-lockspace.h"
#include "vml-sanlock.h"

#define INDEX_LOCK_WAIT_US  (90 * G_USEC_PER_SEC)

typedef struct {
  char        *holder_path;
  VmlIndexFunc func;
  gpointer     data;
  VmlHolder   *holder;      /* holds (or tries for) the lock */
  guint64      lock_offset;
  gboolean     unlocked;    /* the lockspace has no lock: run without one */
  gboolean     busy;        /* the last try found the lock held elsewhere */
  gint64       deadline;
  GTaskThreadFunc stage;    /* the one running or last run */
} IndexRun;

static void
index_run_free (IndexRun *run)
{
  if (run->holder != NULL)
    vml_holder_stop (run->holder, 1000);
  g_clear_object (&run->holder);
  g_free (run->holder_path);
  g_free (run);
}

static void
lock_resource (VmlLockspace *ls, IndexRun *run, VmlSanlockResource *lock)
{
  VmlSanlockLockspace spec;

  vml_lockspace_get_spec (ls, &spec);
  lock->lockspace = spec.name;
  lock->name = VML_INDEX_LOCK_NAME;
  lock->path = spec.path;
  lock->offset = run->lock_offset;
  lock->sector_size = 0;
}

/* thread: where the lock is, and a holder to take it */
static void
prepare_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLockspace *ls = VML_LOCKSPACE (source);
  IndexRun *run = task_data;
  g_autoptr(GError) lookup_error = NULL;
  GError *error = NULL;
  VmlSanlockLockspace spec;

  vml_lockspace_get_spec (ls, &spec);
  if (!vml_sanlock_index_lookup (&spec, VML_INDEX_LOCK_NAME, &run->lock_offset, &lookup_error))
    {
      /* Formatted by something other than vmleased: no lock to take. */
      vml_lockspace_log (ls, G_LOG_LEVEL_WARNING, NULL,
                         "Lockspace %s has no %s (%s); updating its index without "
                         "locking out other hosts", spec.name, VML_INDEX_LOCK_NAME,
                         lookup_error->message);
      run->unlocked = TRUE;
      g_task_return_boolean (task, TRUE);
      return;
    }
  run->holder = vml_holder_spawn (run->holder_path, VML_HOLDER_FOR_LOCK, &error);
  if (run->holder == NULL || !vml_holder_claim_lock (run->holder, VML_INDEX_LOCK_NAME, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/* thread: one try for the lock */
static void
try_lock_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  IndexRun *run = task_data;
  VmlSanlockResource lock;
  GError *error = NULL;

  lock_resource (VML_LOCKSPACE (source), run, &lock);
  run->busy = FALSE;
  if (vml_sanlock_acquire (&lock, vml_holder_get_pid (run->holder), FALSE, 0, NULL, &error))
    g_task_return_boolean (task, TRUE);
  else if (g_error_matches (error, VML_ERROR, VML_ERROR_BUSY) &&
           g_get_monotonic_time () < run->deadline)
    {
      run->busy = TRUE;
      g_error_free (error);
      g_task_return_boolean (task, TRUE);
    }
  else
    {
      g_prefix_error (&error, "cannot lock the resource index of lockspace '%s': ",
                      lock.lockspace);
      g_task_return_error (task, error);
    }
}

/* thread: the update, then the lock let go */
static void
work_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLockspace *ls = VML_LOCKSPACE (source);
  IndexRun *run = task_data;
  GError *error = NULL;
  gboolean ok = run->func (ls, run->data, &error);

  if (run->holder != NULL)
    {
      VmlSanlockResource lock;

      /* Ending the holder releases the lock even if the release fails. */
      lock_resource (ls, run, &lock);
      vml_sanlock_release (&lock, vml_holder_get_pid (run->holder), NULL);
      vml_holder_stop (run->holder, 1000);
      g_clear_object (&run->holder);
    }
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void run_head (VmlLockspace *ls);
static void run_stage (GTask *run_task, GTaskThreadFunc stage);

/* The run at the head of the queue is over: answer it, start the next. */
static void
finish_run (GTask *run_task, GError *error)
{
  VmlLockspace *ls = VML_LOCKSPACE (g_task_get_source_object (run_task));
  GQueue *queue = vml_lockspace_index_queue (ls);

  g_queue_pop_head (queue);
  if (error != NULL)
    g_task_return_error (run_task, error);
  else
    g_task_return_boolean (run_task, TRUE);
  g_object_unref (run_task);
  run_head (ls);
}

static gboolean
try_again (gpointer user_data)
{
  run_stage (G_TASK (user_data), try_lock_thread);
  return G_SOURCE_REMOVE;
}

static void
on_stage_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *run_task = G_TASK (user_data);
  IndexRun *run = g_task_get_task_data (run_task);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    finish_run (run_task, error);
  else if (run->stage == work_thread)
    finish_run (run_task, NULL);
  else if (run->stage == prepare_thread)
    run_stage (run_task, run->unlocked ? work_thread : try_lock_thread);
  else if (run->busy)
    /* Another host is updating the index; they take milliseconds. */
    g_timeout_add (g_random_int_range (10, 60), try_again, run_task);
  else
    run_stage (run_task, work_thread);   /* locked */
}

static void
run_stage (GTask *run_task, GTaskThreadFunc stage)
{
  IndexRun *run = g_task_get_task_data (run_task);
  g_autoptr(GTask) task = g_task_new (g_task_get_source_object (run_task), NULL, on_stage_done,
                                      run_task);

  run->stage = stage;
  g_task_set_task_data (task, run, NULL);
  g_task_run_in_thread (task, stage);
}

static void
run_head (VmlLockspace *ls)
{
  GTask *run_task = g_queue_peek_head (vml_lockspace_index_queue (ls));

  if (run_task != NULL)
    {
      IndexRun *run = g_task_get_task_data (run_task);

      run->deadline = g_get_monotonic_time () + INDEX_LOCK_WAIT_US;
      run_stage (run_task, prepare_thread);
    }
}

void
vml_lockspace_run_locked_index_async (VmlLockspace        *self,
                                      const char          *holder_path,
                                      VmlIndexFunc         func,
                                      gpointer             data,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  GTask *run_task = g_task_new (self, NULL, callback, user_data);
  IndexRun *run = g_new0 (IndexRun, 1);
  GQueue *queue = vml_lockspace_index_queue (self);

  run->holder_path = g_strdup (holder_path);
  run->func = func;
  run->data = data;
  g_task_set_task_data (run_task, run, (GDestroyNotify) index_run_free);
  g_queue_push_tail (queue, run_task);
  if (g_queue_get_length (queue) == 1)
    run_head (self);
}

gboolean
vml_lockspace_run_locked_index_finish (VmlLockspace *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---------------------------------------------------------------------- */
/* Find or add names                                                      */

typedef struct {
  GPtrArray *names;    /* of char *, owned */
  GArray    *offsets;  /* guint64, in the order of names */
} FindOrAdd;

static void
find_or_add_free (FindOrAdd *f)
{
  g_ptr_array_unref (f->names);
  g_array_unref (f->offsets);
  g_free (f);
}

/* thread, under the index lock: each name found, or added (sanlock's index
 * takes a name twice, hence the lock around look-then-add). */
static gboolean
find_or_add_locked (VmlLockspace *ls, gpointer user_data, GError **error)
{
  FindOrAdd *f = user_data;
  VmlSanlockLockspace spec;

  vml_lockspace_get_spec (ls, &spec);
  g_array_set_size (f->offsets, 0);
  for (guint i = 0; i < f->names->len; i++)
    {
      const char *name = f->names->pdata[i];
      g_autoptr(GError) local_error = NULL;
      guint64 offset = 0;

      if (!vml_sanlock_index_lookup (&spec, name, &offset, &local_error))
        {
          if (!g_error_matches (local_error, VML_ERROR, VML_ERROR_NOT_FOUND))
            {
              g_propagate_error (error, g_steal_pointer (&local_error));
              return FALSE;
            }
          if (!vml_sanlock_index_create (&spec, name, &offset, error))
            return FALSE;
        }
      g_array_append_val (f->offsets, offset);
    }
  return TRUE;
}

static void
on_found_or_added (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (vml_lockspace_run_locked_index_finish (VML_LOCKSPACE (source), result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
vml_lockspace_index_find_or_add_async (VmlLockspace        *self,
                                       const char          *holder_path,
                                       GPtrArray           *names,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  FindOrAdd *f = g_new0 (FindOrAdd, 1);

  f->names = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < names->len; i++)
    g_ptr_array_add (f->names, g_strdup (names->pdata[i]));
  f->offsets = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_task_set_task_data (task, f, (GDestroyNotify) find_or_add_free);
  vml_lockspace_run_locked_index_async (self, holder_path, find_or_add_locked, f,
                                        on_found_or_added, task);
}

GArray *
vml_lockspace_index_find_or_add_finish (VmlLockspace *self, GAsyncResult *result,
                                        GError **error)
{
  FindOrAdd *f = g_task_get_task_data (G_TASK (result));

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;
  return g_array_ref (f->offsets);
}
