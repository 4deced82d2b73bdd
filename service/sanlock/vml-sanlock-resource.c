/* vml-sanlock-resource.c: resource leases at explicit locations (init,
 * read the name, clear) and who owns one according to storage; see
 * vml-sanlock.h. */
#include "config.h"

#include <errno.h>
#include <stdint.h>   /* sanlock's headers use uint32_t without including it */
#include <string.h>

#include <sanlock.h>
#include <sanlock_admin.h>
#include <sanlock_resource.h>
#include <sanlock_rv.h>

#include "vml-error.h"
#include "vml-mode-block.h"
#include "vml-sanlock.h"
#include "vml-sanlock-private.h"

/* ---- resources at explicit locations --------------------------------- */

gboolean
vml_sanlock_priv_fail_resource_area (const char *path, guint64 offset, const char *action,
                                     int rv, GError **error)
{
  g_autofree char *where = vml_sanlock_priv_describe_location (path, offset);

  /* verify_leader(): no paxos magic (never formatted, or cleared) */
  if (rv == SANLK_LEADER_MAGIC)
    return vml_sanlock_priv_fail (error, VML_ERROR_NOT_FOUND, rv,
                                  "Cannot %s: there is no lease at %s", action, where);
  if (rv == SANLK_LEADER_LOCKSPACE || rv == SANLK_LEADER_RESOURCE)
    return vml_sanlock_priv_fail (error, VML_ERROR_INVALID_ARGUMENT, rv,
                                  "Cannot %s: the lease at %s belongs to another %s",
                                  action, where,
                                  rv == SANLK_LEADER_LOCKSPACE ? "lockspace" : "lease name");
  return vml_sanlock_priv_fail_common (error, rv, action, path, where);
}

static gboolean
write_resource (const VmlSanlockResource *res, uint32_t flags, const char *verb,
                GError **error)
{
  ResourceArgs args;
  int rv;

  if (!vml_sanlock_priv_resource_args (res, &args, error))
    return FALSE;
  /* max_hosts follows from the flags (2000, or 250 with 4096-byte sectors),
   * num_hosts 0 = default. sanlock writes the whole 1 MiB area at once. */
  args.res.flags = vml_sanlock_priv_res_flags (res->sector_size);
  rv = VML_SANLOCK_CALL (sanlock_write_resource (&args.res, 0, 0, flags));
  if (rv < 0)
    {
      g_autofree char *what = vml_sanlock_priv_describe_resource (res);
      g_autofree char *action = g_strdup_printf ("%s %s", verb, what);
      return vml_sanlock_priv_fail_resource_area (res->path, res->offset, action, rv, error);
    }
  return TRUE;
}

gboolean
vml_sanlock_resource_init (const VmlSanlockResource *res, GError **error)
{
  return write_resource (res, 0, "initialize", error);
}

gboolean
vml_sanlock_resource_clear (const VmlSanlockResource *res, GError **error)
{
  /* CLEAR writes a leader that later reads reject (SANLK_LEADER_MAGIC). */
  return write_resource (res, SANLK_WRITE_CLEAR, "clear", error);
}

gboolean
vml_sanlock_resource_read_name (const char *path, guint64 offset,
                                char **lockspace, char **name, GError **error)
{
  ResourceArgs args;
  int rv;

  memset (&args, 0, sizeof args);
  args.res.num_disks = 1;
  if (!vml_sanlock_priv_copy_disk (&args.disk, path, offset, error))
    return FALSE;
  /* No names given: paxos_read_resource() fills them in from the leader. */
  rv = VML_SANLOCK_CALL (sanlock_read_resource (&args.res, 0));
  if (rv < 0)
    return vml_sanlock_priv_fail_resource_area (path, offset, "read the lease name", rv, error);
  if (lockspace != NULL)
    *lockspace = g_strndup (args.res.lockspace_name, SANLK_NAME_LEN);
  if (name != NULL)
    *name = g_strndup (args.res.name, SANLK_NAME_LEN);
  return TRUE;
}

/* ---- owners ---------------------------------------------------------- */

void
vml_sanlock_owners_free (VmlSanlockOwners *owners)
{
  if (owners == NULL)
    return;
  g_clear_pointer (&owners->shared_owners, g_array_unref);
  g_clear_pointer (&owners->live_hosts, g_array_unref);
  g_free (owners);
}

/* read_resource_owners() lists the paxos leader's owner first and with a
 * timestamp (the exclusive owner, or briefly a host on its way to shared),
 * then every host whose mode block says SHARED, with timestamp 0. */
static void
fill_owners (VmlSanlockOwners *owners, const struct sanlk_host *list, int count)
{
  for (int i = 0; i < count; i++)
    {
      guint64 id = list[i].host_id;

      if (list[i].timestamp != 0 && owners->owner == 0)
        {
          owners->owner = id;
          owners->owner_generation = list[i].generation;
        }
      else
        g_array_append_val (owners->shared_owners, id);
    }
}

static void
fill_live (VmlSanlockOwners *owners, const struct sanlk_host *hosts, int count)
{
  for (int i = 0; i < count; i++)
    {
      guint32 state = hosts[i].flags & SANLK_HOST_MASK;
      guint64 id = hosts[i].host_id;

      if (state == SANLK_HOST_LIVE || state == SANLK_HOST_FAIL)
        g_array_append_val (owners->live_hosts, id);
    }
}

VmlSanlockOwners *
vml_sanlock_read_owners (const VmlSanlockResource *res, GError **error)
{
  g_autoptr(VmlSanlockOwners) owners = NULL;
  struct sanlk_host *list = NULL, *hosts = NULL;
  int n_list = 0, n_hosts = 0, rv, hosts_rv;
  uint32_t test_flags = 0;
  ResourceArgs args;

  if (!vml_sanlock_priv_resource_args (res, &args, error))
    return NULL;
  /* flags 0: sanlock learns sector and align sizes from the leader */
  rv = VML_SANLOCK_CALL (sanlock_read_resource_owners (&args.res, 0, &list, &n_list));
  /* sanlock takes the sector size from the leader; where it finds none it
   * answers EINVAL. An area without a leader holds no lease, as a cleared one. */
  if (rv == -EINVAL && vml_mode_block_no_leader (res->path, res->offset))
    rv = SANLK_LEADER_MAGIC;
  if (rv < 0)
    {
      g_autofree char *what = vml_sanlock_priv_describe_resource (res);
      g_autofree char *action = g_strdup_printf ("read the owners of %s", what);
      free (list);
      vml_sanlock_priv_fail_resource_area (res->path, res->offset, action, rv, error);
      return NULL;
    }
  hosts_rv = vml_sanlock_priv_get_hosts_raw (res->lockspace, &hosts, &n_hosts, 0);
  if (hosts_rv == -ENOENT && !vml_sanlock_priv_daemon_unreachable (hosts_rv))
    {
      free (list);
      vml_sanlock_priv_fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, hosts_rv,
                             "Cannot tell whether the owners of lease '%s' are alive: this "
                             "host has not joined lockspace '%s'", res->name, res->lockspace);
      return NULL;
    }

  owners = g_new0 (VmlSanlockOwners, 1);
  owners->shared_owners = g_array_new (FALSE, FALSE, sizeof (guint64));
  owners->live_hosts = g_array_new (FALSE, FALSE, sizeof (guint64));
  owners->lver = args.res.lver;
  fill_owners (owners, list, n_list);
  fill_live (owners, hosts, n_hosts);

  /* Without the hosts' states (not looked at yet, -EAGAIN) any owner
   * might be alive, as sanlock itself assumes for UNKNOWN hosts. */
  if (hosts_rv < 0 ||
      sanlock_test_resource_owners (&args.res, 0, list, n_list, hosts, n_hosts, &test_flags) < 0)
    owners->owners_live = n_list > 0;
  else
    owners->owners_live = (test_flags & SANLK_TRF_FAIL) != 0;

  free (list);
  free (hosts);
  return g_steal_pointer (&owners);
}
