/* vml-sanlock.c: vmleased's only user of libsanlock_client; see vml-sanlock.h.
 *
 * Every function maps sanlock's return codes (negative errno values and the
 * SANLK_* codes of sanlock_rv.h) onto VML_ERROR codes with a message a
 * person can act on. The behaviour relied on here was read from sanlock
 * 3.8.5's daemon source and checked against real daemons (tests/unit/
 * test-sanlock.c); the comments name the daemon function that decides.
 */
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

#define MIB                   (G_GUINT64_CONSTANT (1024) * 1024)
#define INDEX_AREA_OFFSET     (1 * MIB)   /* from the lockspace offset */
#define LEASES_AREA_OFFSET    (3 * MIB)   /* index (1 MiB) + its paxos lease (1 MiB) */
/* rindex.c size_to_max_resources(): the most entries an index with 512-byte
 * sectors and 1 MiB alignment can hold. */
#define INDEX_MAX_RESOURCES   16000

/* sanlock answers -EBUSY while another command runs for the same client or
 * the same lockspace's index; it never queues, so we retry for a while. */
#define BUSY_RETRIES          20
#define BUSY_RETRY_US         (50 * 1000)
#define INDEX_RETRIES         25
#define INDEX_RETRY_US        (200 * 1000)
/* get_hosts answers -EAGAIN until the daemon has checked the other hosts
 * once, i.e. until the first renewal (2 × io_timeout) after joining. */
#define HOSTS_WAIT_US         (3 * G_USEC_PER_SEC)
#define HOSTS_RETRY_US        (100 * 1000)

/* One resource with its single disk, laid out as sanlock expects. */
typedef struct {
  struct sanlk_resource res;
  struct sanlk_disk     disk;
} ResourceArgs;

G_STATIC_ASSERT (G_STRUCT_OFFSET (ResourceArgs, disk) == sizeof (struct sanlk_resource));

/* ---- errors ---------------------------------------------------------- */

static const char *
rv_to_string (int rv)
{
  /* sanlock_strerror() knows most SANLK_* codes but not these. */
  switch (rv)
    {
    case SANLK_ACQUIRE_LVER:         return "Lease version on storage is not the one requested";
    case SANLK_ADDLS_SIZES:          return "Lockspace sector and align sizes are invalid";
    case SANLK_ADDLS_INVALID_HOSTID: return "Host ID is larger than the lockspace allows";
    case SANLK_RINDEX_MAGIC:         return "Resource index does not exist on storage";
    case SANLK_RINDEX_VERSION:       return "Resource index format version is not recognized";
    case SANLK_RINDEX_LOCKSPACE:     return "Resource index belongs to another lockspace";
    case SANLK_RINDEX_OFFSET:        return "Resource index offset is incorrect";
    case SANLK_RINDEX_DIFF:          return "Resource index entry has another name";
    case -1:                         return "General error";   /* sanlock's catch-all */
    default:                         break;
    }
  if (rv <= SANLK_ERROR)
    return sanlock_strerror (rv);
  return g_strerror (-rv);
}

/* Sets @error to "<what> (sanlock: <text>, <rv>)"; returns FALSE. */
static gboolean G_GNUC_PRINTF (4, 5)
fail (GError **error, VmlError code, int rv, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, VML_ERROR, code, "%s (sanlock: %s, %d)", what, rv_to_string (rv), rv);
  return FALSE;
}

static const char *
run_dir (void)
{
  const char *dir = g_getenv ("SANLOCK_RUN_DIR");
  return dir != NULL ? dir : "/run/sanlock";
}

/* connect() to the daemon's socket fails with -ENOENT/-ECONNREFUSED/-EACCES;
 * -ENOENT also has other meanings, so ask the daemon whether it is there. */
static gboolean
daemon_unreachable (int rv)
{
  uint32_t version, proto;

  if (rv != -ENOENT && rv != -ECONNREFUSED && rv != -EACCES)
    return FALSE;
  return sanlock_version (0, &version, &proto) < 0;
}

static gboolean
is_io_error (int rv)
{
  switch (rv)
    {
    case -EIO: case -ENODEV: case -ENXIO: case -EMSGSIZE: case -EROFS: case -EACCES:
    case SANLK_AIO_TIMEOUT: case SANLK_DBLOCK_READ: case SANLK_DBLOCK_WRITE:
    case SANLK_LEADER_READ: case SANLK_LEADER_WRITE: case SANLK_ACQUIRE_IDDISK:
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
is_corrupt (int rv)
{
  switch (rv)
    {
    case SANLK_DBLOCK_CHECKSUM: case SANLK_LEADER_DIFF: case SANLK_LEADER_VERSION:
    case SANLK_LEADER_SECTORSIZE: case SANLK_LEADER_NUMHOSTS: case SANLK_LEADER_CHECKSUM:
    case SANLK_RINDEX_VERSION: case SANLK_RINDEX_OFFSET:
      return TRUE;
    default:
      return FALSE;
    }
}

/* The tail every mapping shares: daemon gone, storage trouble, or else.
 * @where names the area ("<path>:<offset>"), @path the file behind it. */
static gboolean
fail_common (GError **error, int rv, const char *action, const char *path, const char *where)
{
  if (daemon_unreachable (rv))
    return fail (error, VML_ERROR_FAILED, rv,
                 "Cannot %s: the sanlock daemon does not answer at %s/sanlock.sock; "
                 "is sanlock running?", action, run_dir ());
  /* open_disk() passes open()'s errno on */
  if (rv == -ENOENT && path != NULL && !g_file_test (path, G_FILE_TEST_EXISTS))
    return fail (error, VML_ERROR_STORAGE_FAILURE, rv, "Cannot %s: %s does not exist",
                 action, path);
  if (rv == -EACCES)
    return fail (error, VML_ERROR_STORAGE_FAILURE, rv,
                 "Cannot %s: the sanlock daemon may not open %s; give its user or group "
                 "access to it", action, where);
  if (is_io_error (rv))
    return fail (error, VML_ERROR_STORAGE_FAILURE, rv,
                 "Cannot %s: reading or writing %s failed; check the storage", action, where);
  if (is_corrupt (rv))
    return fail (error, VML_ERROR_STORAGE_FAILURE, rv,
                 "Cannot %s: %s holds damaged or foreign data", action, where);
  return fail (error, VML_ERROR_FAILED, rv, "Cannot %s at %s", action, where);
}

/* ---- arguments ------------------------------------------------------- */

static gboolean
copy_name (char dst[SANLK_NAME_LEN], const char *name, const char *kind, GError **error)
{
  gsize len = name != NULL ? strlen (name) : 0;

  /* ':' and blanks separate fields in sanlock's inquire strings. */
  if (len == 0 || len > VML_SANLOCK_NAME_MAX || strpbrk (name, ": \t\n\\") != NULL)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "Invalid %s name '%s': it needs 1 to %d characters, none of them "
                   "':', '\\' or blanks", kind, name != NULL ? name : "", VML_SANLOCK_NAME_MAX);
      return FALSE;
    }
  memset (dst, 0, SANLK_NAME_LEN);
  memcpy (dst, name, len);
  return TRUE;
}

static gboolean
copy_disk (struct sanlk_disk *disk, const char *path, guint64 offset, GError **error)
{
  gsize escaped = 0;

  if (path == NULL || path[0] != '/')
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "Invalid storage path '%s': it must be absolute (the sanlock daemon "
                   "does not share our working directory)", path != NULL ? path : "");
      return FALSE;
    }
  /* sanlock escapes ':', ' ' and '\' when it prints paths, and the escaped
   * form plus its NUL must fit SANLK_PATH_LEN. */
  for (const char *p = path; *p != '\0'; p++)
    escaped += strchr (": \\", *p) != NULL ? 2 : 1;
  if (escaped >= SANLK_PATH_LEN)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "Storage path '%s' is too long for sanlock (%d bytes at most)",
                   path, SANLK_PATH_LEN - 1);
      return FALSE;
    }
  if (offset % VML_SANLOCK_ALIGN != 0)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "Invalid offset %" G_GUINT64_FORMAT " on %s: it must be a multiple of "
                   "1 MiB (%d)", offset, path, VML_SANLOCK_ALIGN);
      return FALSE;
    }
  memset (disk, 0, sizeof *disk);
  strcpy (disk->path, path);
  disk->offset = offset;
  return TRUE;
}

static gboolean
lockspace_args (const VmlSanlockLockspace *ls, gboolean need_host_id,
                struct sanlk_lockspace *lss, GError **error)
{
  memset (lss, 0, sizeof *lss);
  if (!copy_name (lss->name, ls->name, "lockspace", error) ||
      !copy_disk (&lss->host_id_disk, ls->path, ls->offset, error))
    return FALSE;
  if (need_host_id && (ls->host_id < 1 || ls->host_id > VML_SANLOCK_HOST_ID_MAX))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "Invalid host id %" G_GUINT64_FORMAT " for lockspace '%s': it must be "
                   "1 to %d and unique among the hosts sharing it",
                   ls->host_id, ls->name, VML_SANLOCK_HOST_ID_MAX);
      return FALSE;
    }
  lss->host_id = ls->host_id;
  return TRUE;
}

static gboolean
resource_args (const VmlSanlockResource *res, ResourceArgs *args, GError **error)
{
  memset (args, 0, sizeof *args);
  args->res.num_disks = 1;
  return copy_name (args->res.lockspace_name, res->lockspace, "lockspace", error) &&
         copy_name (args->res.name, res->name, "lease", error) &&
         copy_disk (&args->disk, res->path, res->offset, error);
}

static gboolean
holder_arg (pid_t holder, GError **error)
{
  if (holder > 0)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
               "Invalid holder process id %d", (int) holder);
  return FALSE;
}

static char *
describe_resource (const VmlSanlockResource *res)
{
  return g_strdup_printf ("lease '%s' of lockspace '%s'", res->name, res->lockspace);
}

static char *
describe_location (const char *path, guint64 offset)
{
  return g_strdup_printf ("%s:%" G_GUINT64_FORMAT, path, offset);
}

/* ---- daemon ---------------------------------------------------------- */

gboolean
vml_sanlock_ping (GError **error)
{
  uint32_t version, proto;
  int rv = sanlock_version (0, &version, &proto);

  if (rv < 0)
    return fail (error, VML_ERROR_FAILED, rv,
                 "The sanlock daemon does not answer at %s/sanlock.sock; is sanlock running?",
                 run_dir ());
  return TRUE;
}

/* ---- lockspaces ------------------------------------------------------ */

/* Finds a lockspace this host has joined (or is joining or leaving), by
 * @name, or by location when @name is NULL; fills *found. */
static gboolean
find_joined_where (const char *name, const char *path, guint64 offset,
                   struct sanlk_lockspace *found)
{
  struct sanlk_lockspace *lss = NULL;
  int count = 0;
  gboolean ret = FALSE;

  /* -ENOSPC: the daemon's buffer ran short, but what came is valid */
  if (sanlock_get_lockspaces (&lss, &count, 0) < 0 && lss == NULL)
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

static gboolean
find_joined (const char *name, struct sanlk_lockspace *found)
{
  return find_joined_where (name, NULL, 0, found);
}

static gboolean
same_location (const struct sanlk_lockspace *a, const struct sanlk_lockspace *b)
{
  return a->host_id == b->host_id && a->host_id_disk.offset == b->host_id_disk.offset &&
         strncmp (a->host_id_disk.path, b->host_id_disk.path, SANLK_PATH_LEN) == 0;
}

gboolean
vml_sanlock_lockspace_is_joined (const VmlSanlockLockspace *ls)
{
  struct sanlk_lockspace want, found;

  if (ls->name == NULL || !find_joined (ls->name, &found))
    return FALSE;
  if (ls->path == NULL)
    return TRUE;
  if (!lockspace_args (ls, FALSE, &want, NULL))
    return FALSE;
  if (ls->host_id == 0)
    want.host_id = found.host_id;
  return same_location (&want, &found);
}

/* Whether this host joined @ls's lockspace at its location, whatever the
 * host id (index operations are given the lockspace without one). */
static gboolean
joined_any_host_id (const VmlSanlockLockspace *ls)
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

static void
rindex_args (const VmlSanlockLockspace *ls, struct sanlk_rindex *rx)
{
  /* ls was validated by lockspace_args(). */
  memset (rx, 0, sizeof *rx);
  rx->flags = SANLK_RIF_ALIGN1M | SANLK_RIF_SECTOR512;
  memcpy (rx->lockspace_name, ls->name, strlen (ls->name));
  strcpy (rx->disk.path, ls->path);
  rx->disk.offset = ls->offset + INDEX_AREA_OFFSET;
}

gboolean
vml_sanlock_format_lockspace (const VmlSanlockLockspace *ls, GError **error)
{
  g_autofree char *where = NULL;
  struct sanlk_lockspace lss, joined;
  struct sanlk_rindex rx;
  guint32 capacity;
  int rv;

  if (!lockspace_args (ls, FALSE, &lss, error) || !index_capacity (ls, &capacity, error))
    return FALSE;
  where = describe_location (ls->path, ls->offset);
  /* Formatting under a joined lockspace would wipe its host leases and
   * every lease in its index. Other hosts we cannot see from here. */
  if (find_joined_where (NULL, ls->path, ls->offset, &joined))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_EXISTS,
                   "Cannot format %s: this host has joined lockspace '%.48s' there; "
                   "leave it first", where, joined.name);
      return FALSE;
    }

  /* max_hosts is derived from the flags: 2000 hosts for 512/1M.
   * io_timeout 0 makes the daemon store its own default (10 s). */
  lss.flags = SANLK_LSF_ALIGN1M | SANLK_LSF_SECTOR512;
  rv = sanlock_write_lockspace (&lss, 0, 0, ls->io_timeout);
  if (rv < 0)
    {
      g_autofree char *action = g_strdup_printf ("format lockspace '%s'", ls->name);
      return fail_common (error, rv, action, ls->path, where);
    }

  rindex_args (ls, &rx);
  rx.max_resources = capacity;
  rv = sanlock_format_rindex (&rx, 0);
  if (rv < 0)
    {
      g_autofree char *action = g_strdup_printf ("format the lease index of lockspace '%s'",
                                                 ls->name);
      return fail_common (error, rv, action, ls->path, where);
    }
  return TRUE;
}

/* The io_timeout the lockspace was formatted (or last joined) with, so all
 * hosts renew at the pace the delta leases on disk announce. */
static gboolean
stored_io_timeout (const VmlSanlockLockspace *ls, const struct sanlk_lockspace *lss,
                   guint32 *io_timeout, GError **error)
{
  g_autofree char *where = describe_location (ls->path, ls->offset);
  struct sanlk_lockspace probe = *lss;
  uint32_t stored = 0;
  int rv = sanlock_read_lockspace (&probe, 0, &stored);

  switch (rv)
    {
    case 0:
      *io_timeout = stored;
      return TRUE;
    case SANLK_LEADER_MAGIC:
      return fail (error, VML_ERROR_NOT_FOUND, rv,
                   "Cannot join lockspace '%s': %s holds no lockspace; format it first",
                   ls->name, where);
    case SANLK_LEADER_LOCKSPACE:
      return fail (error, VML_ERROR_INVALID_ARGUMENT, rv,
                   "Cannot join lockspace '%s': %s holds another lockspace", ls->name, where);
    default:
      {
        g_autofree char *action = g_strdup_printf ("join lockspace '%s'", ls->name);
        return fail_common (error, rv, action, ls->path, where);
      }
    }
}

/* add_lockspace_start() answers -EINVAL when the name or the location is
 * already joined in another combination: say which. */
static gboolean
fail_join_conflict (const VmlSanlockLockspace *ls, const struct sanlk_lockspace *lss,
                    int rv, GError **error)
{
  struct sanlk_lockspace found;

  if (find_joined (ls->name, &found))
    return fail (error, VML_ERROR_EXISTS, rv,
                 "Cannot join lockspace '%s' with host id %" G_GUINT64_FORMAT " at %s:%"
                 G_GUINT64_FORMAT ": this host already joined it with host id %" G_GUINT64_FORMAT
                 " at %s:%" G_GUINT64_FORMAT "; leave it first",
                 ls->name, ls->host_id, ls->path, ls->offset, (guint64) found.host_id,
                 found.host_id_disk.path, (guint64) found.host_id_disk.offset);
  return fail (error, VML_ERROR_EXISTS, rv,
               "Cannot join lockspace '%s': %s:%" G_GUINT64_FORMAT " is already joined by this "
               "host under another lockspace name", ls->name, ls->path, ls->offset);
}

static gboolean
fail_join (const VmlSanlockLockspace *ls, const struct sanlk_lockspace *lss, int rv,
           GError **error)
{
  g_autofree char *where = describe_location (ls->path, ls->offset);
  g_autofree char *action = g_strdup_printf ("join lockspace '%s'", ls->name);

  switch (rv)
    {
    case -EINVAL:
      return fail_join_conflict (ls, lss, rv, error);
    case SANLK_ADDLS_INVALID_HOSTID:
      return fail (error, VML_ERROR_INVALID_ARGUMENT, rv,
                   "Cannot join lockspace '%s': host id %" G_GUINT64_FORMAT " is larger than "
                   "the lockspace at %s allows", ls->name, ls->host_id, where);
    case SANLK_ADDLS_SIZES:
      return fail (error, VML_ERROR_INVALID_ARGUMENT, rv,
                   "Cannot join lockspace '%s': %s uses a sector and alignment combination "
                   "sanlock does not support", ls->name, where);
    case SANLK_HOSTID_BUSY:
      return fail (error, VML_ERROR_BUSY, rv,
                   "Cannot join lockspace '%s': host id %" G_GUINT64_FORMAT " is in use by "
                   "another host (its host lease is being renewed); give every host its own "
                   "host id", ls->name, ls->host_id);
    case SANLK_LEADER_MAGIC:
      return fail (error, VML_ERROR_NOT_FOUND, rv,
                   "Cannot join lockspace '%s': %s holds no lockspace; format it first",
                   ls->name, where);
    case SANLK_LEADER_LOCKSPACE:
      return fail (error, VML_ERROR_INVALID_ARGUMENT, rv,
                   "Cannot join lockspace '%s': %s holds another lockspace", ls->name, where);
    case SANLK_WD_ERROR:
      return fail (error, VML_ERROR_FAILED, rv,
                   "Cannot join lockspace '%s': sanlock cannot use the watchdog; is wdmd "
                   "running?", ls->name);
    case SANLK_ERROR:
    case -1:
      return fail (error, VML_ERROR_FAILED, rv,
                   "Joining lockspace '%s' was abandoned: it was removed, or sanlock shut "
                   "down, while joining", ls->name);
    default:
      return fail_common (error, rv, action, ls->path, where);
    }
}

gboolean
vml_sanlock_join_lockspace (const VmlSanlockLockspace *ls, GError **error)
{
  struct sanlk_lockspace lss;
  guint32 io_timeout = ls->io_timeout;
  int rv = 0;

  if (!lockspace_args (ls, TRUE, &lss, error))
    return FALSE;
  if (io_timeout == 0 && !stored_io_timeout (ls, &lss, &io_timeout, error))
    return FALSE;

  for (int attempt = 0; attempt < 3; attempt++)
    {
      rv = sanlock_add_lockspace_timeout (&lss, 0, io_timeout);
      /* -EEXIST: joined already with this very host id and location. */
      if (rv == 0 || rv == -EEXIST)
        return TRUE;
      if (rv != -EINPROGRESS && rv != -EAGAIN)
        break;
      /* Another add (-EINPROGRESS) or a remove (-EAGAIN) of this lockspace
       * is running: wait until it is done, then try again; our add then
       * either finds it joined or starts afresh. */
      sanlock_inq_lockspace (&lss, SANLK_INQ_WAIT);
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

  if (!lockspace_args (ls, TRUE, &lss, error))
    return FALSE;

  for (int attempt = 0; attempt < 3; attempt++)
    {
      /* UNUSED: without it sanlock kills every process holding a lease in
       * the lockspace; vmleased must release those first. */
      rv = sanlock_rem_lockspace (&lss, SANLK_REM_UNUSED);
      if (rv != -EINPROGRESS)
        break;
      /* A remove (or an add) is running: wait for it, then look again. */
      sanlock_inq_lockspace (&lss, SANLK_INQ_WAIT);
    }
  if (rv == 0)
    return TRUE;
  if (rv == -ENOENT && !daemon_unreachable (rv))
    {
      if (!find_joined (ls->name, &found))
        return TRUE;   /* not joined (any more): nothing to leave */
      return fail (error, VML_ERROR_INVALID_ARGUMENT, rv,
                   "Cannot leave lockspace '%s': this host joined it with host id %"
                   G_GUINT64_FORMAT " at %s:%" G_GUINT64_FORMAT ", not as given",
                   ls->name, (guint64) found.host_id, found.host_id_disk.path,
                   (guint64) found.host_id_disk.offset);
    }
  if (rv == -EBUSY)
    return fail (error, VML_ERROR_BUSY, rv,
                 "Cannot leave lockspace '%s': processes on this host still hold leases in "
                 "it; release them first", ls->name);
  action = g_strdup_printf ("leave lockspace '%s'", ls->name);
  where = describe_location (ls->path, ls->offset);
  return fail_common (error, rv, action, ls->path, where);
}

/* sanlock_get_hosts(), waiting up to @wait_us while the daemon has not yet
 * looked at the other hosts (-EAGAIN). *hosts is malloc()ed. */
static int
get_hosts_raw (const char *lockspace, struct sanlk_host **hosts, int *count, gint64 wait_us)
{
  gint64 deadline = g_get_monotonic_time () + wait_us;
  int rv;

  for (;;)
    {
      *hosts = NULL;
      *count = 0;
      rv = sanlock_get_hosts (lockspace, 0, hosts, count, 0);
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

  if (!copy_name (name, lockspace, "lockspace", error))
    return NULL;
  rv = get_hosts_raw (name, &hosts, &count, HOSTS_WAIT_US);
  if (rv == -ENOENT && !daemon_unreachable (rv))
    {
      fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, rv,
            "This host has not joined lockspace '%s'", lockspace);
      return NULL;
    }
  if (rv == -EAGAIN)
    {
      fail (error, VML_ERROR_FAILED, rv,
            "sanlock has not yet looked at the other hosts of lockspace '%s' (it does at "
            "its first renewal, 2 × io_timeout after joining); try again shortly", lockspace);
      return NULL;
    }
  if (rv < 0)
    {
      g_autofree char *action = g_strdup_printf ("list the hosts of lockspace '%s'", lockspace);
      fail_common (error, rv, action, NULL, "its lockspace area");
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

/* ---- resource index -------------------------------------------------- */

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

  rindex_args (ls, &rx);
  for (int attempt = 0; ; attempt++)
    {
      memset (re, 0, sizeof *re);
      memcpy (re->name, res_name, strlen (res_name));
      re->offset = res_offset;
      rv = op (&rx, 0, re);
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

  return lockspace_args (ls, FALSE, &lss, error) && copy_name (name, res_name, "lease", error);
}

static gboolean
fail_index (const VmlSanlockLockspace *ls, const char *action, int rv, GError **error)
{
  g_autofree char *where = describe_location (ls->path, ls->offset + INDEX_AREA_OFFSET);
  if (daemon_unreachable (rv))
    return fail_common (error, rv, action, ls->path, where);
  /* lockspace_begin_rindex_op(): -ENOENT not joined, -ENOSPC failing */
  if ((rv == -ENOENT || rv == -ENOSPC) && !joined_any_host_id (ls))
    return fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, rv,
                 "Cannot %s: this host has not joined lockspace '%s'", action, ls->name);
  if (rv == -ENOSPC)
    return fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, rv,
                 "Cannot %s: lockspace '%s' is failing on this host", action, ls->name);
  if (rv == -ENOENT && !g_file_test (ls->path, G_FILE_TEST_EXISTS))
    return fail (error, VML_ERROR_STORAGE_FAILURE, rv, "Cannot %s: %s does not exist",
                 action, ls->path);
  if (rv == SANLK_RINDEX_MAGIC || rv == SANLK_RINDEX_LOCKSPACE)
    return fail (error, VML_ERROR_NOT_FOUND, rv,
                 "Cannot %s: %s holds no lease index for lockspace '%s'; was it formatted "
                 "by vmleased?", action, where, ls->name);
  if (index_retry_wanted (rv))
    return fail (error, VML_ERROR_BUSY, rv,
                 "Cannot %s: the lease index of lockspace '%s' stayed busy (another index "
                 "update is running); try again", action, ls->name);
  return fail_common (error, rv, action, ls->path, where);
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
  if (rv == -ENOENT && !daemon_unreachable (rv) && joined_any_host_id (ls) &&
      g_file_test (ls->path, G_FILE_TEST_EXISTS))
    return fail (error, VML_ERROR_NOT_FOUND, rv,
                 "Lockspace '%s' has no lease named '%s' in its index", ls->name, res_name);
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
  if (rv == -ENOENT && joined_any_host_id (ls))
    return fail (error, VML_ERROR_FAILED, rv,
                 "Cannot %s: its lease index is full (one lease per MiB after the index, up "
                 "to %d); delete unused leases or use another lockspace",
                 action, INDEX_MAX_RESOURCES);
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
  if (rv == -ENOENT && joined_any_host_id (ls))
    return fail (error, VML_ERROR_NOT_FOUND, rv,
                 "Lockspace '%s' has no lease named '%s' in its index (deleted meanwhile?)",
                 ls->name, res_name);
  return fail_index (ls, action, rv, error);
}

/* ---- resources at explicit locations --------------------------------- */

static gboolean
fail_resource_area (const char *path, guint64 offset, const char *action, int rv,
                    GError **error)
{
  g_autofree char *where = describe_location (path, offset);

  /* verify_leader(): no paxos magic (never formatted, or cleared) */
  if (rv == SANLK_LEADER_MAGIC)
    return fail (error, VML_ERROR_NOT_FOUND, rv, "Cannot %s: there is no lease at %s",
                 action, where);
  if (rv == SANLK_LEADER_LOCKSPACE || rv == SANLK_LEADER_RESOURCE)
    return fail (error, VML_ERROR_INVALID_ARGUMENT, rv,
                 "Cannot %s: the lease at %s belongs to another %s", action, where,
                 rv == SANLK_LEADER_LOCKSPACE ? "lockspace" : "lease name");
  return fail_common (error, rv, action, path, where);
}

static gboolean
write_resource (const VmlSanlockResource *res, uint32_t flags, const char *verb,
                GError **error)
{
  ResourceArgs args;
  int rv;

  if (!resource_args (res, &args, error))
    return FALSE;
  /* max_hosts follows from the flags (2000), num_hosts 0 = default */
  args.res.flags = SANLK_RES_ALIGN1M | SANLK_RES_SECTOR512;
  rv = sanlock_write_resource (&args.res, 0, 0, flags);
  if (rv < 0)
    {
      g_autofree char *what = describe_resource (res);
      g_autofree char *action = g_strdup_printf ("%s %s", verb, what);
      return fail_resource_area (res->path, res->offset, action, rv, error);
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
  if (!copy_disk (&args.disk, path, offset, error))
    return FALSE;
  /* No names given: paxos_read_resource() fills them in from the leader. */
  rv = sanlock_read_resource (&args.res, 0);
  if (rv < 0)
    return fail_resource_area (path, offset, "read the lease name", rv, error);
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

  if (!resource_args (res, &args, error))
    return NULL;
  /* flags 0: sanlock learns sector and align sizes from the leader */
  rv = sanlock_read_resource_owners (&args.res, 0, &list, &n_list);
  if (rv < 0)
    {
      g_autofree char *what = describe_resource (res);
      g_autofree char *action = g_strdup_printf ("read the owners of %s", what);
      free (list);
      fail_resource_area (res->path, res->offset, action, rv, error);
      return NULL;
    }
  hosts_rv = get_hosts_raw (res->lockspace, &hosts, &n_hosts, 0);
  if (hosts_rv == -ENOENT && !daemon_unreachable (hosts_rv))
    {
      free (list);
      fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, hosts_rv,
            "Cannot tell whether the owners of lease '%s' are alive: this host has not "
            "joined lockspace '%s'", res->name, res->lockspace);
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

/* ---- pid-targeted operations ---------------------------------------- */

/* Our own host id in @lockspace, 0 if unknown. */
static guint64
local_host_id (const char *lockspace)
{
  struct sanlk_lockspace found;
  return find_joined (lockspace, &found) ? found.host_id : 0;
}

static void
append_host (GString *s, guint64 id, guint64 self)
{
  g_string_append_printf (s, "%" G_GUINT64_FORMAT "%s", id, id == self ? " (this host)" : "");
}

/* "held exclusively by host 2 (generation 4)" / "held shared by hosts 1, 3" */
static char *
describe_owners (const VmlSanlockResource *res)
{
  g_autoptr(VmlSanlockOwners) owners = vml_sanlock_read_owners (res, NULL);
  guint64 self = local_host_id (res->lockspace);
  GString *s;

  if (owners == NULL || (owners->owner == 0 && owners->shared_owners->len == 0))
    return g_strdup ("held by another host (no owner is on storage now; try again)");
  s = g_string_new ("held");
  if (owners->owner != 0)
    {
      g_string_append (s, " exclusively by host ");
      append_host (s, owners->owner, self);
      g_string_append_printf (s, " (generation %" G_GUINT64_FORMAT ")", owners->owner_generation);
    }
  if (owners->shared_owners->len > 0)
    {
      g_string_append (s, owners->owner != 0 ? " and shared by host" : " shared by host");
      g_string_append (s, owners->shared_owners->len > 1 ? "s " : " ");
      for (guint i = 0; i < owners->shared_owners->len; i++)
        {
          if (i > 0)
            g_string_append (s, ", ");
          append_host (s, g_array_index (owners->shared_owners, guint64, i), self);
        }
    }
  return g_string_free (s, FALSE);
}

static gboolean
is_busy (int rv)
{
  switch (rv)
    {
    case -EAGAIN:                     /* EX vs live SH holders; SH->EX likewise */
    case SANLK_ACQUIRE_IDLIVE:        /* the owner's host is alive */
    case SANLK_ACQUIRE_OWNED:         /* another host won the ballot */
    case SANLK_ACQUIRE_OTHER:
    case SANLK_ACQUIRE_SHRETRY:       /* owner only briefly EX while going SH */
    case SANLK_ACQUIRE_OWNED_RETRY:
      return TRUE;
    default:
      return FALSE;
    }
}

/* What all pid-targeted calls share after their specific codes. */
static gboolean
fail_holder_op (const VmlSanlockResource *res, pid_t holder, const char *verb, int rv,
                GError **error)
{
  g_autofree char *what = describe_resource (res);

  switch (rv)
    {
    case -EBUSY:
      return fail (error, VML_ERROR_FAILED, rv,
                   "Cannot %s %s: another sanlock command for holder process %d kept "
                   "running; try again", verb, what, (int) holder);
    case -ESTALE:
    case -ENOTTY:
      return fail (error, VML_ERROR_FAILED, rv,
                   "Cannot %s %s: holder process %d exited meanwhile", verb, what, (int) holder);
    case -ENOSPC:
    case SANLK_ACQUIRE_LOCKSPACE:
      return fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, rv,
                   "Cannot %s %s: this host has not joined lockspace '%s', or it is failing",
                   verb, what, res->lockspace);
    default:
      {
        g_autofree char *action = g_strdup_printf ("%s %s", verb, what);
        return fail_resource_area (res->path, res->offset, action, rv, error);
      }
    }
}

static guint64
current_lver (const VmlSanlockResource *res)
{
  ResourceArgs args;

  if (!resource_args (res, &args, NULL) || sanlock_read_resource (&args.res, 0) < 0)
    return 0;
  return args.res.lver;
}

static gboolean
fail_acquire (const VmlSanlockResource *res, pid_t holder, guint64 lver, int rv,
              GError **error)
{
  g_autofree char *what = describe_resource (res);
  gboolean held = FALSE;

  if (is_busy (rv))
    {
      g_autofree char *who = describe_owners (res);
      return fail (error, VML_ERROR_BUSY, rv, "Cannot acquire %s: it is %s", what, who);
    }
  switch (rv)
    {
    case SANLK_ACQUIRE_LVER:
      return fail (error, VML_ERROR_BUSY, rv,
                   "Cannot acquire %s: it was taken by another host meanwhile (version %"
                   G_GUINT64_FORMAT ", expected %" G_GUINT64_FORMAT ")",
                   what, current_lver (res), lver);
    case -EEXIST:
      /* acquire_token(): the resource is already held on this host */
      vml_sanlock_inquire_holder (holder, res->name, &held, NULL, NULL, NULL);
      if (held)
        return fail (error, VML_ERROR_EXISTS, rv,
                     "Holder process %d already holds %s", (int) holder, what);
      return fail (error, VML_ERROR_BUSY, rv,
                   "Cannot acquire %s: another process on this host holds it", what);
    case -EUCLEAN:
      return fail (error, VML_ERROR_BUSY, rv,
                   "Cannot acquire %s: it is held as an orphan on this host (its holder "
                   "exited without releasing it)", what);
    case -ESRCH:
      return fail (error, VML_ERROR_FAILED, rv,
                   "Cannot acquire %s: holder process %d is not registered with sanlock",
                   what, (int) holder);
    default:
      return fail_holder_op (res, holder, "acquire", rv, error);
    }
}

/* Retries a pid-targeted call while sanlock answers -EBUSY. */
#define RETRY_BUSY(rv, call)                                   \
  G_STMT_START {                                               \
    for (int attempt_ = 0; ; attempt_++)                       \
      {                                                        \
        (rv) = (call);                                         \
        if ((rv) != -EBUSY || attempt_ >= BUSY_RETRIES)        \
          break;                                               \
        g_usleep (BUSY_RETRY_US);                              \
      }                                                        \
  } G_STMT_END

gboolean
vml_sanlock_acquire (const VmlSanlockResource *res, pid_t holder, gboolean shared,
                     guint64 lver, guint64 *lver_out, GError **error)
{
  struct sanlk_resource *list[1];
  ResourceArgs args;
  gboolean held = FALSE;
  int rv;

  if (!resource_args (res, &args, error) || !holder_arg (holder, error))
    return FALSE;
  if (shared)
    args.res.flags |= SANLK_RES_SHARED;
  if (lver != 0)
    {
      args.res.flags |= SANLK_RES_LVER;
      args.res.lver = lver;
    }
  list[0] = &args.res;
  RETRY_BUSY (rv, sanlock_acquire (-1, holder, 0, 1, list, NULL));
  if (rv < 0)
    return fail_acquire (res, holder, lver, rv, error);
  if (lver_out == NULL)
    return TRUE;

  /* The daemon does not send the lver back. For EX, inquire reports the
   * lver the token got; SH tokens carry none, so read the leader. */
  *lver_out = 0;
  if (!shared)
    vml_sanlock_inquire_holder (holder, res->name, &held, NULL, lver_out, NULL);
  else
    *lver_out = current_lver (res);
  return TRUE;
}

gboolean
vml_sanlock_release (const VmlSanlockResource *res, pid_t holder, GError **error)
{
  g_autofree char *what = NULL;
  struct sanlk_resource *list[1];
  ResourceArgs args;
  int rv;

  if (!resource_args (res, &args, error) || !holder_arg (holder, error))
    return FALSE;
  list[0] = &args.res;
  RETRY_BUSY (rv, sanlock_release (-1, holder, 0, 1, list));
  if (rv == 0)
    return TRUE;
  what = describe_resource (res);
  switch (rv)
    {
    case -1:       /* cmd_release(): the client has no such token */
      return fail (error, VML_ERROR_NOT_HELD, rv,
                   "Holder process %d does not hold %s", (int) holder, what);
    case -ESRCH:   /* no such client: whatever it held was released when it went */
      return fail (error, VML_ERROR_NOT_HELD, rv,
                   "Holder process %d is not registered with sanlock, so it holds nothing",
                   (int) holder);
    default:
      /* release_token() forgot the token even if writing the release
       * failed: the holder no longer has it, storage may still say so. */
      return fail_holder_op (res, holder, "release", rv, error);
    }
}

gboolean
vml_sanlock_convert (const VmlSanlockResource *res, pid_t holder, gboolean to_shared,
                     GError **error)
{
  g_autofree char *what = NULL;
  ResourceArgs args;
  int rv;

  if (!resource_args (res, &args, error) || !holder_arg (holder, error))
    return FALSE;
  if (to_shared)
    args.res.flags |= SANLK_RES_SHARED;
  RETRY_BUSY (rv, sanlock_convert (-1, holder, 0, &args.res));
  /* convert_token(): -EALREADY when it is in that mode already */
  if (rv == 0 || rv == -EALREADY)
    return TRUE;
  what = describe_resource (res);
  if (is_busy (rv))
    {
      g_autofree char *who = describe_owners (res);
      return fail (error, VML_ERROR_BUSY, rv, "Cannot make %s exclusive: it is %s", what, who);
    }
  switch (rv)
    {
    case -ENOENT:  /* cmd_convert(): no such token for this client */
      return fail (error, VML_ERROR_NOT_HELD, rv,
                   "Holder process %d does not hold %s", (int) holder, what);
    case -ESRCH:
      return fail (error, VML_ERROR_NOT_HELD, rv,
                   "Holder process %d is not registered with sanlock, so it holds nothing",
                   (int) holder);
    default:
      return fail_holder_op (res, holder, to_shared ? "share" : "make exclusive", rv, error);
    }
}

/* Looks @res_name up in an inquire state string. */
static void
parse_state (char *state, const char *res_name, gboolean *held, gboolean *shared,
             guint64 *lver)
{
  struct sanlk_resource **list = NULL;
  int count = 0;

  if (sanlock_state_to_args (state, &count, &list) < 0)
    return;
  for (int i = 0; i < count; i++)
    {
      if (!*held && strncmp (list[i]->name, res_name, SANLK_NAME_LEN) == 0)
        {
          *held = TRUE;
          *shared = (list[i]->flags & SANLK_RES_SHARED) != 0;
          /* res_to_str() prints "SH" instead of an lver for shared tokens */
          *lver = *shared ? 0 : list[i]->lver;
        }
      free (list[i]);
    }
  free (list);
}

gboolean
vml_sanlock_inquire_holder (pid_t holder, const char *res_name, gboolean *held,
                            gboolean *shared, guint64 *lver, GError **error)
{
  char name[SANLK_NAME_LEN];
  gboolean is_shared = FALSE;
  guint64 held_lver = 0;
  char *state = NULL;
  int count = 0;
  int rv;

  *held = FALSE;
  if (!copy_name (name, res_name, "lease", error) || !holder_arg (holder, error))
    return FALSE;
  RETRY_BUSY (rv, sanlock_inquire (-1, holder, 0, &count, &state));
  if (rv == -ESRCH)
    rv = 0;   /* not registered: holds nothing */
  if (rv < 0)
    {
      free (state);
      if (daemon_unreachable (rv))
        return fail (error, VML_ERROR_FAILED, rv,
                     "Cannot ask sanlock what holder process %d holds: the daemon does not "
                     "answer at %s/sanlock.sock", (int) holder, run_dir ());
      return fail (error, VML_ERROR_FAILED, rv,
                   "Cannot ask sanlock what holder process %d holds", (int) holder);
    }
  if (state != NULL && count > 0)
    parse_state (state, res_name, held, &is_shared, &held_lver);
  free (state);
  if (shared != NULL)
    *shared = is_shared;
  if (lver != NULL)
    *lver = held_lver;
  return TRUE;
}
