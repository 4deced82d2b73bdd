/* vml-transfer-note.c: see vml-transfer-note.h.
 *
 * The note is one 4096-byte block (a whole sector with either sector size)
 * at the end of the marker's area: the magic "VMLNOTE1", the SHA-256 of the
 * begin token's text, then the SHA-256 of those 40 bytes, so a torn or
 * foreign block never passes for a note. The rest is zero. A disk's note:
 * "VMLDISK1", the host id (8 bytes, little endian), the mode (1 byte: 1
 * shared), the UUID (48 bytes, NUL padded), then the SHA-256 of those. */
#define _GNU_SOURCE   /* O_DIRECT */
#include "config.h"

#include "vml-transfer-note.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vml-error.h"

#define NOTE_SIZE     4096
#define AREA_SIZE     (1024 * 1024)
#define NOTE_MAGIC    "VMLNOTE1"
#define MAGIC_SIZE    8
#define DIGEST_SIZE   32

static void
sha256 (const guint8 *data, gsize len, guint8 out[DIGEST_SIZE])
{
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize out_len = DIGEST_SIZE;

  g_checksum_update (sum, data, len);
  g_checksum_get_digest (sum, out, &out_len);
}

/* @buf (NOTE_SIZE) filled with the note of @begin_token. */
static void
make_note (const char *begin_token, guint8 *buf)
{
  memset (buf, 0, NOTE_SIZE);
  memcpy (buf, NOTE_MAGIC, MAGIC_SIZE);
  sha256 ((const guint8 *) begin_token, strlen (begin_token), buf + MAGIC_SIZE);
  sha256 (buf, MAGIC_SIZE + DIGEST_SIZE, buf + MAGIC_SIZE + DIGEST_SIZE);
}

/* O_DIRECT like sanlock, so no page cache stands between the hosts; where
 * the file system refuses it (tmpfs), synchronous buffered I/O. */
static int
open_area (const char *path, int flags, GError **error)
{
  int fd = open (path, flags | O_DIRECT | O_CLOEXEC);

  if (fd < 0 && errno == EINVAL)
    fd = open (path, flags | O_DSYNC | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, VML_ERROR, VML_ERROR_STORAGE_FAILURE,
                   "Cannot open %s for a note: %s", path, g_strerror (saved));
    }
  return fd;
}

static guint8 *
aligned_block (void)
{
  void *buf = NULL;

  if (posix_memalign (&buf, NOTE_SIZE, NOTE_SIZE) != 0)
    g_error ("out of memory");
  return buf;
}

static gboolean
io_failed (const char *what, const char *path, guint64 offset, ssize_t n, GError **error)
{
  g_set_error (error, VML_ERROR, VML_ERROR_STORAGE_FAILURE,
               "Cannot %s the note at offset %" G_GUINT64_FORMAT " of %s: %s", what,
               offset, path, n < 0 ? g_strerror (errno) : "short transfer");
  return FALSE;
}

static gboolean
write_block (const char *path, guint64 area_offset, const guint8 *buf, GError **error)
{
  guint64 offset = area_offset + AREA_SIZE - NOTE_SIZE;
  int fd = open_area (path, O_WRONLY, error);
  ssize_t n;

  if (fd < 0)
    return FALSE;
  do
    n = pwrite (fd, buf, NOTE_SIZE, (off_t) offset);
  while (n < 0 && errno == EINTR);
  close (fd);
  return n == NOTE_SIZE || io_failed ("write", path, offset, n, error);
}

static gboolean
read_block (const char *path, guint64 area_offset, guint8 *buf, GError **error)
{
  guint64 offset = area_offset + AREA_SIZE - NOTE_SIZE;
  int fd = open_area (path, O_RDONLY, error);
  ssize_t n;

  if (fd < 0)
    return FALSE;
  do
    n = pread (fd, buf, NOTE_SIZE, (off_t) offset);
  while (n < 0 && errno == EINTR);
  close (fd);
  return n == NOTE_SIZE || io_failed ("read", path, offset, n, error);
}

gboolean
vml_transfer_note_write (const char *path, guint64 area_offset, const char *begin_token,
                        GError **error)
{
  g_autofree guint8 *buf = aligned_block ();

  make_note (begin_token, buf);
  return write_block (path, area_offset, buf, error);
}

gboolean
vml_transfer_note_matches (const char *path, guint64 area_offset, const char *begin_token,
                          gboolean *matches, GError **error)
{
  g_autofree guint8 *found = aligned_block ();
  guint8 expected[NOTE_SIZE];

  *matches = FALSE;
  if (!read_block (path, area_offset, found, error))
    return FALSE;
  make_note (begin_token, expected);
  *matches = memcmp (found, expected, MAGIC_SIZE + 2 * DIGEST_SIZE) == 0;
  return TRUE;
}

#define DISK_MAGIC    "VMLDISK1"
#define DISK_UUID_LEN 48
#define DISK_BODY     (MAGIC_SIZE + 8 + 1 + DISK_UUID_LEN)

gboolean
vml_disk_note_write (const char *path, guint64 area_offset, guint64 host_id, const char *uuid,
                     gboolean shared, GError **error)
{
  g_autofree guint8 *buf = aligned_block ();
  guint64 le = GUINT64_TO_LE (host_id);

  memset (buf, 0, NOTE_SIZE);
  memcpy (buf, DISK_MAGIC, MAGIC_SIZE);
  memcpy (buf + MAGIC_SIZE, &le, 8);
  buf[MAGIC_SIZE + 8] = shared ? 1 : 0;
  strncpy ((char *) buf + MAGIC_SIZE + 9, uuid, DISK_UUID_LEN - 1);
  sha256 (buf, DISK_BODY, buf + DISK_BODY);
  return write_block (path, area_offset, buf, error);
}

gboolean
vml_disk_note_read (const char *path, guint64 area_offset, guint64 *host_id, char **uuid,
                    gboolean *shared, GError **error)
{
  g_autofree guint8 *buf = aligned_block ();
  guint8 digest[DIGEST_SIZE];
  guint64 le;

  *uuid = NULL;
  if (!read_block (path, area_offset, buf, error))
    return FALSE;
  sha256 (buf, DISK_BODY, digest);
  if (memcmp (buf, DISK_MAGIC, MAGIC_SIZE) != 0 || memcmp (buf + DISK_BODY, digest, DIGEST_SIZE) != 0)
    return FALSE;
  memcpy (&le, buf + MAGIC_SIZE, 8);
  *host_id = GUINT64_FROM_LE (le);
  *shared = buf[MAGIC_SIZE + 8] != 0;
  *uuid = g_strndup ((const char *) buf + MAGIC_SIZE + 9, DISK_UUID_LEN);
  return TRUE;
}
