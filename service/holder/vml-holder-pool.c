/* vml-holder-pool.c: see vml-holder-pool.h.
 *
 * A spare holds nothing. If vmleased dies, its spares see their stdin end
 * and exit, so spares never outlive the daemon that started them. A spare
 * that dies early (the sanlock daemon restarted) is dropped and replaced.
 * Release ends a lease's holder, so every Acquire uses up a spare and the
 * pool starts its replacement at once, in a worker thread, while that
 * Acquire runs. Only a holder that never got its lease (the Acquire
 * failed) comes back as a spare. When starting one fails (sanlock not
 * running), the pool tries again later rather than spinning; so it does
 * while the host is at its ceiling on lease holders, which spares count
 * against (vml-holder.h): a spare starts only where it leaves a place
 * free, so an Acquire never loses the last place to it. */
#include "config.h"

#include "vml-holder-pool.h"
#include "vml-log.h"

#define RETRY_SECONDS   5

struct _VmlHolderPool {
  GObject    parent_instance;
  char      *holder_path;
  guint      spares_wanted;
  GPtrArray *spares;        /* of VmlHolder, each watched */
  gboolean   spawning;
  guint      retry_id;
};

G_DEFINE_TYPE (VmlHolderPool, vml_holder_pool, G_TYPE_OBJECT)

static void
vml_holder_pool_dispose (GObject *object)
{
  VmlHolderPool *self = VML_HOLDER_POOL (object);

  g_clear_handle_id (&self->retry_id, g_source_remove);
  g_clear_pointer (&self->spares, g_ptr_array_unref);
  G_OBJECT_CLASS (vml_holder_pool_parent_class)->dispose (object);
}

static void
vml_holder_pool_finalize (GObject *object)
{
  g_free (VML_HOLDER_POOL (object)->holder_path);
  G_OBJECT_CLASS (vml_holder_pool_parent_class)->finalize (object);
}

static void
vml_holder_pool_class_init (VmlHolderPoolClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vml_holder_pool_dispose;
  object_class->finalize = vml_holder_pool_finalize;
}

static void
drop_spare (VmlHolderPool *self, VmlHolder *holder)
{
  g_signal_handlers_disconnect_by_data (holder, self);
  g_ptr_array_remove (self->spares, holder);
}

static void on_spare_exited (VmlHolder *holder, int status, gpointer user_data);

static void
vml_holder_pool_init (VmlHolderPool *self)
{
  self->spares = g_ptr_array_new_with_free_func (g_object_unref);
}

VmlHolderPool *
vml_holder_pool_new (const char *holder_path, guint spares)
{
  VmlHolderPool *self = g_object_new (VML_TYPE_HOLDER_POOL, NULL);

  self->holder_path = g_strdup (holder_path);
  self->spares_wanted = spares;
  return self;
}

const char *
vml_holder_pool_get_holder_path (VmlHolderPool *self)
{
  return self->holder_path;
}

static void
keep_spare (VmlHolderPool *self, VmlHolder *holder)
{
  g_signal_connect_object (holder, "exited", G_CALLBACK (on_spare_exited), self, 0);
  vml_holder_watch (holder);
  g_ptr_array_add (self->spares, g_object_ref (holder));
}

static void
on_spare_exited (VmlHolder *holder, int status, gpointer user_data)
{
  VmlHolderPool *self = VML_HOLDER_POOL (user_data);

  vml_log (G_LOG_LEVEL_DEBUG, &(VmlLogAbout){ .holder_pid = vml_holder_get_pid (holder) },
           "Spare holder %d exited; replacing it", (int) vml_holder_get_pid (holder));
  drop_spare (self, holder);
  vml_holder_pool_fill (self);
}

static void
spawn_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlHolderPool *self = VML_HOLDER_POOL (source);
  GError *error = NULL;
  VmlHolder *holder = vml_holder_spawn (self->holder_path, VML_HOLDER_FOR_SPARE, &error);

  if (holder == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, holder, g_object_unref);
}

static gboolean
retry_fill (gpointer user_data)
{
  VmlHolderPool *self = VML_HOLDER_POOL (user_data);

  self->retry_id = 0;
  vml_holder_pool_fill (self);
  return G_SOURCE_REMOVE;
}

static void
on_spawned (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlHolderPool *self = VML_HOLDER_POOL (source);
  g_autoptr(GError) error = NULL;
  g_autoptr(VmlHolder) holder = g_task_propagate_pointer (G_TASK (result), &error);

  self->spawning = FALSE;
  if (holder == NULL)
    {
      vml_log (G_LOG_LEVEL_DEBUG, &(VmlLogAbout){ 0 },
               "No spare holder for now (%s); trying again in %d s", error->message,
               RETRY_SECONDS);
      if (self->retry_id == 0)
        self->retry_id = g_timeout_add_seconds (RETRY_SECONDS, retry_fill, self);
      return;
    }
  keep_spare (self, holder);
  vml_holder_pool_fill (self);
}

void
vml_holder_pool_fill (VmlHolderPool *self)
{
  g_autoptr(GTask) task = NULL;

  if (self->spawning || self->retry_id != 0 || self->spares->len >= self->spares_wanted)
    return;
  /* At the ceiling on lease holders: look again later, quietly. */
  if (!vml_holder_fits (VML_HOLDER_FOR_SPARE))
    {
      self->retry_id = g_timeout_add_seconds (RETRY_SECONDS, retry_fill, self);
      return;
    }
  self->spawning = TRUE;
  task = g_task_new (self, NULL, on_spawned, NULL);
  g_task_run_in_thread (task, spawn_thread);
}

VmlHolder *
vml_holder_pool_take (VmlHolderPool *self)
{
  g_autoptr(VmlHolder) holder = NULL;

  while (self->spares->len > 0 && holder == NULL)
    {
      VmlHolder *spare = g_object_ref (g_ptr_array_index (self->spares, 0));

      drop_spare (self, spare);
      if (vml_holder_is_alive (spare))
        holder = spare;
      else
        g_object_unref (spare);
    }
  vml_holder_pool_fill (self);
  return g_steal_pointer (&holder);
}

void
vml_holder_pool_give (VmlHolderPool *self, VmlHolder *holder)
{
  if (self->spares->len < self->spares_wanted && vml_holder_unclaim (holder))
    keep_spare (self, holder);
  else
    vml_holder_terminate (holder);
}
