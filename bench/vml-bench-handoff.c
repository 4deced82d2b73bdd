/* vml-bench-handoff: the blackout of a migration hand-off through vmleased,
 * against the same sanlock operations done with raw libsanlock, in the same
 * run on the same storage.
 *
 * Needs a running sandbox of at least two hosts (tools/vmlease-sandbox;
 * bench/handoff starts one): --sandbox DIR, whose host1.env and host2.env
 * name each host's bus and sanlock run directory, the lockspace joined on
 * both. Per round, interleaved so that drift hits both series alike:
 *
 *   vmleased  a hand-off 1 -> 2, then 2 -> 1, of a lease made for the bench,
 *             by Transfer calls on both hosts' buses (begin, prepare,
 *             perform, finish, confirm), synchronous, one reused connection
 *             per bus, as a virt manager makes them. The blackout is from
 *             the start of the source's perform call to the return of the
 *             destination's finish: the time a guest is paused on both.
 *             finish answers before its conversion to exclusive, which
 *             goes on in the background (State "converting"); confirm
 *             waits for it.
 *   raw       the same hand-offs of a second resource in the same lockspace
 *             and lease file, done by two helper processes, one per host
 *             (libsanlock reads SANLOCK_RUN_DIR once per process), each with
 *             a registered holder process of its own that it drives with
 *             pid-targeted calls, exactly as vmleased drives its holders:
 *             convert EX->SH (source), acquire SH (destination), release
 *             (source), convert SH->EX (destination). The blackout is from
 *             sending the release to the source's helper to the return of
 *             the destination's convert.
 *
 * An observer thread reads both resources' owners from storage
 * (sanlock_read_resource_owners through host 1's daemon: one read of the
 * whole lease area) every --observe-ms (10) and counts every sample in which
 * no host held one, exclusively or shared. There must be none. Its reads
 * load host 1's sanlock daemon and the storage a little: both series alike.
 *
 * With --disks N, a second lease made for the bench is held with N disk
 * leases of its own (Acquire's "disks"), and each round also hands it off
 * 1 -> 2 and 2 -> 1 the same way (series "vmleased+disks"), interleaved
 * with the others; the observer watches its N disks' resources too. The
 * report adds its blackout against the lease without disks: the ratio, and
 * what each disk adds.
 *
 * Prints per series the median, p90, mean, min and max of the blackout and
 * of each step, the ratio of the blackout medians vmleased / raw and
 * whether it meets the target (<= 0.5: the conversion is off the guest's
 * pause, issue 15 part 3; the raw blackout still has it). Reported, never
 * asserted: the exit status is 0 unless something failed (a gap seen by the
 * observer is a failure: exit 3).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>   /* before sanlock's headers */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>

#include "vml-bench-bus.h"
#include "vml-bench-raw.h"
#include "vml-bench-stats.h"

#include <sanlock.h>
#include <sanlock_admin.h>
#include <sanlock_resource.h>

#define TARGET_RATIO    0.5
#define N_HOSTS         2
#define MAX_DISKS       64      /* vmleased's limit per VM */

typedef VmlBenchSeries Series;

/* ---- the raw side: one helper process per host ------------------------------ *
 *
 * A helper runs with its host's SANLOCK_RUN_DIR, forks a holder that
 * registers with that host's sanlock daemon and waits, and answers commands
 * on a pipe, one line each ("init PATH OFFSET LOCKSPACE NAME", "write",
 * "clear", "acquire ex|sh", "convert ex|sh", "release"), with one line
 * "RV NANOSECONDS" (the sanlock call alone). EOF ends it and its holder. */

typedef struct {
  int    host;
  pid_t  pid;
  int    to;      /* commands */
  int    from;    /* replies */
  FILE  *replies;
} Helper;

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
copy_name (char *dst, const char *src)
{
  if (strlen (src) >= SANLK_NAME_LEN)
    return -ENAMETOOLONG;
  memset (dst, 0, SANLK_NAME_LEN);
  memcpy (dst, src, strlen (src));
  return 0;
}

static pid_t
start_holder (int *keep_fd)
{
  int ready[2], hold[2];
  pid_t pid;
  char c;

  if (pipe (ready) < 0 || pipe (hold) < 0)
    return -1;
  pid = fork ();
  if (pid < 0)
    return -1;
  if (pid == 0)
    {
      int sock;

      prctl (PR_SET_PDEATHSIG, SIGKILL);
      close (ready[0]);
      close (hold[1]);
      sock = sanlock_register ();
      if (sock < 0 || write (ready[1], "r", 1) != 1)
        _exit (1);
      /* Holds whatever it is given until the helper goes. */
      while (read (hold[0], &c, 1) > 0)
        ;
      _exit (0);
    }
  close (ready[1]);
  close (hold[0]);
  if (read (ready[0], &c, 1) != 1)
    {
      close (ready[0]);
      close (hold[1]);
      waitpid (pid, NULL, 0);
      return -1;
    }
  close (ready[0]);
  *keep_fd = hold[1];
  return pid;
}

static G_GNUC_NORETURN void
helper_main (int in, int out)
{
  struct sanlk_resource *res = g_malloc0 (sizeof (struct sanlk_resource) + sizeof (struct sanlk_disk));
  struct sanlk_resource *list[1] = { res };
  FILE *cmds = fdopen (in, "r");
  char line[1024];
  int keep = -1;
  pid_t holder;

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  holder = start_holder (&keep);
  if (holder < 0)
    _exit (1);

  while (fgets (line, sizeof line, cmds) != NULL)
    {
      char path[SANLK_PATH_LEN + 1] = "", ls[SANLK_NAME_LEN + 1] = "", name[SANLK_NAME_LEN + 1] = "";
      unsigned long long offset = 0;
      char arg[16] = "";
      gint64 t0 = 0, t1 = 0;
      int rv = -EINVAL;
      char reply[64];

      if (sscanf (line, "init %1024s %llu %48s %48s", path, &offset, ls, name) == 4)
        {
          rv = copy_name (res->lockspace_name, ls);
          if (rv == 0)
            rv = copy_name (res->name, name);
          res->num_disks = 1;
          g_strlcpy (res->disks[0].path, path, sizeof res->disks[0].path);
          res->disks[0].offset = offset;
        }
      else if (g_str_has_prefix (line, "write") || g_str_has_prefix (line, "clear"))
        {
          /* The layout vmleased writes its own leases with. */
          res->flags = SANLK_RES_ALIGN1M | SANLK_RES_SECTOR512;
          rv = sanlock_write_resource (res, 0, 0, line[0] == 'c' ? SANLK_WRITE_CLEAR : 0);
          res->flags = 0;
        }
      else if (sscanf (line, "acquire %15s", arg) == 1)
        {
          res->flags = g_str_equal (arg, "sh") ? SANLK_RES_SHARED : 0;
          t0 = now_ns ();
          rv = sanlock_acquire (-1, holder, 0, 1, list, NULL);
          t1 = now_ns ();
          res->flags = 0;
        }
      else if (sscanf (line, "convert %15s", arg) == 1)
        {
          res->flags = g_str_equal (arg, "sh") ? SANLK_RES_SHARED : 0;
          t0 = now_ns ();
          rv = sanlock_convert (-1, holder, 0, res);
          t1 = now_ns ();
          res->flags = 0;
        }
      else if (g_str_has_prefix (line, "release"))
        {
          t0 = now_ns ();
          rv = sanlock_release (-1, holder, 0, 1, list);
          t1 = now_ns ();
        }
      g_snprintf (reply, sizeof reply, "%d %" G_GINT64_FORMAT "\n", rv, t1 - t0);
      if (write (out, reply, strlen (reply)) < 0)
        break;
    }
  close (keep);
  waitpid (holder, NULL, 0);
  _exit (0);
}

static gboolean
helper_start (Helper *h, int host, const char *run_dir, GError **error)
{
  int cmd[2], rep[2];
  pid_t pid;

  if (pipe (cmd) < 0 || pipe (rep) < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "pipe: %s", g_strerror (errno));
      return FALSE;
    }
  fflush (NULL);
  pid = fork ();
  if (pid < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "fork: %s", g_strerror (errno));
      return FALSE;
    }
  if (pid == 0)
    {
      /* Only its own pipe ends: the other helper's must see EOF when the
       * bench closes them. */
      for (int fd = 3; fd < 1024; fd++)
        if (fd != cmd[0] && fd != rep[1])
          close (fd);
      /* Before this process's first libsanlock call, which reads it once. */
      setenv ("SANLOCK_RUN_DIR", run_dir, 1);
      setenv ("SANLOCK_PRIVILEGED", "0", 1);
      helper_main (cmd[0], rep[1]);
    }
  close (cmd[0]);
  close (rep[1]);
  h->host = host;
  h->pid = pid;
  h->to = cmd[1];
  h->from = rep[0];
  h->replies = fdopen (rep[0], "r");
  return TRUE;
}

/* One command; its sanlock call's time in µs, or < 0 with @error. */
static double
helper_do (Helper *h, const char *cmd, GError **error)
{
  char line[128];
  long long ns = 0;
  int rv = 0;

  if (write (h->to, cmd, strlen (cmd)) < 0 || write (h->to, "\n", 1) < 0 ||
      fgets (line, sizeof line, h->replies) == NULL ||
      sscanf (line, "%d %lld", &rv, &ns) != 2)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                   "the raw helper of host %d is gone (command '%s')", h->host, cmd);
      return -1;
    }
  if (rv < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "raw %s on host %d: %s (%d)",
                   cmd, h->host, sanlock_strerror (rv), rv);
      return -1;
    }
  return ns / 1000.0;
}

static void
helper_stop (Helper *h)
{
  if (h->pid <= 0)
    return;
  close (h->to);
  fclose (h->replies);
  waitpid (h->pid, NULL, 0);
  h->pid = 0;
}

/* ---- the observer ------------------------------------------------------------ */

typedef struct {
  struct sanlk_resource *res;   /* with its disk */
  char                  *label;
} Watched;

typedef struct {
  Watched   watched[3 + MAX_DISKS];   /* lease, raw, disk lease, its disks */
  guint     n_watched;
  guint     interval_us;
  gint      stop;
  GThread  *thread;
  GMutex    lock;
  GArray   *times;        /* gint64 µs of each sample */
  Series    read;         /* how long one sanlock_read_resource_owners took */
  guint64   samples;
  guint64   gaps;
  guint64   errors;
  char     *first_gap;
} Observer;

static gpointer
observer_thread (gpointer data)
{
  Observer *o = data;

  while (!g_atomic_int_get (&o->stop))
    {
      for (guint i = 0; i < o->n_watched; i++)
        {
          struct sanlk_host *hosts = NULL;
          int n = 0, rv;
          gint64 t = g_get_monotonic_time ();

          rv = sanlock_read_resource_owners (o->watched[i].res, 0, &hosts, &n);
          g_mutex_lock (&o->lock);
          vml_bench_series_add (&o->read, (double) (g_get_monotonic_time () - t));
          if (rv < 0)
            o->errors++;
          else
            {
              o->samples++;
              g_array_append_val (o->times, t);
              if (n == 0)
                {
                  o->gaps++;
                  if (o->first_gap == NULL)
                    o->first_gap = g_strdup_printf ("%s at %.3f s", o->watched[i].label,
                                                    t / 1e6);
                }
            }
          g_mutex_unlock (&o->lock);
          free (hosts);
        }
      g_usleep (o->interval_us);
    }
  return NULL;
}

static struct sanlk_resource *
new_resource (const char *lockspace, const char *name, const char *path, guint64 offset)
{
  struct sanlk_resource *res = g_malloc0 (sizeof (struct sanlk_resource) + sizeof (struct sanlk_disk));

  copy_name (res->lockspace_name, lockspace);
  copy_name (res->name, name);
  res->num_disks = 1;
  g_strlcpy (res->disks[0].path, path, sizeof res->disks[0].path);
  res->disks[0].offset = offset;
  return res;
}

/* ---- the bench ----------------------------------------------------------------- */

enum { V_BEGIN, V_PREPARE, V_PERFORM, V_FINISH, V_CONFIRM, V_BLACKOUT, N_VSERIES };
enum { R_TO_SHARED, R_ACQUIRE_SH, R_RELEASE, R_TO_EXCLUSIVE, R_BLACKOUT, N_RSERIES };

typedef struct {
  /* options */
  int       rounds;
  int       warmup;
  gboolean  json;
  char     *sandbox;
  char     *lockspace;
  guint64   raw_offset;
  int       observe_ms;
  int       disks;

  /* set up */
  char            *address[N_HOSTS + 1];
  char            *run_dir[N_HOSTS + 1];
  GDBusConnection *bus[N_HOSTS + 1];
  Helper           helper[N_HOSTS + 1];
  char            *uuid;
  char            *lease_path;
  gboolean         lease_created;
  char            *storage;
  guint64          lease_offset;
  char            *raw_name;
  gboolean         raw_written;
  int              raw_owner;         /* host holding the raw resource EX, 0 none */
  int              vml_owner;
  Observer         observer;
  GArray          *windows;           /* pairs of gint64 µs: blackouts */
  Series           vml[N_VSERIES];
  Series           raw[N_RSERIES];
  Series           bus_floor;     /* two D-Bus round trips that do no work */
  /* --disks: a second lease, held with that many disk leases */
  char            *disk_uuid;
  char            *disk_lease_path;
  gboolean         disk_lease_created;
  guint64          disk_lease_offset;
  GVariant        *disk_info;     /* Inquire's "disks" of it, aa{sv} */
  Series           vml_disks[N_VSERIES];
} Bench;

static gboolean
read_env_file (const char *path, char **address, char **run_dir, GError **error)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &text, NULL, error))
    return FALSE;
  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      char *line = g_strstrip (*l), *eq;
      char *value;

      if (g_str_has_prefix (line, "export "))
        line = g_strchug (line + 6);
      if ((eq = strchr (line, '=')) == NULL)
        continue;
      *eq = '\0';
      value = g_shell_unquote (eq + 1, NULL);
      if (g_str_equal (line, "DBUS_SYSTEM_BUS_ADDRESS"))
        {
          g_free (*address);
          *address = value;
        }
      else if (g_str_equal (line, "SANLOCK_RUN_DIR"))
        {
          g_free (*run_dir);
          *run_dir = value;
        }
      else
        g_free (value);
    }
  if (*address == NULL || *run_dir == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s sets no DBUS_SYSTEM_BUS_ADDRESS or SANLOCK_RUN_DIR", path);
      return FALSE;
    }
  return TRUE;
}

static GVariant *
call (Bench *b, int host, const char *path, const char *iface, const char *method,
      GVariant *params, const char *reply_type, GError **error)
{
  GVariant *r = vml_bench_bus_call (b->bus[host], path, iface, method, params, reply_type,
                                    error);
  if (r == NULL)
    g_prefix_error (error, "%s on host %d: ", method, host);
  return r;
}

static gboolean
lease_call (Bench *b, int host, const char *method, GError **error)
{
  g_autoptr(GVariant) r = call (b, host, b->lease_path, LEASE_IFACE, method,
                                g_variant_new ("(a{sv})", NULL), "()", error);
  return r != NULL;
}

static gboolean
find_lockspace (Bench *b, GError **error)
{
  g_autoptr(GVariant) reply = NULL, value = NULL;
  GVariantIter iter;
  const char *name, *path, *state;
  guint64 host_id, offset;
  guint32 io_timeout;

  reply = call (b, 1, MANAGER_PATH, "org.freedesktop.DBus.Properties", "Get",
                g_variant_new ("(ss)", MANAGER_IFACE, "Lockspaces"), "(v)", error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(v)", &value);
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE ("a(ststsu)")))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the Lockspaces property has type %s", g_variant_get_type_string (value));
      return FALSE;
    }
  g_variant_iter_init (&iter, value);
  while (g_variant_iter_next (&iter, "(&st&st&su)", &name, &host_id, &path, &offset,
                              &state, &io_timeout))
    if (g_str_equal (name, b->lockspace))
      {
        if (!g_str_equal (state, "joined"))
          {
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                         "lockspace '%s' is %s on host 1, not joined", name, state);
            return FALSE;
          }
        b->storage = g_strdup (path);
        if (b->raw_offset < offset + 64 * MIB)
          {
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                         "--raw-offset-mib must leave the lockspace and its first leases alone");
            return FALSE;
          }
        return TRUE;
      }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "host 1 has no lockspace '%s'", b->lockspace);
  return FALSE;
}

static gboolean
setup_lease (Bench *b, GError **error)
{
  g_autoptr(GVariant) r = NULL, info = NULL;
  GVariantBuilder opts;

  g_variant_builder_init (&opts, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&opts, "{sv}", "name", g_variant_new_string ("vml-bench-handoff"));
  r = call (b, 1, MANAGER_PATH, MANAGER_IFACE, "CreateLease",
            g_variant_new ("(ssa{sv})", b->uuid, b->lockspace, &opts), "(o)", error);
  if (r == NULL)
    return FALSE;
  g_variant_get (r, "(o)", &b->lease_path);
  b->lease_created = TRUE;
  g_clear_pointer (&r, g_variant_unref);
  r = call (b, 2, MANAGER_PATH, MANAGER_IFACE, "GetLease", g_variant_new ("(s)", b->uuid),
            "(o)", error);
  if (r == NULL || !lease_call (b, 1, "Acquire", error))
    return FALSE;
  b->vml_owner = 1;
  g_clear_pointer (&r, g_variant_unref);
  r = call (b, 1, b->lease_path, LEASE_IFACE, "Inquire", g_variant_new ("(a{sv})", NULL),
            "(a{sv})", error);
  if (r == NULL)
    return FALSE;
  info = g_variant_get_child_value (r, 0);
  if (!g_variant_lookup (info, "offset", "t", &b->lease_offset))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Inquire gave no offset");
      return FALSE;
    }
  return TRUE;
}

/* --disks: a second lease, held on host 1 with b->disks disk leases of the
 * bench's own keys, exported on host 2; where its disks are on storage. */
static gboolean
setup_disk_lease (Bench *b, GError **error)
{
  g_autoptr(GVariant) r = NULL, info = NULL;
  GVariantBuilder opts, disks;

  b->disk_uuid = g_uuid_string_random ();
  g_variant_builder_init (&opts, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&opts, "{sv}", "name", g_variant_new_string ("vml-bench-handoff-disks"));
  r = call (b, 1, MANAGER_PATH, MANAGER_IFACE, "CreateLease",
            g_variant_new ("(ssa{sv})", b->disk_uuid, b->lockspace, &opts), "(o)", error);
  if (r == NULL)
    return FALSE;
  g_variant_get (r, "(o)", &b->disk_lease_path);
  b->disk_lease_created = TRUE;
  g_clear_pointer (&r, g_variant_unref);
  r = call (b, 2, MANAGER_PATH, MANAGER_IFACE, "GetLease", g_variant_new ("(s)", b->disk_uuid),
            "(o)", error);
  if (r == NULL)
    return FALSE;
  g_clear_pointer (&r, g_variant_unref);

  g_variant_builder_init (&disks, G_VARIANT_TYPE ("a(ss)"));
  for (int i = 0; i < b->disks; i++)
    {
      g_autofree char *key = g_strdup_printf ("vml-bench-handoff-%d-disk-%02d", (int) getpid (), i);
      g_variant_builder_add (&disks, "(ss)", key, "exclusive");
    }
  g_variant_builder_init (&opts, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&opts, "{sv}", "disks", g_variant_builder_end (&disks));
  r = call (b, 1, b->disk_lease_path, LEASE_IFACE, "Acquire", g_variant_new ("(a{sv})", &opts),
            "()", error);
  if (r == NULL)
    return FALSE;
  g_clear_pointer (&r, g_variant_unref);

  r = call (b, 1, b->disk_lease_path, LEASE_IFACE, "Inquire", g_variant_new ("(a{sv})", NULL),
            "(a{sv})", error);
  if (r == NULL)
    return FALSE;
  info = g_variant_get_child_value (r, 0);
  b->disk_info = g_variant_lookup_value (info, "disks", G_VARIANT_TYPE ("aa{sv}"));
  if (!g_variant_lookup (info, "offset", "t", &b->disk_lease_offset) || b->disk_info == NULL ||
      g_variant_n_children (b->disk_info) != (gsize) b->disks)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Inquire of the lease with disks gave no offset, or not %d \"disks\"",
                   b->disks);
      return FALSE;
    }
  return TRUE;
}

/* The observer watches the lease with disks and each of its disks too. */
static void
watch_disk_lease (Bench *b)
{
  Observer *o = &b->observer;

  o->watched[o->n_watched].res = new_resource (b->lockspace, b->disk_uuid, b->storage,
                                               b->disk_lease_offset);
  o->watched[o->n_watched++].label = g_strdup ("the vmleased lease with disks");
  for (gsize i = 0; i < g_variant_n_children (b->disk_info); i++)
    {
      g_autoptr(GVariant) disk = g_variant_get_child_value (b->disk_info, i);
      const char *resource = "", *key = "";
      guint64 offset = 0;

      g_variant_lookup (disk, "resource", "&s", &resource);
      g_variant_lookup (disk, "key", "&s", &key);
      g_variant_lookup (disk, "offset", "t", &offset);
      o->watched[o->n_watched].res = new_resource (b->lockspace, resource, b->storage, offset);
      o->watched[o->n_watched++].label = g_strdup_printf ("disk %s", key);
    }
}

/* A failed round may have left a hand-off of the lease at @path half
 * done: undo it (destination first), then release it where it is held. */
static void
undo_lease (Bench *b, const char *path)
{
  for (int k = N_HOSTS; k >= 1; k--)
    {
      g_autoptr(GVariant) r = NULL;
      g_autoptr(GError) ignored = NULL;
      GVariantBuilder o;

      g_variant_builder_init (&o, G_VARIANT_TYPE ("a{sv}"));
      g_variant_builder_add (&o, "{sv}", "wait", g_variant_new_uint32 (5));
      r = g_dbus_connection_call_sync (b->bus[k], BUS_NAME, path, LEASE_IFACE,
                                       "Transfer", g_variant_new ("(ssa{sv})", "cancel", "", &o),
                                       NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL,
                                       &ignored);
    }
  for (int k = 1; k <= N_HOSTS; k++)
    {
      g_autoptr(GVariant) r = NULL;
      g_autoptr(GError) ignored = NULL;

      r = call (b, k, path, LEASE_IFACE, "Release", g_variant_new ("(a{sv})", NULL), "()",
                &ignored);
    }
}

static void
cleanup_disk_lease (Bench *b)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) r = NULL;

  if (!b->disk_lease_created)
    return;
  undo_lease (b, b->disk_lease_path);
  r = call (b, 1, MANAGER_PATH, MANAGER_IFACE, "DeleteLease",
            g_variant_new ("(sa{sv})", b->disk_uuid, NULL), "()", &error);
  if (r == NULL)
    g_printerr ("vml-bench-handoff: %s\n", error->message);
}

static gboolean
setup_raw (Bench *b, GError **error)
{
  for (int k = 1; k <= N_HOSTS; k++)
    {
      g_autofree char *init = g_strdup_printf ("init %s %" G_GUINT64_FORMAT " %s %s", b->storage,
                                               b->raw_offset, b->lockspace, b->raw_name);
      if (helper_do (&b->helper[k], init, error) < 0)
        return FALSE;
    }
  if (helper_do (&b->helper[1], "write", error) < 0)
    return FALSE;
  b->raw_written = TRUE;
  if (helper_do (&b->helper[1], "acquire ex", error) < 0)
    return FALSE;
  b->raw_owner = 1;
  return TRUE;
}

static void
add_window (Bench *b, gint64 t0, gint64 t1)
{
  g_array_append_val (b->windows, t0);
  g_array_append_val (b->windows, t1);
}

/* One hand-off src -> dst through vmleased, of the lease at @path, into
 * @series (N_VSERIES of them). */
static gboolean
handoff_lease (Bench *b, const char *path, Series *series, int src, int dst,
               gboolean measured, GError **error)
{
  const char *steps[] = { "begin", "prepare", "perform", "finish", "confirm" };
  const int where[] = { src, dst, src, dst, src };
  g_autofree char *token = g_strdup ("");
  gint64 t[G_N_ELEMENTS (steps) + 1];

  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    {
      g_autoptr(GVariant) r = NULL;

      t[i] = g_get_monotonic_time ();
      r = call (b, where[i], path, LEASE_IFACE, "Transfer",
                g_variant_new ("(ssa{sv})", steps[i], token, NULL), "(s)", error);
      if (r == NULL)
        return FALSE;
      g_free (token);
      g_variant_get (r, "(s)", &token);
    }
  t[G_N_ELEMENTS (steps)] = g_get_monotonic_time ();
  if (!measured)
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    vml_bench_series_add (&series[i], (double) (t[i + 1] - t[i]));
  vml_bench_series_add (&series[V_BLACKOUT], (double) (t[V_FINISH + 1] - t[V_PERFORM]));
  add_window (b, t[V_PERFORM], t[V_FINISH + 1]);
  return TRUE;
}

static gboolean
handoff_vmleased (Bench *b, int src, int dst, gboolean measured, GError **error)
{
  if (!handoff_lease (b, b->lease_path, b->vml, src, dst, measured, error))
    return FALSE;
  b->vml_owner = dst;
  return TRUE;
}

/* The lease with disks; nothing without --disks. */
static gboolean
handoff_disks (Bench *b, int src, int dst, gboolean measured, GError **error)
{
  if (b->disks == 0)
    return TRUE;
  if (!handoff_lease (b, b->disk_lease_path, b->vml_disks, src, dst, measured, error))
    {
      g_prefix_error (error, "the lease with %d disks: ", b->disks);
      return FALSE;
    }
  return TRUE;
}

/* The same sanlock operations, raw. */
static gboolean
handoff_raw (Bench *b, int src, int dst, gboolean measured, GError **error)
{
  double us[N_RSERIES];
  gint64 t0, t1;

  if ((us[R_TO_SHARED] = helper_do (&b->helper[src], "convert sh", error)) < 0 ||
      (us[R_ACQUIRE_SH] = helper_do (&b->helper[dst], "acquire sh", error)) < 0)
    return FALSE;
  t0 = g_get_monotonic_time ();
  if ((us[R_RELEASE] = helper_do (&b->helper[src], "release", error)) < 0)
    return FALSE;
  b->raw_owner = dst;   /* holds it shared now, exclusively next */
  if ((us[R_TO_EXCLUSIVE] = helper_do (&b->helper[dst], "convert ex", error)) < 0)
    return FALSE;
  t1 = g_get_monotonic_time ();
  if (!measured)
    return TRUE;
  for (int i = 0; i < R_BLACKOUT; i++)
    vml_bench_series_add (&b->raw[i], us[i]);
  vml_bench_series_add (&b->raw[R_BLACKOUT], (double) (t1 - t0));
  add_window (b, t0, t1);
  return TRUE;
}

/* What any D-Bus service pays for the two calls of a blackout (perform on
 * the source, finish on the destination): Properties.Get of the lease's
 * State from each host's vmleased, in the same order, on the same
 * connections. */
static gboolean
bus_floor (Bench *b, int src, int dst, gboolean measured, GError **error)
{
  const int where[] = { src, dst };
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < G_N_ELEMENTS (where); i++)
    {
      g_autoptr(GVariant) r = call (b, where[i], b->lease_path, "org.freedesktop.DBus.Properties",
                                    "Get", g_variant_new ("(ss)", LEASE_IFACE, "State"), "(v)",
                                    error);
      if (r == NULL)
        return FALSE;
    }
  if (measured)
    vml_bench_series_add (&b->bus_floor, (double) (g_get_monotonic_time () - t0));
  return TRUE;
}

static gboolean
run_rounds (Bench *b, GError **error)
{
  for (int r = 0; r < b->warmup + b->rounds; r++)
    {
      gboolean measured = r >= b->warmup;

      if (!handoff_vmleased (b, 1, 2, measured, error) ||
          !handoff_disks (b, 1, 2, measured, error) ||
          !handoff_raw (b, 1, 2, measured, error) ||
          !bus_floor (b, 1, 2, measured, error) ||
          !handoff_vmleased (b, 2, 1, measured, error) ||
          !handoff_disks (b, 2, 1, measured, error) ||
          !handoff_raw (b, 2, 1, measured, error) ||
          !bus_floor (b, 2, 1, measured, error))
        {
          g_prefix_error (error, "round %d: ", r + 1);
          return FALSE;
        }
    }
  return TRUE;
}

static guint64
samples_in_windows (Bench *b)
{
  guint64 n = 0;
  gint64 *w = (gint64 *) b->windows->data;
  gint64 *s = (gint64 *) b->observer.times->data;

  for (guint i = 0; i < b->observer.times->len; i++)
    for (guint j = 0; j + 1 < b->windows->len; j += 2)
      if (s[i] >= w[j] && s[i] <= w[j + 1])
        {
          n++;
          break;
        }
  return n;
}

/* ---- output --------------------------------------------------------------------- */

static void
json_series (GString *out, Series *s, gboolean first)
{
  g_string_append_printf (out, "%s\"%s\":{\"median\":%.1f,\"p90\":%.1f,\"mean\":%.1f,"
                          "\"min\":%.1f,\"max\":%.1f}", first ? "" : ",", s->name,
                          s->median, s->p90, s->mean, s->min, s->max);
}

static void
print_series (Series *s)
{
  printf ("  %-13s %9.3f %9.3f %9.3f %9.3f %9.3f   %s\n", s->name, s->median / 1000,
          s->p90 / 1000, s->mean / 1000, s->min / 1000, s->max / 1000, s->what);
}

static void
report (Bench *b)
{
  g_autofree char *machine = vml_bench_machine_description ();
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *when = g_date_time_format_iso8601 (now);
  Series *vb = &b->vml[V_BLACKOUT], *rb = &b->raw[R_BLACKOUT];
  guint64 in_windows = samples_in_windows (b);
  double ratio;
  gboolean met;

  for (int i = 0; i < N_VSERIES; i++)
    vml_bench_series_summarize (&b->vml[i]);
  for (int i = 0; i < N_RSERIES; i++)
    vml_bench_series_summarize (&b->raw[i]);
  for (int i = 0; i < N_VSERIES && b->disks > 0; i++)
    vml_bench_series_summarize (&b->vml_disks[i]);
  vml_bench_series_summarize (&b->observer.read);
  vml_bench_series_summarize (&b->bus_floor);
  ratio = rb->median > 0 ? vb->median / rb->median : 0;
  met = ratio <= TARGET_RATIO;

  if (b->json)
    {
      g_autoptr(GString) out = g_string_new ("{\"benchmark\":\"handoff\",\"date\":\"");

      g_string_append_printf (out, "%s\",\"machine\":\"%s\",\"storage\":\"%s\","
                              "\"rounds\":%d,\"handoffs_per_series\":%d,\"unit\":\"us\","
                              "\"vmleased\":{", when, machine, b->storage, b->rounds,
                              2 * b->rounds);
      for (int i = 0; i < N_VSERIES; i++)
        json_series (out, &b->vml[i], i == 0);
      g_string_append (out, "},\"raw\":{");
      for (int i = 0; i < N_RSERIES; i++)
        json_series (out, &b->raw[i], i == 0);
      g_string_append (out, "}");
      if (b->disks > 0)
        {
          Series *db = &b->vml_disks[V_BLACKOUT];

          g_string_append_printf (out, ",\"disks\":%d,\"vmleased_disks\":{", b->disks);
          for (int i = 0; i < N_VSERIES; i++)
            json_series (out, &b->vml_disks[i], i == 0);
          g_string_append_printf (out, "},\"disks_ratio\":%.3f,\"per_disk_us\":%.1f",
                                  vb->median > 0 ? db->median / vb->median : 0,
                                  (db->median - vb->median) / b->disks);
        }
      json_series (out, &b->bus_floor, FALSE);
      g_string_append_printf (out, ",\"ratio\":%.3f,\"target\":%.2f,\"target_met\":%s,"
                              "\"observer\":{\"samples\":%" G_GUINT64_FORMAT ","
                              "\"in_blackouts\":%" G_GUINT64_FORMAT ",\"gaps\":%" G_GUINT64_FORMAT
                              ",\"errors\":%" G_GUINT64_FORMAT ",\"read_owners_median\":%.1f}}",
                              ratio, TARGET_RATIO, met ? "true" : "false",
                              b->observer.samples, in_windows, b->observer.gaps,
                              b->observer.errors, b->observer.read.median);
      puts (out->str);
      return;
    }

  printf ("vml-bench-handoff: %d rounds (+%d warm-up) of a hand-off 1 -> 2 and 2 -> 1, %s\n",
          b->rounds, b->warmup, when);
  printf ("machine: %s\nstorage: %s (lockspace %s)\n\n", machine, b->storage, b->lockspace);
  printf ("vmleased (Transfer over D-Bus, %d hand-offs), ms:\n", 2 * b->rounds);
  printf ("  %-13s %9s %9s %9s %9s %9s\n", "", "median", "p90", "mean", "min", "max");
  for (int i = 0; i < N_VSERIES; i++)
    print_series (&b->vml[i]);
  if (b->disks > 0)
    {
      printf ("vmleased, the lease with %d disks (%d hand-offs), ms:\n", b->disks,
              2 * b->rounds);
      for (int i = 0; i < N_VSERIES; i++)
        print_series (&b->vml_disks[i]);
    }
  printf ("raw libsanlock (pid-targeted, %d hand-offs), ms:\n", 2 * b->rounds);
  for (int i = 0; i < N_RSERIES; i++)
    print_series (&b->raw[i]);
  printf ("D-Bus alone (%d pairs), ms:\n", 2 * b->rounds);
  print_series (&b->bus_floor);
  printf ("\nblackout median: vmleased %.3f ms, raw %.3f ms\n", vb->median / 1000,
          rb->median / 1000);
  printf ("beyond raw: %.3f ms, of which the two calls' D-Bus round trips %.3f ms\n",
          (vb->median - rb->median) / 1000, b->bus_floor.median / 1000);
  printf ("ratio vmleased/raw (medians): %.2f\n", ratio);
  printf ("target ratio <= %.2f: %s\n", TARGET_RATIO, met ? "met" : "not met");
  if (b->disks > 0)
    {
      Series *db = &b->vml_disks[V_BLACKOUT];

      printf ("with %d disks: blackout median %.3f ms, ratio to 0 disks %.2f, each disk adds "
              "%.3f ms (perform %.3f, finish %.3f)\n", b->disks, db->median / 1000,
              vb->median > 0 ? db->median / vb->median : 0,
              (db->median - vb->median) / b->disks / 1000,
              (b->vml_disks[V_PERFORM].median - b->vml[V_PERFORM].median) / b->disks / 1000,
              (b->vml_disks[V_FINISH].median - b->vml[V_FINISH].median) / b->disks / 1000);
    }
  printf ("observer: %" G_GUINT64_FORMAT " samples of %u resources (%" G_GUINT64_FORMAT
          " inside blackouts), %" G_GUINT64_FORMAT " read errors: %s\n",
          b->observer.samples, b->observer.n_watched, in_windows, b->observer.errors,
          b->observer.gaps == 0 ? "no moment without a holder"
                                : "MOMENTS WITHOUT A HOLDER");
  printf ("observer: one sanlock_read_resource_owners (what vmleased reads storage with) "
          "took %.3f ms (median)\n", b->observer.read.median / 1000);
  if (b->observer.gaps)
    printf ("observer: %" G_GUINT64_FORMAT " samples found no holder, first: %s\n",
            b->observer.gaps, b->observer.first_gap);
}

/* ---- main ------------------------------------------------------------------------ */

static void
cleanup (Bench *b)
{
  g_autoptr(GError) error = NULL;

  if (b->lease_created)
    {
      undo_lease (b, b->lease_path);
      if (!call (b, 1, MANAGER_PATH, MANAGER_IFACE, "DeleteLease",
                 g_variant_new ("(sa{sv})", b->uuid, NULL), "()", &error))
        g_printerr ("vml-bench-handoff: %s\n", error->message);
    }
  cleanup_disk_lease (b);
  if (b->raw_written)
    {
      g_autoptr(GError) e3 = NULL;

      for (int k = 1; k <= N_HOSTS; k++)
        {
          g_autoptr(GError) ignored = NULL;
          helper_do (&b->helper[k], "release", &ignored);
        }
      if (helper_do (&b->helper[1], "clear", &e3) < 0)
        g_printerr ("vml-bench-handoff: cannot clear the raw resource: %s\n", e3->message);
    }
  for (int k = 1; k <= N_HOSTS; k++)
    helper_stop (&b->helper[k]);
}

int
main (int argc, char **argv)
{
  Bench b = { .rounds = 50, .warmup = 3, .observe_ms = 10 };
  g_autofree char *lockspace = NULL;
  gint64 raw_offset = 420;
  g_autoptr(GOptionContext) ctx = NULL;
  g_autoptr(GError) error = NULL;
  const GOptionEntry entries[] = {
    { "sandbox", 0, 0, G_OPTION_ARG_FILENAME, &b.sandbox,
      "The sandbox directory (host1.env, host2.env) (required)", "DIR" },
    { "rounds", 'n', 0, G_OPTION_ARG_INT, &b.rounds,
      "Measured rounds, each a hand-off 1 -> 2 and 2 -> 1 per series (50)", "N" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &b.warmup, "Unmeasured rounds first (3)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &b.json, "Print one JSON object", NULL },
    { "lockspace", 0, 0, G_OPTION_ARG_STRING, &lockspace, "Lockspace (sandbox)", "NAME" },
    { "raw-offset-mib", 0, 0, G_OPTION_ARG_INT64, &raw_offset,
      "Where the raw resource goes in the lease file, MiB (420)", "MIB" },
    { "disks", 0, 0, G_OPTION_ARG_INT, &b.disks,
      "Also hand off a lease held with N disk leases, against the one without (0)", "N" },
    { "observe-ms", 0, 0, G_OPTION_ARG_INT, &b.observe_ms,
      "Pause between the observer's reads of both resources, ms (10)", "MS" },
    { NULL }
  };
  Observer *o = &b.observer;
  int rc = 0;

  ctx = g_option_context_new ("- the blackout of a hand-off through vmleased vs raw libsanlock");
  g_option_context_set_description (ctx,
    "Needs a running sandbox of 2 or more hosts; bench/handoff sets one up.\n"
    "See docs/benchmarks.md.\n");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("vml-bench-handoff: %s\n", error->message);
      return 2;
    }
  if (b.sandbox == NULL || b.rounds < 1 || b.warmup < 0 || raw_offset < 0 || b.observe_ms < 0 ||
      b.disks < 0 || b.disks > MAX_DISKS)
    {
      g_printerr ("vml-bench-handoff: --sandbox DIR is required; --rounds >= 1, --warmup, "
                  "--raw-offset-mib and --observe-ms >= 0; --disks 0 to 64\n");
      return 2;
    }
  b.lockspace = lockspace ? g_steal_pointer (&lockspace) : g_strdup ("sandbox");
  b.raw_offset = (guint64) raw_offset * MIB;
  for (int k = 1; k <= N_HOSTS; k++)
    {
      g_autofree char *env = g_strdup_printf ("%s/host%d.env", b.sandbox, k);

      if (!read_env_file (env, &b.address[k], &b.run_dir[k], &error))
        {
          g_printerr ("vml-bench-handoff: %s\n", error->message);
          return 2;
        }
    }
  signal (SIGPIPE, SIG_IGN);

  /* The helpers first: fork before any thread exists (GDBus starts one)
   * and before this process's own first libsanlock call. */
  for (int k = 1; k <= N_HOSTS; k++)
    if (!helper_start (&b.helper[k], k, b.run_dir[k], &error))
      {
        g_printerr ("vml-bench-handoff: %s\n", error->message);
        return 1;
      }
  /* This process reads owners through host 1's daemon. */
  g_setenv ("SANLOCK_RUN_DIR", b.run_dir[1], TRUE);
  g_setenv ("SANLOCK_PRIVILEGED", "0", TRUE);

  for (int i = 0; i < N_VSERIES; i++)
    vml_bench_series_init (&b.vml[i], (const char *[]) { "begin", "prepare", "perform", "finish",
                                                "confirm", "BLACKOUT" }[i],
                 (const char *[]) { "source: exclusive to shared",
                                    "destination: check T1, acquire shared",
                                    "source: release", "destination: shared to exclusive",
                                    "source: forget",
                                    "perform start to finish return" }[i]);
  for (int i = 0; i < N_RSERIES; i++)
    vml_bench_series_init (&b.raw[i], (const char *[]) { "convert->SH", "acquire SH", "release",
                                                "convert->EX", "BLACKOUT" }[i],
                 (const char *[]) { "source", "destination", "source", "destination",
                                    "release start to convert return" }[i]);
  b.windows = g_array_new (FALSE, FALSE, sizeof (gint64));
  o->times = g_array_new (FALSE, FALSE, sizeof (gint64));
  vml_bench_series_init (&o->read, "read owners", "sanlock_read_resource_owners");
  for (int i = 0; i < N_VSERIES; i++)
    vml_bench_series_init (&b.vml_disks[i], b.vml[i].name, b.vml[i].what);
  vml_bench_series_init (&b.bus_floor, "bus_floor", "Properties.Get on the source, then the destination");
  g_mutex_init (&o->lock);
  b.uuid = g_uuid_string_random ();
  b.raw_name = g_strdup_printf ("vml-bench-handoff-raw-%d", (int) getpid ());

  for (int k = 1; k <= N_HOSTS && rc == 0; k++)
    {
      b.bus[k] = g_dbus_connection_new_for_address_sync (
        b.address[k], G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
      if (b.bus[k] == NULL)
        {
          g_printerr ("vml-bench-handoff: cannot connect to host %d's bus: %s\n", k,
                      error->message);
          rc = 1;
        }
    }
  if (rc == 0 && (!find_lockspace (&b, &error) || !setup_lease (&b, &error) ||
                  (b.disks > 0 && !setup_disk_lease (&b, &error)) ||
                  !setup_raw (&b, &error)))
    {
      g_printerr ("vml-bench-handoff: %s\n", error->message);
      rc = 1;
    }
  if (rc == 0)
    {
      o->watched[0].res = new_resource (b.lockspace, b.uuid, b.storage, b.lease_offset);
      o->watched[0].label = g_strdup ("the vmleased lease");
      o->watched[1].res = new_resource (b.lockspace, b.raw_name, b.storage, b.raw_offset);
      o->watched[1].label = g_strdup ("the raw resource");
      o->n_watched = 2;
      if (b.disks > 0)
        watch_disk_lease (&b);
      o->interval_us = (guint) b.observe_ms * 1000;
      o->thread = g_thread_new ("observer", observer_thread, o);
      if (!run_rounds (&b, &error))
        {
          g_printerr ("vml-bench-handoff: %s\n", error->message);
          rc = 1;
        }
      g_atomic_int_set (&o->stop, 1);
      g_thread_join (o->thread);
    }
  cleanup (&b);
  if (rc == 0)
    {
      report (&b);
      if (o->gaps > 0)
        rc = 3;
    }

  for (int i = 0; i < N_VSERIES; i++)
    vml_bench_series_clear (&b.vml[i]);
  for (int i = 0; i < N_RSERIES; i++)
    vml_bench_series_clear (&b.raw[i]);
  vml_bench_series_clear (&b.bus_floor);
  g_array_unref (b.windows);
  g_array_unref (o->times);
  vml_bench_series_clear (&o->read);
  for (guint i = 0; i < o->n_watched; i++)
    {
      g_free (o->watched[i].res);
      g_free (o->watched[i].label);
    }
  for (int i = 0; i < N_VSERIES; i++)
    vml_bench_series_clear (&b.vml_disks[i]);
  g_clear_pointer (&b.disk_info, g_variant_unref);
  g_free (b.disk_uuid);
  g_free (b.disk_lease_path);
  g_free (o->first_gap);
  for (int k = 1; k <= N_HOSTS; k++)
    {
      g_clear_object (&b.bus[k]);
      g_free (b.address[k]);
      g_free (b.run_dir[k]);
    }
  g_free (b.uuid);
  g_free (b.raw_name);
  g_free (b.lease_path);
  g_free (b.storage);
  g_free (b.lockspace);
  g_free (b.sandbox);
  return rc;
}
