/* vml-manager-sanlock.c: the Manager's door to sanlock — the only manager
 * file that includes vml-sanlock.h. It holds the watch on the local sanlock
 * daemon, the holds that start-up finds in it, and the placing of a new or
 * looked-up lease on storage (an explicit location, or the lockspace's
 * resource index). Below it only vml-manager-tree.c.
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

#include "vml-error.h"
#include "vml-holder.h"
#include "vml-log.h"
#include "vml-manager-private.h"
#include "vml-sanlock.h"

#define PROBE_INTERVAL_S 2

/* The areas the manager checks against (vml-manager-private.h) are
 * sanlock's: 1 MiB-aligned, a lockspace and its index three of them. */
G_STATIC_ASSERT (MANAGER_LEASE_AREA_SIZE == VML_SANLOCK_ALIGN);
G_STATIC_ASSERT (MANAGER_LOCKSPACE_AREA_SIZE == 3 * VML_SANLOCK_ALIGN);

/* ---------------------------------------------------------------------- */
/* The daemon's watch                                                     */

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

  vml_log (G_LOG_LEVEL_WARNING, &(VmlLogAbout){ .message_id = VML_MSGID_SANLOCK_GONE },
           "The sanlock daemon is gone (%s); every lockspace is lost until it runs again", why);
  for (guint i = 0; i < names->len; i++)
    vml_lockspace_mark_lost_with_daemon (g_hash_table_lookup (self->lockspaces, names->pdata[i]),
                                         error);
}

/* The daemon is back: it knows none of our lockspaces; join each again.
 * The leases lost with the old daemon stay lost (Lost was said). */
static void
sanlock_back (VmlManager *self)
{
  g_autoptr(GPtrArray) names = manager_sorted_lockspace_names (self);

  vml_log (G_LOG_LEVEL_MESSAGE, &(VmlLogAbout){ .message_id = VML_MSGID_SANLOCK_BACK },
           "The sanlock daemon answers again; joining the lockspaces again");
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

/* Holders saw the daemon go (their connections ended) although the probe
 * never did: it was back within one probe interval (a quick restart). The
 * new daemon knows none of the lockspaces those losses took with them. */
static void
rejoin_lost_with_daemon (VmlManager *self)
{
  g_autoptr(GPtrArray) names = manager_sorted_lockspace_names (self);

  for (guint i = 0; i < names->len; i++)
    {
      VmlLockspace *ls = g_hash_table_lookup (self->lockspaces, names->pdata[i]);

      if (!vml_lockspace_lost_with_daemon (ls) ||
          g_hash_table_contains (self->rejoining, names->pdata[i]))
        continue;
      vml_log_lockspace (G_LOG_LEVEL_MESSAGE, names->pdata[i], VML_MSGID_SANLOCK_BACK,
                         "Lockspace %s was lost with the sanlock daemon, which answers again "
                         "(it came back within %d s); joining it again",
                         (const char *) names->pdata[i], PROBE_INTERVAL_S);
      g_hash_table_add (self->rejoining, g_strdup (names->pdata[i]));
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
    {
      rejoin_lost_with_daemon (self);
      rejoin_pending (self);
    }
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
manager_watch_sanlock (VmlManager *self)
{
  g_autoptr(GError) error = NULL;
  gboolean running = vml_sanlock_ping (&error);

  if (!running)
    vml_log (G_LOG_LEVEL_WARNING, &(VmlLogAbout){ .message_id = VML_MSGID_SANLOCK_GONE },
             "%s; lockspaces cannot be joined until it runs", error->message);
  set_running (self, running);
  self->rejoining = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->probe_id = g_timeout_add_seconds (PROBE_INTERVAL_S, on_probe_due, self);
}

/* ---------------------------------------------------------------------- */
/* Holds found at start-up                                                */

static void
hold_free (ManagerHold *hold)
{
  g_free (hold->uuid);
  g_free (hold->lockspace);
  g_free (hold->path);
  g_free (hold);
}

static ManagerHold *
hold_new (pid_t pid, VmlSanlockHeld *held)
{
  ManagerHold *hold = g_new0 (ManagerHold, 1);

  hold->pid = pid;
  hold->start_time = vml_process_start_time (pid);
  hold->uuid = g_steal_pointer (&held->name);
  hold->lockspace = g_steal_pointer (&held->lockspace);
  hold->path = g_steal_pointer (&held->path);
  hold->offset = held->offset;
  hold->shared = held->shared;
  return hold;
}

static void
add_holds_of (GHashTable *found, pid_t pid, GPtrArray *resources)
{
  for (guint i = 0; i < resources->len; i++)
    {
      VmlSanlockHeld *held = g_ptr_array_index (resources, i);
      ManagerHold *first;

      /* the hand-off markers ("x-<uuid>") go with their lease's holder */
      if (!g_uuid_string_is_valid (held->name))
        continue;
      first = g_hash_table_lookup (found, held->name);
      if (first != NULL)
        {
          vml_log (G_LOG_LEVEL_WARNING,
                   &(VmlLogAbout){ .uuid = held->name, .lockspace = held->lockspace,
                                   .holder_pid = pid },
                   "Holders %d and %d both hold lease %s on this host; keeping the first",
                   (int) first->pid, (int) pid, held->name);
          continue;
        }
      first = hold_new (pid, held);
      g_hash_table_insert (found, first->uuid, first);
    }
}

GHashTable *
manager_sanlock_find_holds (void)
{
  g_autoptr(GArray) pids = vml_holder_find_running ();
  GHashTable *found = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                             (GDestroyNotify) hold_free);

  for (guint i = 0; i < pids->len; i++)
    {
      pid_t pid = g_array_index (pids, pid_t, i);
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) resources = vml_sanlock_holder_resources (pid, &error);

      if (resources == NULL)
        vml_log (G_LOG_LEVEL_DEBUG, &(VmlLogAbout){ .holder_pid = pid },
                 "Cannot look at holder %d: %s", (int) pid, error->message);
      else
        add_holds_of (found, pid, resources);
    }
  return found;
}

/* ---------------------------------------------------------------------- */
/* Leases on storage                                                      */

gboolean
manager_sanlock_place_lease (VmlLockspace *ls, const char *uuid, const char *path,
                             guint64 offset, gboolean create, GError **error)
{
  g_autofree char *found_ls = NULL, *found_name = NULL;
  VmlSanlockResource res = { vml_lockspace_get_name (ls), uuid, path, offset,
                             vml_lockspace_sector_size_at (ls, path) };
  GError *local_error = NULL;

  if (vml_sanlock_resource_read_name (path, offset, &found_ls, &found_name, &local_error))
    {
      if (g_strcmp0 (found_ls, res.lockspace) != 0 || g_strcmp0 (found_name, uuid) != 0)
        {
          g_set_error (error, VML_ERROR, VML_ERROR_EXISTS,
                       "%s offset %" G_GUINT64_FORMAT " already holds the lease '%s' of "
                       "lockspace '%s'; choose another offset", path, offset,
                       found_name, found_ls);
          return FALSE;
        }
      return TRUE;
    }
  if (!create || !g_error_matches (local_error, VML_ERROR, VML_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  g_clear_error (&local_error);
  return vml_lockspace_check_lease_storage (ls, path, error) &&
         vml_sanlock_resource_init (&res, error);
}

gboolean
manager_sanlock_index_find (VmlLockspace *ls, const char *uuid, guint64 *offset,
                            GError **error)
{
  VmlSanlockLockspace spec;

  vml_lockspace_get_spec (ls, &spec);
  return vml_sanlock_index_lookup (&spec, uuid, offset, error);
}

/* Under the index lock: sanlock's index would accept a second entry of the
 * same name, and another host may be creating the same lease right now. */
gboolean
manager_sanlock_index_find_or_add (VmlLockspace *ls, const char *uuid, guint64 *offset,
                                   GError **error)
{
  VmlSanlockLockspace spec;
  GError *local_error = NULL;

  vml_lockspace_get_spec (ls, &spec);
  if (vml_sanlock_index_lookup (&spec, uuid, offset, &local_error))
    return TRUE;
  if (!g_error_matches (local_error, VML_ERROR, VML_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  g_clear_error (&local_error);
  return vml_sanlock_index_create (&spec, uuid, offset, error);
}
