/* vml-manager-sanlock.c: the Manager's watch on the local sanlock daemon.
 *
 * A sanlock daemon that dies (killed, crashed, stopped) takes every host
 * lease and every lease of this host with it: the lockspaces are lost, and
 * nothing works until it runs again. Its holders see their connections end
 * and fence their VMs themselves (vmlease-holder.c daemon_gone()); here
 * vmleased notices too, says so (SanlockDaemon "gone", every lockspace
 * "lost" with an error that names the daemon), and joins its lockspaces
 * again once the daemon answers. The probe is one short command to the
 * daemon (sanlock_version) in a worker thread, never on the main loop: a
 * daemon that hangs holds a thread, not vmleased. */
#include "config.h"

#include "vml-log.h"
#include "vml-manager-private.h"

#define PROBE_INTERVAL_S 2

static void
probe_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GError *error = NULL;

  if (vml_sanlock_ping (&error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
set_running (VmlManager *self, gboolean running)
{
  self->sanlock_running = running;
  vml_dbus_manager_set_sanlock_daemon (self->iface, running ? "running" : "gone");
}

/* Every lockspace goes with the daemon (one already lost stays as it is). */
static void
sanlock_gone (VmlManager *self, const char *why)
{
  g_autofree char *error = g_strdup_printf ("the sanlock daemon is gone: %s", why);
  g_autoptr(GPtrArray) names = manager_sorted_lockspace_names (self);

  g_warning ("The sanlock daemon is gone (%s); every lockspace is lost until it runs again",
             why);
  for (guint i = 0; i < names->len; i++)
    vml_lockspace_mark_lost (g_hash_table_lookup (self->lockspaces, names->pdata[i]), error);
}

/* The daemon is back: it knows none of our lockspaces; join each again.
 * The leases lost with the old daemon stay lost (Lost was said). */
static void
sanlock_back (VmlManager *self)
{
  g_autoptr(GPtrArray) names = manager_sorted_lockspace_names (self);

  g_message ("The sanlock daemon answers again; joining the lockspaces again");
  for (guint i = 0; i < names->len; i++)
    {
      VmlLockspace *ls = g_hash_table_lookup (self->lockspaces, names->pdata[i]);

      if (vml_lockspace_get_state (ls) == VML_LOCKSPACE_LOST)
        g_hash_table_add (self->rejoining, g_strdup (names->pdata[i]));
    }
}

/* A join right after the daemon came back can fail (an I/O timeout while
 * it starts): try each again at every probe until it is joined, or gone
 * (RemoveLockspace). Only those the daemon's return gave back: a lockspace
 * lost to failing storage is left for AddLockspace. */
static void
rejoin_pending (VmlManager *self)
{
  GHashTableIter iter;
  const char *name;

  g_hash_table_iter_init (&iter, self->rejoining);
  while (g_hash_table_iter_next (&iter, (gpointer *) &name, NULL))
    {
      VmlLockspace *ls = g_hash_table_lookup (self->lockspaces, name);
      VmlLockspaceState state = ls ? vml_lockspace_get_state (ls) : VML_LOCKSPACE_REMOVED;

      if (state == VML_LOCKSPACE_LOST)
        manager_rejoin_lockspace (self, ls);
      else if (state != VML_LOCKSPACE_JOINING)
        g_hash_table_iter_remove (&iter);
    }
}

static void
on_probed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlManager *self = VML_MANAGER (source);
  g_autoptr(GError) error = NULL;
  gboolean running = g_task_propagate_boolean (G_TASK (result), &error);

  self->probing = FALSE;
  if (running != self->sanlock_running)
    {
      set_running (self, running);
      if (running)
        sanlock_back (self);
      else
        sanlock_gone (self, error->message);
    }
  if (running)
    rejoin_pending (self);
}

static gboolean
on_probe_due (gpointer user_data)
{
  VmlManager *self = VML_MANAGER (user_data);
  g_autoptr(GTask) task = NULL;

  if (self->probing)
    return G_SOURCE_CONTINUE;   /* the last one still waits for the daemon */
  self->probing = TRUE;
  task = g_task_new (self, NULL, on_probed, NULL);
  g_task_run_in_thread (task, probe_thread);
  return G_SOURCE_CONTINUE;
}

void
manager_watch_sanlock (VmlManager *self, gboolean running)
{
  set_running (self, running);
  self->rejoining = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->probe_id = g_timeout_add_seconds (PROBE_INTERVAL_S, on_probe_due, self);
}
