/* vml-sanlock-index.c: the resource index of a lockspace formatted by
 * vml_sanlock_format_lockspace (lookup, create, delete); see vml-sanlock.h. */
#include "config.h"

#include <errno.h>
#include <stdint.h>   /* sanlock's headers use uint32_t without including it */
#include <string.h>

#include <sanlock.h>
#include <sanlock_admin.h>
#include <sanlock_resource.h>
#include <sanlock_rv.h>

#include "vml-error.h"
#include "vml-sanlock.h"
#include "vml-sanlock-private.h"

/* sanlock answers -EBUSY while another index operation of the lockspace
 * runs; it never queues, so we retry for a while. */
#define INDEX_RETRIES         25
#define INDEX_RETRY_US        (200 * 1000)

static gboolean
index_retry_wanted (int rv)
{
  /* -EBUSY: another index op of this lockspace runs on this host.
   * OWNED_RETRY and friends: another host holds the index's paxos lease
   * (rindex_create/delete acquire it with OWNER_NOWAIT). */
  return rv == -EBUSY || rv == SANLK_ACQUIRE_OWNED_RETRY || rv == SANLK_ACQUIRE_IDLIVE ||
         rv == SANLK_ACQUIRE_OWNED || rv == SANLK_ACQUIRE_OTHER;
}

typedef int (*IndexOp) (struct sanlk_rindex *rx, uint32_t flags, struct sanlk_rentry *re);

static int
create_op (struct sanlk_rindex *rx, uint32_t flags, struct sanlk_rentry *re)
{
  /* max_hosts is ignored, num_hosts 0 = sanlock's default */
  return sanlock_create_resource (rx, flags, re, 0, 0);
}

static int
run_index_op (const VmlSanlockLockspace *ls, IndexOp op, const char *res_name,
              guint64 res_offset, struct sanlk_rentry *re)
{
  struct sanlk_rindex rx;
  int rv;

  vml_sanlock_priv_rindex_args (ls, &rx);
  for (int attempt = 0; ; attempt++)
    {
      memset (re, 0, sizeof *re);
      memcpy (re->name, res_name, strlen (res_name));
      re->offset = res_offset;
      rv = VML_SANLOCK_CALL (op (&rx, 0, re));
      if (!index_retry_wanted (rv) || attempt >= INDEX_RETRIES)
        return rv;
      g_usleep (INDEX_RETRY_US);
    }
}

static gboolean
index_check_args (const VmlSanlockLockspace *ls, const char *res_name, GError **error)
{
  struct sanlk_lockspace lss;
  char name[SANLK_NAME_LEN];

  return vml_sanlock_priv_lockspace_args (ls, FALSE, &lss, error) &&
         vml_sanlock_priv_copy_name (name, res_name, "lease", error);
}

static gboolean
fail_index (const VmlSanlockLockspace *ls, const char *action, int rv, GError **error)
{
  guint64 index_offset = ls->offset + INDEX_AREA_OFFSET;
  g_autofree char *where = vml_sanlock_priv_describe_location (ls->path, index_offset);

  if (vml_sanlock_priv_daemon_unreachable (rv))
    return vml_sanlock_priv_fail_common (error, rv, action, ls->path, where);
  /* lockspace_begin_rindex_op(): -ENOENT not joined, -ENOSPC failing */
  if ((rv == -ENOENT || rv == -ENOSPC) && !vml_sanlock_priv_joined_any_host_id (ls))
    return vml_sanlock_priv_fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, rv,
                                  "Cannot %s: this host has not joined lockspace '%s'",
                                  action, ls->name);
  if (rv == -ENOSPC)
    return vml_sanlock_priv_fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, rv,
                                  "Cannot %s: lockspace '%s' is failing on this host",
                                  action, ls->name);
  if (rv == -ENOENT && !g_file_test (ls->path, G_FILE_TEST_EXISTS))
    return vml_sanlock_priv_fail (error, VML_ERROR_STORAGE_FAILURE, rv,
                                  "Cannot %s: %s does not exist", action, ls->path);
  if (rv == SANLK_RINDEX_MAGIC || rv == SANLK_RINDEX_LOCKSPACE)
    return vml_sanlock_priv_fail (error, VML_ERROR_NOT_FOUND, rv,
                                  "Cannot %s: %s holds no lease index for lockspace '%s'; was it "
                                  "formatted by vmleased?", action, where, ls->name);
  if (index_retry_wanted (rv))
    return vml_sanlock_priv_fail (error, VML_ERROR_BUSY, rv,
                                  "Cannot %s: the lease index of lockspace '%s' stayed busy "
                                  "(another index update is running); try again",
                                  action, ls->name);
  return vml_sanlock_priv_fail_common (error, rv, action, ls->path, where);
}

gboolean
vml_sanlock_index_lookup (const VmlSanlockLockspace *ls, const char *res_name,
                          guint64 *res_offset, GError **error)
{
  g_autofree char *action = NULL;
  struct sanlk_rentry re;
  int rv;

  if (!index_check_args (ls, res_name, error))
    return FALSE;
  rv = run_index_op (ls, sanlock_lookup_rindex, res_name, 0, &re);
  if (rv == 0)
    {
      *res_offset = re.offset;
      return TRUE;
    }
  action = g_strdup_printf ("look up lease '%s' in lockspace '%s'", res_name, ls->name);
  /* rindex_lookup(): search_entries() finding nothing is -ENOENT too. */
  if (rv == -ENOENT && !vml_sanlock_priv_daemon_unreachable (rv) &&
      vml_sanlock_priv_joined_any_host_id (ls) && g_file_test (ls->path, G_FILE_TEST_EXISTS))
    return vml_sanlock_priv_fail (error, VML_ERROR_NOT_FOUND, rv,
                                  "Lockspace '%s' has no lease named '%s' in its index",
                                  ls->name, res_name);
  return fail_index (ls, action, rv, error);
}

gboolean
vml_sanlock_index_create (const VmlSanlockLockspace *ls, const char *res_name,
                          guint64 *res_offset, GError **error)
{
  g_autoptr(GError) lookup_error = NULL;
  g_autofree char *action = NULL;
  struct sanlk_rentry re;
  guint64 existing;
  int rv;

  /* sanlock would happily index a second lease under the same name. */
  if (vml_sanlock_index_lookup (ls, res_name, &existing, &lookup_error))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_EXISTS,
                   "Lockspace '%s' already has a lease named '%s' (at offset %"
                   G_GUINT64_FORMAT ")", ls->name, res_name, existing);
      return FALSE;
    }
  if (!g_error_matches (lookup_error, VML_ERROR, VML_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&lookup_error));
      return FALSE;
    }

  rv = run_index_op (ls, create_op, res_name, 0, &re);
  if (rv == 0)
    {
      *res_offset = re.offset;
      return TRUE;
    }
  action = g_strdup_printf ("create lease '%s' in lockspace '%s'", res_name, ls->name);
  /* rindex_create(): no free entry is -ENOENT; the lookup above showed
   * the lockspace joined and the index readable. */
  if (rv == -ENOENT && vml_sanlock_priv_joined_any_host_id (ls))
    return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                                  "Cannot %s: its lease index is full (one lease per MiB "
                                  "after the index, up to %d); delete unused leases or use "
                                  "another lockspace", action, INDEX_MAX_RESOURCES);
  return fail_index (ls, action, rv, error);
}

gboolean
vml_sanlock_index_delete (const VmlSanlockLockspace *ls, const char *res_name,
                          guint64 res_offset, GError **error)
{
  g_autofree char *action = NULL;
  struct sanlk_rentry re;
  guint64 indexed;
  int rv;

  /* rindex_delete() finds the entry by name only; make sure the caller
   * and the index agree on where that lease lives. */
  if (!vml_sanlock_index_lookup (ls, res_name, &indexed, error))
    return FALSE;
  if (res_offset != 0 && res_offset != indexed)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "Lease '%s' of lockspace '%s' is at offset %" G_GUINT64_FORMAT
                   " in the index, not at %" G_GUINT64_FORMAT, res_name, ls->name,
                   indexed, res_offset);
      return FALSE;
    }
  rv = run_index_op (ls, sanlock_delete_resource, res_name, indexed, &re);
  if (rv == 0)
    return TRUE;
  action = g_strdup_printf ("delete lease '%s' from lockspace '%s'", res_name, ls->name);
  if (rv == -ENOENT && vml_sanlock_priv_joined_any_host_id (ls))
    return vml_sanlock_priv_fail (error, VML_ERROR_NOT_FOUND, rv,
                                  "Lockspace '%s' has no lease named '%s' in its index "
                                  "(deleted meanwhile?)", ls->name, res_name);
  return fail_index (ls, action, rv, error);
}
