/* vml-mode-block.c: one host's shared-mode record of a sanlock lease.
 *
 * sanlock's on-disk format is shared by every host on the storage, whatever
 * sanlock version each runs, so it does not move: a resource's area starts
 * with the leader record (sector 0) and the request record (sector 1), then
 * holds one paxos "dblock" sector per host, host h at sector 1 + h. At byte
 * 128 of that sector (MBLOCK_OFFSET) is the host's mode block:
 *   le32 flags (0x1: SHARED), 4 bytes of padding, le64 generation
 * (sanlock: src/mode_block.h, src/ondisk.c mode_block_in). The leader record
 * starts with le32 magic 0x06152010, holds the le32 sector size (512 or
 * 4096) at byte 12, the le64 lease version at byte
 * 48 and the resource name (48 bytes, NUL-padded) at byte 104 (src/leader.h).
 * sanlock writes the mode block
 * with O_DIRECT when a host takes the lease shared and clears it when that
 * host lets go; it is exactly what read_resource_owners reports as a shared
 * holder. We read it with O_DIRECT too, so no page cache stands between us
 * and what other hosts wrote.
 */
#define _GNU_SOURCE   /* O_DIRECT */
#include "config.h"

#include "vml-mode-block.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vml-error.h"
#include "vml-sanlock.h"

#define MODE_BLOCK_OFFSET 128
#define MODE_BLOCK_SHARED 0x1u
#define LEADER_MAGIC      0x06152010u
#define LEADER_SECTOR_SIZE 12
#define LEADER_LVER       48
#define LEADER_NAME       104
#define NAME_SIZE         48
#define FIRST_READ        4096

static guint64
le64_at (const guint8 *p)
{
  guint64 v;

  memcpy (&v, p, sizeof v);
  return GUINT64_FROM_LE (v);
}

static guint32
le32_at (const guint8 *p)
{
  guint32 v;

  memcpy (&v, p, sizeof v);
  return GUINT32_FROM_LE (v);
}

static gboolean
read_at (int fd, const char *path, guint64 offset, gsize size, guint8 *buf, GError **error)
{
  ssize_t n;

  do
    n = pread (fd, buf, size, (off_t) offset);
  while (n < 0 && errno == EINTR);
  if (n == (ssize_t) size)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
               "Cannot read the sector at offset %" G_GUINT64_FORMAT " of %s: %s", offset, path,
               n < 0 ? g_strerror (errno) : "short read");
  return FALSE;
}

static gboolean
leader_is_of (const guint8 *leader, const char *resource_name)
{
  char name[NAME_SIZE + 1] = { 0 };

  memcpy (name, leader + LEADER_NAME, NAME_SIZE);
  return le32_at (leader) == LEADER_MAGIC && g_str_equal (name, resource_name);
}

/* @buf holds the FIRST_READ bytes read from the lease's start: the leader,
 * and with 512-byte sectors the dblocks of hosts 1..6 too (one I/O in the
 * common case). */
static gboolean
read_lease (int fd, const char *path, guint64 lease_offset, const char *resource_name,
            guint64 host_id, guint8 *buf, VmlModeBlock *block, GError **error)
{
  guint sector_size;
  guint64 dblock;

  sector_size = le32_at (buf + LEADER_SECTOR_SIZE);
  if (!leader_is_of (buf, resource_name) || (sector_size != 512 && sector_size != 4096))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                   "No sanlock lease named %s at offset %" G_GUINT64_FORMAT " of %s",
                   resource_name, lease_offset, path);
      return FALSE;
    }
  if (host_id > vml_sanlock_max_host_id (sector_size))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "host id %" G_GUINT64_FORMAT " is out of range for a lease with %u-byte "
                   "sectors (1 to %" G_GUINT64_FORMAT ")", host_id, sector_size,
                   vml_sanlock_max_host_id (sector_size));
      return FALSE;
    }
  block->lver = le64_at (buf + LEADER_LVER);
  dblock = (1 + host_id) * sector_size;
  if (dblock + sector_size > FIRST_READ)
    {
      if (!read_at (fd, path, lease_offset + dblock, sector_size, buf, error))
        return FALSE;
      dblock = 0;
    }
  block->shared = (le32_at (buf + dblock + MODE_BLOCK_OFFSET) & MODE_BLOCK_SHARED) != 0;
  block->generation = le64_at (buf + dblock + MODE_BLOCK_OFFSET + 8);
  return TRUE;
}

/* Opens @path for direct reads and reads FIRST_READ bytes at @offset into
 * a suitably aligned buffer; -1 and @error when that fails. */
static int
open_and_read_first (const char *path, guint64 offset, guint8 **buf, GError **error)
{
  int fd = open (path, O_RDONLY | O_DIRECT | O_CLOEXEC);

  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, VML_ERROR, VML_ERROR_FAILED, "Cannot open %s for direct reads: %s",
                   path, g_strerror (saved));
      return -1;
    }
  /* O_DIRECT wants buffer, offset and length aligned to the logical sector
   * size; 4096 suits both sizes sanlock uses. */
  if (posix_memalign ((void **) buf, FIRST_READ, FIRST_READ) != 0)
    g_error ("out of memory");
  if (!read_at (fd, path, offset, FIRST_READ, *buf, error))
    {
      close (fd);
      return -1;
    }
  return fd;
}

gboolean
vml_mode_block_read (const char   *path,
                     guint64       lease_offset,
                     const char   *resource_name,
                     guint64       host_id,
                     VmlModeBlock *block,
                     GError      **error)
{
  g_autofree guint8 *buf = NULL;
  gboolean ok;
  int fd;

  /* The host id may come from another host's token: never let it reach
   * the offset arithmetic unchecked. */
  if (host_id < 1 || host_id > VML_SANLOCK_HOST_ID_MAX)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "host id %" G_GUINT64_FORMAT " is out of range (1 to %d)", host_id,
                   VML_SANLOCK_HOST_ID_MAX);
      return FALSE;
    }
  fd = open_and_read_first (path, lease_offset, &buf, error);
  if (fd < 0)
    return FALSE;
  ok = read_lease (fd, path, lease_offset, resource_name, host_id, buf, block, error);
  close (fd);
  return ok;
}

gboolean
vml_mode_block_no_leader (const char *path, guint64 lease_offset)
{
  g_autofree guint8 *buf = NULL;
  int fd = open_and_read_first (path, lease_offset, &buf, NULL);

  if (fd < 0)
    return FALSE;
  close (fd);
  return le32_at (buf) != LEADER_MAGIC;
}
