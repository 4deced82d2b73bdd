/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vml-faultfs: a FUSE passthrough of ONE file whose I/O can be made to fail.
 *
 * Test tool (tools/vmlease-faulty-storage drives it). Every simulated host of
 * a sandbox reaches the one shared lease file through its own vml-faultfs
 * mount, so a storage fault can hit one host's path to the storage and not
 * the others'.
 *
 *   vml-faultfs BACKING MOUNTPOINT [-o OPT,...] [-f] [-d]
 *
 * MOUNTPOINT then holds two files:
 *   NAME     (the basename of BACKING): reads and writes go to BACKING. An
 *            open with O_DIRECT opens BACKING with O_DIRECT (and O_SYNC/O_DSYNC
 *            as asked), through aligned bounce buffers; the kernel page cache
 *            of the mount is never used (direct_io), so what one host writes,
 *            another reads at once, as on shared storage.
 *   control  write "eio" (every read, write and fsync of NAME fails with EIO),
 *            "hang" (they block until the mode changes; models storage that
 *            stops answering), "ok" (heal). A write returns once the mode is
 *            in force. Read: "mode=... reads=N writes=N failed=N\n".
 *
 * Opening NAME keeps working while faulty: as on a real disk, the failure
 * shows on I/O. The mount is only for root's processes plus allow_other.
 */

#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <libgen.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONTROL_NAME "control"
#define ALIGN 4096

enum mode { MODE_OK, MODE_EIO, MODE_HANG };
static const char *const mode_names[] = { "ok", "eio", "hang" };

static struct {
  char *backing;          /* absolute path of the backing file */
  char *name;             /* its basename, the one file we show */
  pthread_mutex_t lock;
  pthread_cond_t changed;
  enum mode mode;
  uint64_t reads, writes, failed;
} fs = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };

/* fi->fh of the control file: never a real descriptor (those are >= 0). */
#define CONTROL_FH UINT64_MAX

/* Wait out a hang; then 0 to go on, or -EIO. Counts the operation. */
static int
gate (int is_write)
{
  int rv = 0;

  pthread_mutex_lock (&fs.lock);
  while (fs.mode == MODE_HANG)
    pthread_cond_wait (&fs.changed, &fs.lock);
  if (is_write)
    fs.writes++;
  else
    fs.reads++;
  if (fs.mode == MODE_EIO)
    {
      fs.failed++;
      rv = -EIO;
    }
  pthread_mutex_unlock (&fs.lock);
  return rv;
}

static int
is_file (const char *path)
{
  return path[0] == '/' && strcmp (path + 1, fs.name) == 0;
}

static int
is_control (const char *path)
{
  return strcmp (path, "/" CONTROL_NAME) == 0;
}

static int
ffs_getattr (const char *path, struct stat *st, struct fuse_file_info *fi)
{
  memset (st, 0, sizeof *st);
  if (strcmp (path, "/") == 0)
    {
      st->st_mode = S_IFDIR | 0755;
      st->st_nlink = 2;
      return 0;
    }
  if (is_control (path))
    {
      st->st_mode = S_IFREG | 0600;
      st->st_nlink = 1;
      st->st_size = 0;
      return 0;
    }
  if (!is_file (path))
    return -ENOENT;
  if (stat (fs.backing, st) != 0)
    return -errno;
  st->st_ino = 0;
  return 0;
}

static int
ffs_readdir (const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
             struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  if (strcmp (path, "/") != 0)
    return -ENOENT;
  fill (buf, ".", NULL, 0, 0);
  fill (buf, "..", NULL, 0, 0);
  fill (buf, fs.name, NULL, 0, 0);
  fill (buf, CONTROL_NAME, NULL, 0, 0);
  return 0;
}

static int
ffs_open (const char *path, struct fuse_file_info *fi)
{
  int fd;

  if (is_control (path))
    {
      fi->fh = CONTROL_FH;
      fi->direct_io = 1;
      fi->nonseekable = 1;
      return 0;
    }
  if (!is_file (path))
    return -ENOENT;
  fd = open (fs.backing, (fi->flags & (O_ACCMODE | O_DIRECT | O_SYNC | O_DSYNC)) | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  fi->fh = (uint64_t) fd;
  fi->direct_io = 1;   /* no page cache in the mount: coherent between hosts */
  fi->keep_cache = 0;
  return 0;
}

static int
ffs_release (const char *path, struct fuse_file_info *fi)
{
  if (fi->fh != CONTROL_FH)
    close ((int) fi->fh);
  return 0;
}

static int
control_read (char *buf, size_t size, off_t off)
{
  char text[160];
  int len;

  pthread_mutex_lock (&fs.lock);
  len = snprintf (text, sizeof text, "mode=%s reads=%llu writes=%llu failed=%llu\n",
                  mode_names[fs.mode], (unsigned long long) fs.reads,
                  (unsigned long long) fs.writes, (unsigned long long) fs.failed);
  pthread_mutex_unlock (&fs.lock);
  if (off >= len)
    return 0;
  if ((size_t) (len - off) < size)
    size = (size_t) (len - off);
  memcpy (buf, text + off, size);
  return (int) size;
}

static int
control_write (const char *buf, size_t size)
{
  char word[16] = { 0 };
  size_t n = size < sizeof word - 1 ? size : sizeof word - 1;
  int m;

  memcpy (word, buf, n);
  word[strcspn (word, " \t\r\n")] = '\0';
  for (m = 0; m < 3; m++)
    if (strcmp (word, mode_names[m]) == 0)
      break;
  if (m == 3)
    return -EINVAL;
  pthread_mutex_lock (&fs.lock);
  fs.mode = (enum mode) m;
  pthread_cond_broadcast (&fs.changed);
  pthread_mutex_unlock (&fs.lock);
  fprintf (stderr, "vml-faultfs: %s: mode %s\n", fs.name, mode_names[m]);
  return (int) size;
}

static int
is_direct (int fd)
{
  int fl = fcntl (fd, F_GETFL);
  return fl >= 0 && (fl & O_DIRECT);
}

static int
ffs_read (const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
  int fd = (int) fi->fh;
  int rv;
  ssize_t n;

  if (fi->fh == CONTROL_FH)
    return control_read (buf, size, off);
  if ((rv = gate (0)) < 0)
    return rv;
  if (!is_direct (fd))
    n = pread (fd, buf, size, off);
  else
    {
      void *bounce;
      if (posix_memalign (&bounce, ALIGN, size ? size : ALIGN) != 0)
        return -ENOMEM;
      n = pread (fd, bounce, size, off);
      if (n > 0)
        memcpy (buf, bounce, (size_t) n);
      free (bounce);
    }
  return n < 0 ? -errno : (int) n;
}

static int
ffs_write (const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
  int fd = (int) fi->fh;
  int rv;
  ssize_t n;

  if (fi->fh == CONTROL_FH)
    return control_write (buf, size);
  if ((rv = gate (1)) < 0)
    return rv;
  if (!is_direct (fd))
    n = pwrite (fd, buf, size, off);
  else
    {
      void *bounce;
      if (posix_memalign (&bounce, ALIGN, size ? size : ALIGN) != 0)
        return -ENOMEM;
      memcpy (bounce, buf, size);
      n = pwrite (fd, bounce, size, off);
      free (bounce);
    }
  return n < 0 ? -errno : (int) n;
}

static int
ffs_fsync (const char *path, int datasync, struct fuse_file_info *fi)
{
  int rv;

  if (fi->fh == CONTROL_FH)
    return 0;
  if ((rv = gate (1)) < 0)
    return rv;
  return (datasync ? fdatasync ((int) fi->fh) : fsync ((int) fi->fh)) < 0 ? -errno : 0;
}

static int
ffs_truncate (const char *path, off_t size, struct fuse_file_info *fi)
{
  if (is_control (path))
    return 0;   /* "echo eio > control" opens it with O_TRUNC */
  return -EPERM; /* the shared file's size is not ours to change */
}

static void *
ffs_init (struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  cfg->direct_io = 1;
  cfg->kernel_cache = 0;
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->use_ino = 0;
  return NULL;
}

static const struct fuse_operations ops = {
  .init = ffs_init,
  .getattr = ffs_getattr,
  .readdir = ffs_readdir,
  .open = ffs_open,
  .release = ffs_release,
  .read = ffs_read,
  .write = ffs_write,
  .fsync = ffs_fsync,
  .truncate = ffs_truncate,
};

int
main (int argc, char **argv)
{
  char *copy;
  char **fargv;
  int fargc = 0;

  if (argc < 3 || argv[1][0] == '-')
    {
      fprintf (stderr,
               "usage: %s BACKING MOUNTPOINT [FUSE OPTIONS, e.g. -f -o allow_other]\n"
               "Shows BACKING as MOUNTPOINT/<its name>; write eio|hang|ok to "
               "MOUNTPOINT/" CONTROL_NAME " to break or heal its I/O.\n", argv[0]);
      return 2;
    }
  fs.backing = realpath (argv[1], NULL);
  if (!fs.backing)
    {
      fprintf (stderr, "vml-faultfs: %s: %s\n", argv[1], strerror (errno));
      return 1;
    }
  copy = strdup (fs.backing);
  fs.name = strdup (basename (copy));
  free (copy);
  if (strcmp (fs.name, CONTROL_NAME) == 0)
    {
      fprintf (stderr, "vml-faultfs: the backing file may not be named '%s'\n", CONTROL_NAME);
      return 2;
    }

  /* fuse_main (argv[0], MOUNTPOINT, the rest...) */
  fargv = calloc ((size_t) argc + 1, sizeof *fargv);
  fargv[fargc++] = argv[0];
  for (int i = 2; i < argc; i++)
    fargv[fargc++] = argv[i];
  fargv[fargc] = NULL;
  return fuse_main (fargc, fargv, &ops, NULL);
}
