/* vml-sanlock-lockspace.c: lockspaces (format, join, leave, joined or
 * not) and the hosts sanlock sees in them; see vml-sanlock.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>   /* sanlock's headers use uint32_t without including it */
#include <string.h>
#include <unistd.h>

#include <sanlock.h>
#include <sanlock_admin.h>
#include <sanlock_resource.h>
#include <sanlock_rv.h>

#include "vml-error.h"
#include "vml-sanlock.h"
#include "vml-sanlock-private.h"

/* get_hosts answers -EAGAIN until the daemon has checked the other hosts
 * once, i.e. until the first renewal (2 × io_timeout) after joining. */
#define HOSTS_WAIT_US         (3 * G_USEC_PER_SEC)
#define HOSTS_RETRY_US        (100 * 1000)

/* ---- lockspaces ------------------------------------------------------ */

/* Finds a lockspace this host has joined (or is joining or leaving), by
 * @name, or by location when @name is NULL; fills *found. */
gboolean
vml_sanlock_priv_find_joined_where (const char *name, const char *path, guint64 offset,
                                    struct sanlk_lockspace *found)
{
  struct sanlk_lockspace *lss = NULL;
  int count = 0;
  gboolean ret = FALSE;

  /* -ENOSPC: the daemon's buffer ran short, but what came is valid */
  if (VML_SANLOCK_CALL (sanlock_get_lockspaces (&lss, &count, 0)) < 0 && lss == NULL)
    return FALSE;
  for (int i = 0; lss != NULL && i < count && !ret; i++)
    {
      if (name != NULL ? strncmp (lss[i].name, name, SANLK_NAME_LEN) != 0
                       : (strncmp (lss[i].host_id_disk.path, path, SANLK_PATH_LEN) != 0 ||
                          lss[i].host_id_disk.offset != offset))
        continue;
      *found = lss[i];
      ret = TRUE;
    }
  free (lss);
  return ret;
}

gboolean
vml_sanlock_priv_find_joined (const char *name, struct sanlk_lockspace *found)
{
  return vml_sanlock_priv_find_joined_where (name, NULL, 0, found);
}

static gboolean
same_location (const struct sanlk_lockspace *a, const struct sanlk_lockspace *b)
{
  return a->host_id == b->host_id && a->host_id_disk.offset == b->host_id_disk.offset &&
         strncmp (a->host_id_disk.path, b->host_id_disk.path, SANLK_PATH_LEN) == 0;
}

/* Whether this host joined @ls's lockspace with its host id (any, if 0)
 * at its location (any, if none); *found: as sanlock lists it. */
static gboolean
joined_as (const VmlSanlockLockspace *ls, struct sanlk_lockspace *found)
{
  struct sanlk_lockspace want;

  if (ls->name == NULL || !vml_sanlock_priv_find_joined (ls->name, found))
    return FALSE;
  if (ls->path == NULL)
    return TRUE;
  if (!vml_sanlock_priv_lockspace_args (ls, FALSE, &want, NULL))
    return FALSE;
  if (ls->host_id == 0)
    want.host_id = found->host_id;
  return same_location (&want, found);
}

gboolean
vml_sanlock_lockspace_is_joined (const VmlSanlockLockspace *ls)
{
  struct sanlk_lockspace found;

  return joined_as (ls, &found);
}

/* Whether this host holds @ls's lockspace, with its host id and location,
 * and is neither still joining nor leaving it. No storage I/O. */
static gboolean
joined_and_settled (const VmlSanlockLockspace *ls)
{
  struct sanlk_lockspace found;

  return joined_as (ls, &found) && !(found.flags & (SANLK_LSF_ADD | SANLK_LSF_REM));
}

/* Whether this host joined @ls's lockspace at its location, whatever the
 * host id (index operations are given the lockspace without one). */
gboolean
vml_sanlock_priv_joined_any_host_id (const VmlSanlockLockspace *ls)
{
  VmlSanlockLockspace any = *ls;

  any.host_id = 0;
  return vml_sanlock_lockspace_is_joined (&any);
}

/* Number of 1 MiB leases that fit between the index and the end of the
 * device (or regular file), at most what one index can hold. */
static gboolean
index_capacity (const VmlSanlockLockspace *ls, guint32 *capacity, GError **error)
{
  guint64 needed = ls->offset + LEASES_AREA_OFFSET + MIB;
  int fd = open (ls->path, O_RDONLY | O_CLOEXEC);
  off_t size;
  int saved;

  if (fd < 0)
    {
      saved = errno;
      g_set_error (error, VML_ERROR, VML_ERROR_STORAGE_FAILURE,
                   "Cannot open %s to format lockspace '%s': %s",
                   ls->path, ls->name, g_strerror (saved));
      return FALSE;
    }
  size = lseek (fd, 0, SEEK_END);   /* works for block devices too */
  saved = errno;
  close (fd);
  if (size < 0)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_STORAGE_FAILURE,
                   "Cannot find the size of %s: %s", ls->path, g_strerror (saved));
      return FALSE;
    }
  if ((guint64) size < needed)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "%s is too small for lockspace '%s' at offset %" G_GUINT64_FORMAT ": it has "
                   "%" G_GUINT64_FORMAT " bytes, and the lockspace, its index and one lease need "
                   "%" G_GUINT64_FORMAT, ls->path, ls->name, ls->offset, (guint64) size, needed);
      return FALSE;
    }
  *capacity = (guint32) MIN ((size - ls->offset - LEASES_AREA_OFFSET) / MIB,
                             (guint64) INDEX_MAX_RESOURCES);
  return TRUE;
}

gboolean
vml_sanlock_format_lockspace (const VmlSanlockLockspace *ls, GError **error)
{
  g_autofree char *where = NULL;
  struct sanlk_lockspace lss, joined;
  struct sanlk_rindex rx;
  guint32 capacity;
  int rv;

  if (!vml_sanlock_priv_lockspace_args (ls, FALSE, &lss, error) ||
      !index_capacity (ls, &capacity, error))
    return FALSE;
  where = vml_sanlock_priv_describe_location (ls->path, ls->offset);
  if (ls->sector_size != 0 && ls->sector_size != VML_SANLOCK_SECTOR_512 &&
      ls->sector_size != VML_SANLOCK_SECTOR_4K)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "Cannot format %s: sanlock writes 512- or 4096-byte sectors, not %u",
                   where, ls->sector_size);
      return FALSE;
    }
  /* Formatting under a joined lockspace would wipe its host leases and
   * every lease in its index. Other hosts we cannot see from here. */
  if (vml_sanlock_priv_find_joined_where (NULL, ls->path, ls->offset, &joined))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_EXISTS,
                   "Cannot format %s: this host has joined lockspace '%.48s' there; "
                   "leave it first", where, joined.name);
      return FALSE;
    }

  /* max_hosts is derived from the flags: 2000 hosts for 512/1M, 250 for
   * 4K/1M. io_timeout 0 makes the daemon store its own default (10 s).
   * Flags for 512-byte sectors on storage with 4096-byte ones fail here
   * with -EINVAL: the daemon writes single sectors with O_DIRECT. */
  lss.flags = vml_sanlock_priv_lsf_flags (ls->sector_size);
  rv = VML_SANLOCK_CALL (sanlock_write_lockspace (&lss, 0, 0, ls->io_timeout));
  if (rv < 0)
    {
      g_autofree char *action = g_strdup_printf ("format lockspace '%s'", ls->name);
      return vml_sanlock_priv_fail_common (error, rv, action, ls->path, where);
    }

  vml_sanlock_priv_rindex_args (ls, &rx);
  rx.max_resources = capacity;
  rv = VML_SANLOCK_CALL (sanlock_format_rindex (&rx, 0));
  if (rv < 0)
    {
      g_autofree char *action = g_strdup_printf ("format the lease index of lockspace '%s'",
                                                 ls->name);
      return vml_sanlock_priv_fail_common (error, rv, action, ls->path, where);
    }
  return TRUE;
}

/* The area at @ls's location holds no lockspace, or another one. */
static gboolean
fail_not_this_lockspace (const VmlSanlockLockspace *ls, int rv, const char *where,
                         GError **error)
{
  if (rv == SANLK_LEADER_MAGIC)
    return vml_sanlock_priv_fail (error, VML_ERROR_NOT_FOUND, rv,
                                  "Cannot join lockspace '%s': %s holds no lockspace; "
                                  "format it first", ls->name, where);
  return vml_sanlock_priv_fail (error, VML_ERROR_INVALID_ARGUMENT, rv,
                                "Cannot join lockspace '%s': %s holds another lockspace",
                                ls->name, where);
}

/* A failed read of the lockspace area at @ls's location, in words. */
static gboolean
fail_check (const VmlSanlockLockspace *ls, int rv, GError **error)
{
  g_autofree char *where = vml_sanlock_priv_describe_location (ls->path, ls->offset);
  g_autofree char *action = NULL;

  switch (rv)
    {
    case SANLK_LEADER_MAGIC:
    case SANLK_LEADER_LOCKSPACE:
      return fail_not_this_lockspace (ls, rv, where, error);
    case -EINVAL:
      /* A 512-byte read on storage with larger sectors (O_DIRECT). */
      if (ls->sector_size == 0)
        return vml_sanlock_priv_fail (error, VML_ERROR_STORAGE_FAILURE, rv,
                                      "Cannot join lockspace '%s': sanlock cannot read %s in "
                                      "the sector size it tried (is it storage with 4096-byte "
                                      "sectors, formatted with 512-byte ones?)", ls->name, where);
      G_GNUC_FALLTHROUGH;
    default:
      action = g_strdup_printf ("join lockspace '%s'", ls->name);
      return vml_sanlock_priv_fail_common (error, rv, action, ls->path, where);
    }
}

/* Whether the sizes a lockspace was formatted with (@flags, as
 * sanlock_read_lockspace() reports them) work on @ls's storage. */
static gboolean
check_sizes (const VmlSanlockLockspace *ls, uint32_t flags, guint found, GError **error)
{
  g_autofree char *where = vml_sanlock_priv_describe_location (ls->path, ls->offset);

  if (!(flags & SANLK_LSF_ALIGN1M))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "Cannot join lockspace '%s': %s was formatted with another alignment than "
                   "1 MiB (not by vmleased), so its resource index is not where vmleased "
                   "looks for it", ls->name, where);
      return FALSE;
    }
  if (found < ls->sector_size)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "Cannot join lockspace '%s': %s was formatted with %u-byte sectors, but "
                   "%s has %u-byte logical sectors, and sanlock cannot write less than that "
                   "(was the storage copied or attached anew?). Format the lockspace again "
                   "(init; from one host, it destroys every lease in it), or give the storage "
                   "%u-byte sectors again", ls->name, where, found, ls->path, ls->sector_size,
                   found);
      return FALSE;
    }
  return TRUE;
}

gboolean
vml_sanlock_check_lockspace (const VmlSanlockLockspace *ls, guint *sector_size,
                             guint *io_timeout, GError **error)
{
  struct sanlk_lockspace probe;
  uint32_t stored = 0;
  guint found;
  int rv;

  if (!vml_sanlock_priv_lockspace_args (ls, FALSE, &probe, error))
    return FALSE;
  /* Host 1's delta lease (host id 0 reads it), read in the storage's own
   * sector size so that the read works whatever the lockspace holds; the
   * daemon answers with the sizes the lockspace was formatted with. */
  probe.host_id = 0;
  probe.flags = ls->sector_size != 0 ? vml_sanlock_priv_lsf_flags (ls->sector_size) : 0;
  rv = VML_SANLOCK_CALL (sanlock_read_lockspace (&probe, 0, &stored));
  if (rv != 0)
    return fail_check (ls, rv, error);
  found = (probe.flags & SANLK_LSF_SECTOR4K) ? VML_SANLOCK_SECTOR_4K : VML_SANLOCK_SECTOR_512;
  if (!check_sizes (ls, probe.flags, found, error))
    return FALSE;
  if (sector_size != NULL)
    *sector_size = found;
  if (io_timeout != NULL)
    *io_timeout = stored;
  return TRUE;
}

/* add_lockspace_start() answers -EINVAL when the name or the location is
 * already joined in another combination: say which. */
static gboolean
fail_join_conflict (const VmlSanlockLockspace *ls, const struct sanlk_lockspace *lss,
                    int rv, GError **error)
{
  struct sanlk_lockspace found;

  if (vml_sanlock_priv_find_joined (ls->name, &found))
    return vml_sanlock_priv_fail (error, VML_ERROR_EXISTS, rv,
                                  "Cannot join lockspace '%s' with host id %" G_GUINT64_FORMAT
                                  " at %s:%" G_GUINT64_FORMAT ": this host already joined it "
                                  "with host id %" G_GUINT64_FORMAT " at %s:%" G_GUINT64_FORMAT
                                  "; leave it first",
                                  ls->name, ls->host_id, ls->path, ls->offset,
                                  (guint64) found.host_id, found.host_id_disk.path,
                                  (guint64) found.host_id_disk.offset);
  return vml_sanlock_priv_fail (error, VML_ERROR_EXISTS, rv,
                                "Cannot join lockspace '%s': %s:%" G_GUINT64_FORMAT " is already "
                                "joined by this host under another lockspace name",
                                ls->name, ls->path, ls->offset);
}

static gboolean
fail_join (const VmlSanlockLockspace *ls, const struct sanlk_lockspace *lss, int rv,
           GError **error)
{
  g_autofree char *where = vml_sanlock_priv_describe_location (ls->path, ls->offset);
  g_autofree char *action = g_strdup_printf ("join lockspace '%s'", ls->name);

  switch (rv)
    {
    case -EINVAL:
      return fail_join_conflict (ls, lss, rv, error);
    case SANLK_ADDLS_INVALID_HOSTID:
      return vml_sanlock_priv_fail (error, VML_ERROR_INVALID_ARGUMENT, rv,
                                    "Cannot join lockspace '%s': host id %" G_GUINT64_FORMAT
                                    " is larger than the lockspace at %s allows (%d with "
                                    "512-byte sectors, %d with 4096-byte ones)",
                                    ls->name, ls->host_id, where, VML_SANLOCK_HOST_ID_MAX,
                                    VML_SANLOCK_HOST_ID_MAX_4K);
    case SANLK_ADDLS_SIZES:
      return vml_sanlock_priv_fail (error, VML_ERROR_INVALID_ARGUMENT, rv,
                                    "Cannot join lockspace '%s': %s uses a sector and alignment "
                                    "combination sanlock does not support", ls->name, where);
    case SANLK_HOSTID_BUSY:
      return vml_sanlock_priv_fail (error, VML_ERROR_BUSY, rv,
                                    "Cannot join lockspace '%s': host id %" G_GUINT64_FORMAT
                                    " is in use by another host (its host lease is being "
                                    "renewed); give every host its own host id",
                                    ls->name, ls->host_id);
    case SANLK_LEADER_MAGIC:
    case SANLK_LEADER_LOCKSPACE:
      return fail_not_this_lockspace (ls, rv, where, error);
    case SANLK_WD_ERROR:
      return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                                    "Cannot join lockspace '%s': sanlock cannot use the "
                                    "watchdog; is wdmd running?", ls->name);
    case SANLK_ERROR:
    case -1:
      return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                                    "Joining lockspace '%s' was abandoned: it was removed, or "
                                    "sanlock shut down, while joining", ls->name);
    default:
      return vml_sanlock_priv_fail_common (error, rv, action, ls->path, where);
    }
}

gboolean
vml_sanlock_join_lockspace (const VmlSanlockLockspace *ls, guint *formatted_sector_size,
                            GError **error)
{
  struct sanlk_lockspace lss;
  guint io_timeout = 0, sector_size = 0;
  int rv = 0;

  if (formatted_sector_size != NULL)
    *formatted_sector_size = 0;
  if (!vml_sanlock_priv_lockspace_args (ls, TRUE, &lss, error))
    return FALSE;
  /* Joined already (vmleased restarted): sanlock renews it; nothing to
   * check, and no storage I/O, which may be what is failing right now. */
  if (joined_and_settled (ls))
    return TRUE;
  if (!vml_sanlock_check_lockspace (ls, &sector_size, &io_timeout, error))
    return FALSE;
  if (formatted_sector_size != NULL)
    *formatted_sector_size = sector_size;
  /* The joining host's own io_timeout, else the one the lockspace was
   * formatted with, so all hosts renew at the pace its delta leases say. */
  if (ls->io_timeout != 0)
    io_timeout = ls->io_timeout;
  if (ls->host_id > vml_sanlock_max_host_id (sector_size))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "Cannot join lockspace '%s' as host %" G_GUINT64_FORMAT ": it uses %u-byte "
                   "sectors, which leave room for host ids 1 to %" G_GUINT64_FORMAT " only",
                   ls->name, ls->host_id, sector_size, vml_sanlock_max_host_id (sector_size));
      return FALSE;
    }

  for (int attempt = 0; attempt < 3; attempt++)
    {
      rv = VML_SANLOCK_CALL (sanlock_add_lockspace_timeout (&lss, 0, io_timeout));
      /* -EEXIST: joined already with this very host id and location. */
      if (rv == 0 || rv == -EEXIST)
        return TRUE;
      if (rv != -EINPROGRESS && rv != -EAGAIN)
        break;
      /* Another add (-EINPROGRESS) or a remove (-EAGAIN) of this lockspace
       * is running: wait until it is done, then try again; our add then
       * either finds it joined or starts afresh. */
      (void) VML_SANLOCK_CALL (sanlock_inq_lockspace (&lss, SANLK_INQ_WAIT));
    }
  return fail_join (ls, &lss, rv, error);
}

gboolean
vml_sanlock_leave_lockspace (const VmlSanlockLockspace *ls, GError **error)
{
  g_autofree char *action = NULL;
  g_autofree char *where = NULL;
  struct sanlk_lockspace lss, found;
  int rv = 0;

  if (!vml_sanlock_priv_lockspace_args (ls, TRUE, &lss, error))
    return FALSE;

  for (int attempt = 0; attempt < 3; attempt++)
    {
      /* UNUSED: without it sanlock kills every process holding a lease in
       * the lockspace; vmleased must release those first. */
      rv = VML_SANLOCK_CALL (sanlock_rem_lockspace (&lss, SANLK_REM_UNUSED));
      if (rv != -EINPROGRESS)
        break;
      /* A remove (or an add) is running: wait for it, then look again. */
      (void) VML_SANLOCK_CALL (sanlock_inq_lockspace (&lss, SANLK_INQ_WAIT));
    }
  if (rv == 0)
    return TRUE;
  if (rv == -ENOENT && !vml_sanlock_priv_daemon_unreachable (rv))
    {
      if (!vml_sanlock_priv_find_joined (ls->name, &found))
        return TRUE;   /* not joined (any more): nothing to leave */
      return vml_sanlock_priv_fail (error, VML_ERROR_INVALID_ARGUMENT, rv,
                                    "Cannot leave lockspace '%s': this host joined it with "
                                    "host id %" G_GUINT64_FORMAT " at %s:%" G_GUINT64_FORMAT
                                    ", not as given",
                                    ls->name, (guint64) found.host_id, found.host_id_disk.path,
                                    (guint64) found.host_id_disk.offset);
    }
  if (rv == -EBUSY)
    return vml_sanlock_priv_fail (error, VML_ERROR_BUSY, rv,
                                  "Cannot leave lockspace '%s': processes on this host still "
                                  "hold leases in it; release them first", ls->name);
  action = g_strdup_printf ("leave lockspace '%s'", ls->name);
  where = vml_sanlock_priv_describe_location (ls->path, ls->offset);
  return vml_sanlock_priv_fail_common (error, rv, action, ls->path, where);
}

/* ---- hosts ----------------------------------------------------------- */

/* sanlock_get_hosts(), waiting up to @wait_us while the daemon has not yet
 * looked at the other hosts (-EAGAIN). *hosts is malloc()ed. */
int
vml_sanlock_priv_get_hosts_raw (const char *lockspace, struct sanlk_host **hosts, int *count,
                                gint64 wait_us)
{
  gint64 deadline = g_get_monotonic_time () + wait_us;
  int rv;

  for (;;)
    {
      *hosts = NULL;
      *count = 0;
      rv = VML_SANLOCK_CALL (sanlock_get_hosts (lockspace, 0, hosts, count, 0));
      /* -ENOSPC: the daemon's buffer was too small; what came is valid. */
      if (rv == -ENOSPC)
        rv = 0;
      if (rv != -EAGAIN || g_get_monotonic_time () >= deadline)
        break;
      g_usleep (HOSTS_RETRY_US);
    }
  if (rv < 0)
    {
      free (*hosts);
      *hosts = NULL;
      *count = 0;
    }
  return rv;
}

static VmlSanlockHost
host_from_sanlock (const struct sanlk_host *h)
{
  VmlSanlockHost host = {
    .host_id = h->host_id,
    .generation = h->generation,
    .timestamp = h->timestamp,
    .io_timeout = h->io_timeout,
  };

  switch (h->flags & SANLK_HOST_MASK)
    {
    case SANLK_HOST_FREE: host.state = VML_HOST_FREE; break;
    case SANLK_HOST_LIVE: host.state = VML_HOST_LIVE; break;
    case SANLK_HOST_FAIL: host.state = VML_HOST_FAIL; break;
    case SANLK_HOST_DEAD: host.state = VML_HOST_DEAD; break;
    default:              host.state = VML_HOST_UNKNOWN; break;
    }
  return host;
}

GArray *
vml_sanlock_get_hosts (const char *lockspace, GError **error)
{
  char name[SANLK_NAME_LEN + 1] = { 0 };
  struct sanlk_host *hosts = NULL;
  GArray *array;
  int count = 0;
  int rv;

  if (!vml_sanlock_priv_copy_name (name, lockspace, "lockspace", error))
    return NULL;
  rv = vml_sanlock_priv_get_hosts_raw (name, &hosts, &count, HOSTS_WAIT_US);
  if (rv == -ENOENT && !vml_sanlock_priv_daemon_unreachable (rv))
    {
      vml_sanlock_priv_fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, rv,
                             "This host has not joined lockspace '%s'", lockspace);
      return NULL;
    }
  if (rv == -EAGAIN)
    {
      vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                             "sanlock has not yet looked at the other hosts of lockspace '%s' "
                             "(it does at its first renewal, 2 × io_timeout after joining); "
                             "try again shortly", lockspace);
      return NULL;
    }
  if (rv < 0)
    {
      g_autofree char *action = g_strdup_printf ("list the hosts of lockspace '%s'", lockspace);
      vml_sanlock_priv_fail_common (error, rv, action, NULL, "its lockspace area");
      return NULL;
    }

  array = g_array_sized_new (FALSE, TRUE, sizeof (VmlSanlockHost), count);
  for (int i = 0; i < count; i++)
    {
      VmlSanlockHost host = host_from_sanlock (&hosts[i]);
      g_array_append_val (array, host);
    }
  free (hosts);
  return array;
}
