/* vml-sanlock.c: what every part of vmleased's door to libsanlock_client
 * shares: sanlock's return codes mapped onto VML_ERROR, argument checks and
 * copies into sanlock's structs, and the daemon ping. See vml-sanlock.h for
 * the API and vml-sanlock-private.h for how the other vml-sanlock-*.c files
 * divide the rest.
 *
 * Every function maps sanlock's return codes (negative errno values and the
 * SANLK_* codes of sanlock_rv.h) onto VML_ERROR codes with a message a
 * person can act on. The behaviour relied on here was read from sanlock
 * 3.8.5's daemon source and checked against real daemons (tests/unit/
 * test-sanlock.c); the comments name the daemon function that decides.
 */
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

/* ---- sanlock's client table ------------------------------------------ */

/* vml-sanlock.h says why. Clients that stay (holders, listeners) never
 * take the entries of the VML_SANLOCK_COMMANDS_MAX commands, so a command
 * (a Release, an Inquire) finds room whatever number of leases is held;
 * it waits only for another command of ours to end. */
#define KEPT_MAX  (VML_SANLOCK_CLIENTS_MAX - VML_SANLOCK_COMMANDS_MAX)

static GMutex table_lock;
static GCond  table_freed;
static guint  table_kept;       /* holders' registrations, event listeners */
static guint  table_commands;   /* commands in progress */

gboolean
vml_sanlock_clients_reserve (const char *what, GError **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&table_lock);

  if (table_kept >= KEPT_MAX)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                   "Cannot start %s: vmleased keeps %u sanlock clients already, the most "
                   "that leave its %d commands room in sanlock's client table of %d "
                   "entries; release a lease first", what, table_kept,
                   VML_SANLOCK_COMMANDS_MAX, VML_SANLOCK_CLIENT_TABLE);
      return FALSE;
    }
  table_kept++;
  return TRUE;
}

void
vml_sanlock_clients_unreserve (void)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&table_lock);

  g_return_if_fail (table_kept > 0);
  table_kept--;
}

guint
vml_sanlock_clients_count (void)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&table_lock);

  return table_kept + table_commands;
}

gboolean
vml_sanlock_priv_command_begin (gint64 wait_us)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&table_lock);
  gint64 deadline = g_get_monotonic_time () + wait_us;

  while (table_commands >= VML_SANLOCK_COMMANDS_MAX)
    if (!g_cond_wait_until (&table_freed, &table_lock, deadline))
      break;
  if (table_commands >= VML_SANLOCK_COMMANDS_MAX)
    return FALSE;
  table_commands++;
  return TRUE;
}

int
vml_sanlock_priv_command_end (int rv)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&table_lock);

  table_commands--;
  g_cond_signal (&table_freed);
  return rv;
}

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
    /* sanlock_strerror()'s texts for these two read backwards */
    case SANLK_REQUEST_OLD:          return "Lease version on storage reached the one requested";
    case SANLK_REQUEST_LVER:         return "A request for a later lease version is pending";
    case -1:                         return "General error";   /* sanlock's catch-all */
    default:                         break;
    }
  if (rv <= SANLK_ERROR)
    return sanlock_strerror (rv);
  return g_strerror (-rv);
}

/* Sets @error to "<what> (sanlock: <text>, <rv>)"; returns FALSE.
 * VML_SANLOCK_NO_ROOM instead gives BUSY, "<what>: ..." saying why. */
gboolean
vml_sanlock_priv_fail (GError **error, VmlError code, int rv, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  /* Not sanlock's answer: the call never went out (vml-sanlock.h). */
  if (rv == VML_SANLOCK_NO_ROOM)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                   "%s: vmleased had its %d sanlock commands running for %d s, the most it "
                   "runs at once to stay within sanlock's client table of %d entries; try "
                   "again", what, VML_SANLOCK_COMMANDS_MAX, VML_SANLOCK_COMMAND_WAIT_S,
                   VML_SANLOCK_CLIENT_TABLE);
      return FALSE;
    }
  g_set_error (error, VML_ERROR, code, "%s (sanlock: %s, %d)", what, rv_to_string (rv), rv);
  return FALSE;
}

const char *
vml_sanlock_priv_run_dir (void)
{
  const char *dir = g_getenv ("SANLOCK_RUN_DIR");
  return dir != NULL ? dir : "/run/sanlock";
}

/* connect() to the daemon's socket fails with -ENOENT/-ECONNREFUSED/-EACCES;
 * -ENOENT also has other meanings, so ask the daemon whether it is there. */
gboolean
vml_sanlock_priv_daemon_unreachable (int rv)
{
  uint32_t version, proto;
  int probe;

  if (rv != -ENOENT && rv != -ECONNREFUSED && rv != -EACCES)
    return FALSE;
  probe = VML_SANLOCK_CALL (sanlock_version (0, &version, &proto));
  /* No room to ask: not known to be unreachable. */
  return probe < 0 && probe != VML_SANLOCK_NO_ROOM;
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
gboolean
vml_sanlock_priv_fail_common (GError **error, int rv, const char *action, const char *path,
                              const char *where)
{
  if (vml_sanlock_priv_daemon_unreachable (rv))
    return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                                  "Cannot %s: the sanlock daemon does not answer at "
                                  "%s/sanlock.sock; is sanlock running?",
                                  action, vml_sanlock_priv_run_dir ());
  /* open_disk() passes open()'s errno on */
  if (rv == -ENOENT && path != NULL && !g_file_test (path, G_FILE_TEST_EXISTS))
    return vml_sanlock_priv_fail (error, VML_ERROR_STORAGE_FAILURE, rv,
                                  "Cannot %s: %s does not exist", action, path);
  if (rv == -EACCES)
    return vml_sanlock_priv_fail (error, VML_ERROR_STORAGE_FAILURE, rv,
                                  "Cannot %s: the sanlock daemon may not open %s; give its user "
                                  "or group access to it", action, where);
  if (is_io_error (rv))
    return vml_sanlock_priv_fail (error, VML_ERROR_STORAGE_FAILURE, rv,
                                  "Cannot %s: reading or writing %s failed; check the storage",
                                  action, where);
  if (is_corrupt (rv))
    return vml_sanlock_priv_fail (error, VML_ERROR_STORAGE_FAILURE, rv,
                                  "Cannot %s: %s holds damaged or foreign data", action, where);
  return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv, "Cannot %s at %s", action, where);
}

/* ---- arguments ------------------------------------------------------- */

guint
vml_sanlock_sector_size_for (guint logical_block_size)
{
  if (logical_block_size <= VML_SANLOCK_SECTOR_512)
    return VML_SANLOCK_SECTOR_512;
  if (logical_block_size <= VML_SANLOCK_SECTOR_4K)
    return VML_SANLOCK_SECTOR_4K;
  return 0;
}

guint64
vml_sanlock_max_host_id (guint sector_size)
{
  return sector_size == VML_SANLOCK_SECTOR_4K ? VML_SANLOCK_HOST_ID_MAX_4K
                                              : VML_SANLOCK_HOST_ID_MAX;
}

uint32_t
vml_sanlock_priv_lsf_flags (guint sector_size)
{
  return SANLK_LSF_ALIGN1M |
         (sector_size == VML_SANLOCK_SECTOR_4K ? SANLK_LSF_SECTOR4K : SANLK_LSF_SECTOR512);
}

uint32_t
vml_sanlock_priv_res_flags (guint sector_size)
{
  return SANLK_RES_ALIGN1M |
         (sector_size == VML_SANLOCK_SECTOR_4K ? SANLK_RES_SECTOR4K : SANLK_RES_SECTOR512);
}

uint32_t
vml_sanlock_priv_rif_flags (guint sector_size)
{
  return SANLK_RIF_ALIGN1M |
         (sector_size == VML_SANLOCK_SECTOR_4K ? SANLK_RIF_SECTOR4K : SANLK_RIF_SECTOR512);
}

gboolean
vml_sanlock_priv_copy_name (char dst[SANLK_NAME_LEN], const char *name, const char *kind,
                            GError **error)
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

gboolean
vml_sanlock_priv_copy_disk (struct sanlk_disk *disk, const char *path, guint64 offset,
                            GError **error)
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

gboolean
vml_sanlock_priv_lockspace_args (const VmlSanlockLockspace *ls, gboolean need_host_id,
                                 struct sanlk_lockspace *lss, GError **error)
{
  memset (lss, 0, sizeof *lss);
  if (!vml_sanlock_priv_copy_name (lss->name, ls->name, "lockspace", error) ||
      !vml_sanlock_priv_copy_disk (&lss->host_id_disk, ls->path, ls->offset, error))
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

gboolean
vml_sanlock_priv_resource_args (const VmlSanlockResource *res, ResourceArgs *args, GError **error)
{
  memset (args, 0, sizeof *args);
  args->res.num_disks = 1;
  return vml_sanlock_priv_copy_name (args->res.lockspace_name, res->lockspace,
                                     "lockspace", error) &&
         vml_sanlock_priv_copy_name (args->res.name, res->name, "lease", error) &&
         vml_sanlock_priv_copy_disk (&args->disk, res->path, res->offset, error);
}

gboolean
vml_sanlock_priv_holder_arg (pid_t holder, GError **error)
{
  if (holder > 0)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
               "Invalid holder process id %d", (int) holder);
  return FALSE;
}

void
vml_sanlock_priv_rindex_args (const VmlSanlockLockspace *ls, struct sanlk_rindex *rx)
{
  /* ls was validated by vml_sanlock_priv_lockspace_args(). */
  memset (rx, 0, sizeof *rx);
  /* Only formatting heeds the flags; every other index operation reads the
   * sector size from the index header. */
  rx->flags = vml_sanlock_priv_rif_flags (ls->sector_size);
  memcpy (rx->lockspace_name, ls->name, strlen (ls->name));
  strcpy (rx->disk.path, ls->path);
  rx->disk.offset = ls->offset + INDEX_AREA_OFFSET;
}

char *
vml_sanlock_priv_describe_resource (const VmlSanlockResource *res)
{
  return g_strdup_printf ("lease '%s' of lockspace '%s'", res->name, res->lockspace);
}

char *
vml_sanlock_priv_describe_location (const char *path, guint64 offset)
{
  return g_strdup_printf ("%s:%" G_GUINT64_FORMAT, path, offset);
}

/* ---- daemon ---------------------------------------------------------- */

gboolean
vml_sanlock_ping (GError **error)
{
  uint32_t version, proto;
  int rv = VML_SANLOCK_CALL (sanlock_version (0, &version, &proto));

  if (rv < 0)
    return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                                  "The sanlock daemon does not answer at %s/sanlock.sock; "
                                  "is sanlock running?", vml_sanlock_priv_run_dir ());
  return TRUE;
}
