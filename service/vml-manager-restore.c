/* vml-manager-restore.c: at start-up, the leases this host holds, found
 * again. The records in the state directory say what vmleased knew; the
 * sanlock daemon says what its clients hold now, and it wins: a lease held
 * by a vmlease-holder is adopted whether its record is there, damaged,
 * or names another process, so no lease is ever held here without an
 * object that shows it and can release it. */
#include "config.h"

#include "vml-holder.h"
#include "vml-lease.h"
#include "vml-log.h"
#include "vml-manager-private.h"
#include "vml-sanlock.h"

/* One VM lease that a vmlease-holder holds in this host's sanlock. */
typedef struct {
  pid_t           pid;
  guint64         start_time;
  VmlSanlockHeld *held;
} FoundHold;

static void
found_hold_free (FoundHold *found)
{
  vml_sanlock_held_free (found->held);
  g_free (found);
}

static void
add_holds_of (GHashTable *found, pid_t pid, GPtrArray *resources)
{
  for (guint i = 0; i < resources->len; i++)
    {
      VmlSanlockHeld *held = g_ptr_array_index (resources, i);
      FoundHold *hold;

      /* the hand-off markers ("x-<uuid>") go with their lease's holder */
      if (!g_uuid_string_is_valid (held->name))
        continue;
      if (g_hash_table_contains (found, held->name))
        {
          g_warning ("Holders %d and %d both hold lease %s on this host; keeping the first",
                     (int) ((FoundHold *) g_hash_table_lookup (found, held->name))->pid,
                     (int) pid, held->name);
          continue;
        }
      hold = g_new0 (FoundHold, 1);
      hold->pid = pid;
      hold->start_time = vml_process_start_time (pid);
      hold->held = g_ptr_array_steal_index (resources, i--);
      g_hash_table_insert (found, hold->held->name, hold);
    }
}

/* uuid → FoundHold, from every vmlease-holder that is a client of this
 * host's daemon (in a sandbox other hosts' holders are not). Daemon calls
 * only, no storage I/O: start-up may wait for them, as it does for the
 * daemon's ping. */
static GHashTable *
find_holds (void)
{
  g_autoptr(GArray) pids = vml_holder_find_running ();
  GHashTable *found = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                             (GDestroyNotify) found_hold_free);

  for (guint i = 0; i < pids->len; i++)
    {
      pid_t pid = g_array_index (pids, pid_t, i);
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) resources = vml_sanlock_holder_resources (pid, &error);

      if (resources == NULL)
        g_debug ("Cannot look at holder %d: %s", (int) pid, error->message);
      else
        add_holds_of (found, pid, resources);
    }
  return found;
}

/* Restores @lease: from sanlock's word when it holds the lease here, else
 * from its record alone. */
static void
restore (VmlLease *lease, GHashTable *found)
{
  FoundHold *hold = g_hash_table_lookup (found, vml_lease_get_uuid (lease));

  if (hold == NULL)
    {
      vml_lease_restore (lease);
      return;
    }
  vml_lease_restore_held_by (lease, hold->pid, hold->start_time, hold->held->shared);
  g_hash_table_remove (found, vml_lease_get_uuid (lease));
}

static void
load_remembered_leases (VmlManager *self, GHashTable *found)
{
  g_autoptr(GHashTable) records = vml_store_load_all (self->store, VML_RECORD_LEASE);
  GHashTableIter iter;
  const char *uuid;
  GKeyFile *record;

  g_hash_table_iter_init (&iter, records);
  while (g_hash_table_iter_next (&iter, (gpointer *) &uuid, (gpointer *) &record))
    {
      g_autofree char *ls_name = vml_lease_record_lockspace (record);
      VmlLockspace *ls = ls_name ? g_hash_table_lookup (self->lockspaces, ls_name) : NULL;
      g_autoptr(VmlLease) lease = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *file = g_strdup_printf ("%s/leases/%s.lease",
                                               vml_store_get_dir (self->store), uuid);

      if (ls_name == NULL)
        {
          g_warning ("Lease record %s is damaged (it names no lockspace) and was skipped", file);
          continue;
        }
      if (ls == NULL)
        {
          g_warning ("Lease record %s names lockspace '%s', which this host does not use; skipped",
                     file, ls_name);
          continue;
        }
      lease = vml_lease_new_from_record (&self->ctx, record, ls, &error);
      if (lease == NULL)
        {
          g_warning ("Lease record %s is damaged and was skipped: %s", file, error->message);
          continue;
        }
      manager_export_lease (self, lease);
      restore (lease, found);
    }
}

/* A lease held in a lockspace vmleased does not know: nobody could see or
 * release it, and other hosts could never have it. Its holder is asked to
 * stop; as for any revocation, it fences the VM first. */
static void
stop_unknown_holder (FoundHold *hold)
{
  g_autoptr(VmlHolder) holder = vml_holder_adopt (hold->pid, hold->start_time, NULL);

  vml_log_lease (G_LOG_LEVEL_WARNING, hold->held->name, hold->held->lockspace, NULL,
                 "Holder %d holds this lease in lockspace '%s', which this host does not use; "
                 "stopping it (it fences its VM first)", (int) hold->pid, hold->held->lockspace);
  if (holder != NULL)
    vml_holder_terminate (holder);
}

/* What sanlock holds that no usable record named: an object made from what
 * sanlock says (where the lease is, its mode), adopted. Its name, owner uid
 * and fence are in no record: the object shows none (uid 0: root and
 * .manage may release it); the holder still fences its VM as it was told at
 * the claim when the lease is revoked. */
static void
adopt_unrecorded (VmlManager *self, GHashTable *found)
{
  GHashTableIter iter;
  FoundHold *hold;

  g_hash_table_iter_init (&iter, found);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &hold))
    {
      VmlLockspace *ls = g_hash_table_lookup (self->lockspaces, hold->held->lockspace);
      g_autoptr(VmlLease) lease = NULL;

      if (ls == NULL || g_hash_table_contains (self->leases, hold->held->name))
        {
          stop_unknown_holder (hold);
          continue;
        }
      vml_log_lease (G_LOG_LEVEL_WARNING, hold->held->name, hold->held->lockspace, NULL,
                     "Holder %d holds this lease, but no usable record names it; adopting it "
                     "from what sanlock says", (int) hold->pid);
      lease = vml_lease_new (&self->ctx, hold->held->name, "", ls, hold->held->path,
                             hold->held->offset,
                             g_strcmp0 (hold->held->path, vml_lockspace_get_path (ls)) == 0);
      manager_export_lease (self, lease);
      vml_lease_restore_held_by (lease, hold->pid, hold->start_time, hold->held->shared);
    }
}

void
manager_restore_leases (VmlManager *self)
{
  g_autoptr(GHashTable) found = find_holds ();

  load_remembered_leases (self, found);
  adopt_unrecorded (self, found);
}
