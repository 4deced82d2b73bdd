/* vml-listener.c: see vml-listener.h. */
#include "config.h"

#include <gio/gio.h>
#include <glib-unix.h>

#include "vml-error.h"
#include "vml-listener.h"

struct _VmlListener {
  char                  *lockspace;
  int                    fd;          /* -1 once sanlock ended it */
  GSource               *watch;
  VmlSanlockDaemonId     daemon;      /* who served it; pid 0 if unknown */
  VmlListenerMessageFunc on_message;
  VmlListenerEndedFunc   on_ended;
  gpointer               user_data;
};

static void
stop_watching (VmlListener *self)
{
  if (self->watch != NULL)
    {
      g_source_destroy (self->watch);
      g_clear_pointer (&self->watch, g_source_unref);
    }
  vml_sanlock_event_close (self->fd, self->lockspace);
  self->fd = -1;
}

static gboolean
on_readable (int fd, GIOCondition condition, gpointer user_data)
{
  VmlListener *self = user_data;
  g_autoptr(GError) error = NULL;
  VmlSanlockEvent event;
  VmlSanlockDaemonId daemon;

  while (vml_sanlock_event_read (fd, &event, &error))
    self->on_message (&event, self->user_data);
  if (error == NULL)
    return G_SOURCE_CONTINUE;
  stop_watching (self);
  daemon = self->daemon;
  /* Last: the owner may free @self here. */
  self->on_ended (&daemon, error->message, self->user_data);
  return G_SOURCE_REMOVE;
}

VmlListener *
vml_listener_new (const char *lockspace, int fd, VmlListenerMessageFunc on_message,
                  VmlListenerEndedFunc on_ended, gpointer user_data)
{
  VmlListener *self = g_new0 (VmlListener, 1);

  self->lockspace = g_strdup (lockspace);
  self->fd = fd;
  self->on_message = on_message;
  self->on_ended = on_ended;
  self->user_data = user_data;
  if (!vml_sanlock_event_daemon_of (fd, &self->daemon))
    self->daemon.pid = 0;
  self->watch = g_unix_fd_source_new (fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (self->watch, G_SOURCE_FUNC (on_readable), self, NULL);
  g_source_attach (self->watch, g_main_context_get_thread_default ());
  return self;
}

void
vml_listener_free (VmlListener *self)
{
  if (self == NULL)
    return;
  stop_watching (self);
  g_free (self->lockspace);
  g_free (self);
}

/* ---------------------------------------------------------------------- */
/* After a listener ended                                                 */

typedef struct {
  char              *lockspace;
  VmlSanlockDaemonId daemon;   /* the one that served the ended listener */
  int                fd;
  GError            *error;
} Reopen;

static void
reopen_free (Reopen *reopen)
{
  if (reopen->fd >= 0)
    vml_sanlock_event_close (reopen->fd, reopen->lockspace);
  g_free (reopen->lockspace);
  g_clear_error (&reopen->error);
  g_free (reopen);
}

/* A killed daemon closes its connections before the kernel counts it as
 * exited: give the old one a moment to be gone. */
static gboolean
daemon_exits (const VmlSanlockDaemonId *daemon)
{
  if (daemon->pid <= 0)
    return FALSE;
  for (guint i = 0; i < 20 && vml_sanlock_daemon_alive (daemon); i++)
    g_usleep (50 * 1000);
  return !vml_sanlock_daemon_alive (daemon);
}

static void
reopen_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Reopen *reopen = task_data;

  reopen->fd = vml_sanlock_event_open (reopen->lockspace, &reopen->error);
  if (reopen->fd >= 0)
    g_task_return_int (task, VML_LISTENER_REOPENED);
  else if (!vml_sanlock_ping (NULL))
    g_task_return_int (task, VML_LISTENER_DAEMON_GONE);
  else if (g_error_matches (reopen->error, VML_ERROR, VML_ERROR_LOCKSPACE_NOT_JOINED))
    g_task_return_int (task, daemon_exits (&reopen->daemon) ? VML_LISTENER_DAEMON_GONE
                                                              : VML_LISTENER_LEFT);
  else
    g_task_return_int (task, VML_LISTENER_NONE);
}

void
vml_listener_reopen_async (const char *lockspace, const VmlSanlockDaemonId *daemon,
                           GObject *source_object, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (source_object, NULL, callback, user_data);
  Reopen *reopen = g_new0 (Reopen, 1);

  reopen->lockspace = g_strdup (lockspace);
  reopen->daemon = *daemon;
  reopen->fd = -1;
  g_task_set_task_data (task, reopen, (GDestroyNotify) reopen_free);
  g_task_run_in_thread (task, reopen_thread);
}

VmlListenerReopen
vml_listener_reopen_finish (GAsyncResult *result, int *fd, GError **error)
{
  Reopen *reopen = g_task_get_task_data (G_TASK (result));
  VmlListenerReopen outcome = (VmlListenerReopen) g_task_propagate_int (G_TASK (result), NULL);

  *fd = g_steal_fd (&reopen->fd);
  if (reopen->error != NULL)
    g_propagate_error (error, g_steal_pointer (&reopen->error));
  return outcome;
}
