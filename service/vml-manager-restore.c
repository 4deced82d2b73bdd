/* vml-manager-restore.c: at start-up, the leases this host holds, found
 * again. The records in the state directory say what vmleased knew; the
 * sanlock daemon says what its clients hold now, and it wins: a lease held
 * by a vmlease-holder is adopted whether its record is there, damaged,
 * or names another process, so no lease is ever held here without an
 * object that shows it and can release it. What sanlock holds is asked
 * through vml-manager-sanlock.c. */
#include "config.h"

#include "vml-holder.h"
#include "vml-lease.h"
#include "vml-log.h"
#include "vml-manager-private.h"

/* Restores @lease: from sanlock's word when it holds the lease here, else
 * from its record alone. */
static void
restore (VmlLease *lease, GHashTable *found)
{
  ManagerHold *hold = g_hash_table_lookup (found, vml_lease_get_uuid (lease));

  if (hold == NULL)
    {
      vml_lease_restore (lease);
      return;
    }
  vml_lease_restore_held_by (lease, hold->pid, hold->start_time, hold->shared);
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
          vml_log_lease (G_LOG_LEVEL_WARNING, uuid, NULL, NULL,
                         "Lease record %s is damaged (it names no lockspace) and was skipped",
                         file);
          continue;
        }
      if (ls == NULL)
        {
          vml_log_lease (G_LOG_LEVEL_WARNING, uuid, ls_name, NULL,
                         "Lease record %s names lockspace '%s', which this host does not use; "
                         "skipped", file, ls_name);
          continue;
        }
      lease = vml_lease_new_from_record (&self->ctx, record, ls, &error);
      if (lease == NULL)
        {
          vml_log_lease (G_LOG_LEVEL_WARNING, uuid, ls_name, NULL,
                         "Lease record %s is damaged and was skipped: %s", file, error->message);
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
stop_unknown_holder (ManagerHold *hold)
{
  g_autoptr(VmlHolder) holder = vml_holder_adopt (hold->pid, hold->start_time, NULL);

  vml_log (G_LOG_LEVEL_WARNING, &(VmlLogAbout){ .uuid = hold->uuid, .lockspace = hold->lockspace,
                                                .holder_pid = hold->pid },
           "Holder %d holds this lease in lockspace '%s', which this host does not use; "
           "stopping it (it fences its VM first)", (int) hold->pid, hold->lockspace);
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
  ManagerHold *hold;

  g_hash_table_iter_init (&iter, found);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &hold))
    {
      VmlLockspace *ls = g_hash_table_lookup (self->lockspaces, hold->lockspace);
      g_autoptr(VmlLease) lease = NULL;

      if (ls == NULL || g_hash_table_contains (self->leases, hold->uuid))
        {
          stop_unknown_holder (hold);
          continue;
        }
      vml_log (G_LOG_LEVEL_WARNING,
               &(VmlLogAbout){ .uuid = hold->uuid, .lockspace = hold->lockspace,
                               .path = hold->path, .holder_pid = hold->pid },
               "Holder %d holds this lease, but no usable record names it; adopting it "
               "from what sanlock says", (int) hold->pid);
      lease = vml_lease_new (&self->ctx, hold->uuid, "", ls, hold->path,
                             hold->offset,
                             g_strcmp0 (hold->path, vml_lockspace_get_path (ls)) == 0);
      manager_export_lease (self, lease);
      vml_lease_restore_held_by (lease, hold->pid, hold->start_time, hold->shared);
    }
}

void
manager_restore_leases (VmlManager *self)
{
  g_autoptr(GHashTable) found = manager_sanlock_find_holds ();

  load_remembered_leases (self, found);
  adopt_unrecorded (self, found);
}
