/* vml-listener.c: see vml-listener.h. */
#include "config.h"

#include <glib-unix.h>

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
