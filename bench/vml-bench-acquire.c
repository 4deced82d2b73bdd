/* vml-bench-acquire: what an Acquire + Release through vmleased costs,
 * against what a lease holder does through raw libsanlock, in the same run
 * on the same storage.
 *
 * Needs a running sandbox host (tools/vmlease-sandbox; bench/acquire starts
 * one): DBUS_SYSTEM_BUS_ADDRESS and SANLOCK_RUN_DIR of that host, its
 * lockspace joined. Per round, interleaved so that drift hits every series
 * alike:
 *
 *   vmleased  Acquire({}) + Release({}) on a lease object made for the bench
 *             (CreateLease, DeleteLease at the end), two synchronous D-Bus
 *             calls on one GDBusConnection, as a real client makes them.
 *             Includes everything vmleased does: holder start, sanlock work,
 *             state records, replies.
 *   raw       in this process, what a holder does: sanlock_register(),
 *             sanlock_acquire(sock, -1, ...), sanlock_release(), close(),
 *             on a second resource in the same lockspace and lease file.
 *
 * With --breakdown, three more series split the difference without touching
 * vmleased (each in this process, same run):
 *
 *   holder    vmleased's sanlock work, minus D-Bus and vmleased: start
 *             vmlease-holder with GSubprocess exactly as vmleased does, wait
 *             for "ready", pid-targeted acquire + inquire (vmleased asks
 *             for the lver after every EX acquire) + release, SIGTERM, wait
 *             until it is gone; on the raw resource.
 *   spawn     the holder's life alone: start, "ready", SIGTERM, gone.
 *   dbus      two D-Bus round trips to vmleased that do no work
 *             (Properties.Get of the lease's State): the bus floor of the
 *             two calls.
 *
 * Prints median, p90, mean (and min/max) per series and the ratio of the
 * medians vmleased / raw; the target is <= 1.3. The ratio is reported,
 * never asserted: the exit status is 0 unless something failed.
 *
 * With --disks LIST (e.g. 1,8,20), disk leases instead: per round and per
 * count N in 0 and LIST, interleaved,
 *
 *   vmleased  Acquire({disks: N keys of the bench's own, exclusive}) +
 *             Release({}) of the bench's VM lease (vmleased spreads the
 *             VM lease and its disks over as many holders as sanlock's 8
 *             resources per client need);
 *   raw       the same N + 1 resources (raw ones of the bench, next to
 *             each other in the lease file) through raw libsanlock, in
 *             batches of 8: per batch sanlock_register() and one
 *             sanlock_acquire() of up to 8 resources, one after the other;
 *             then each batch's sanlock_release() and close().
 *
 * and prints each series, the ratio vmleased / raw per N, and what each
 * disk adds to either (median at N minus median at 0, over N): the target
 * is that a disk adds no more to vmleased's time than to raw sanlock's
 * (per-disk ratio <= 1.0).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>   /* before sanlock's headers */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixinputstream.h>

#include "vml-bench-bus.h"
#include "vml-bench-raw.h"
#include "vml-bench-stats.h"

#define TARGET_RATIO    1.3
#define TARGET_PER_DISK 1.0
#define MAX_DISK_COUNTS 8
#define MAX_DISKS       64      /* vmleased's limit per VM */
#define SANLOCK_BATCH   8       /* sanlock's resources per call and client */

typedef enum {
  S_VMLEASED,
  S_RAW,
  S_HOLDER,
  S_SPAWN,
  S_DBUS,
  N_SERIES
} SeriesId;

static const char *const series_names[N_SERIES] = {
  [S_VMLEASED] = "vmleased",
  [S_RAW] = "raw",
  [S_HOLDER] = "holder",
  [S_SPAWN] = "spawn",
  [S_DBUS] = "dbus",
};

static const char *const series_what[N_SERIES] = {
  [S_VMLEASED] = "D-Bus Acquire+Release via vmleased (holder start included)",
  [S_RAW] = "raw libsanlock: register, acquire, release, close",
  [S_HOLDER] = "vmlease-holder start + pid-targeted acquire, inquire, release + stop",
  [S_SPAWN] = "vmlease-holder start, ready, SIGTERM, gone",
  [S_DBUS] = "2 D-Bus round trips to vmleased doing no work",
};

typedef VmlBenchSeries Series;

typedef struct {
  /* options */
  int       rounds;
  int       warmup;
  gboolean  json;
  gboolean  breakdown;
  char     *lockspace;
  char     *holder_path;
  guint64   raw_offset;
  int       disk_counts[MAX_DISK_COUNTS + 1];   /* 0 first, then --disks */
  int       n_disk_counts;                      /* 0: not in disk mode */
  int       max_disks;

  /* set up */
  GDBusConnection       *bus;
  char                  *uuid;
  char                  *lease_path;      /* D-Bus object */
  gboolean               lease_created;
  char                  *storage;         /* lease file of the lockspace */
  guint64                ls_offset;
  struct sanlk_resource *raw_res;         /* with its one disk */
  Series                 series[N_SERIES];
  /* disk mode */
  struct sanlk_resource *raw_disks[MAX_DISKS];   /* after raw_res in the file */
  Series                 disk_vml[MAX_DISK_COUNTS + 1];
  Series                 disk_raw[MAX_DISK_COUNTS + 1];
} Bench;

/* ---- D-Bus --------------------------------------------------------------- */

/* The raw resource must fit in the lease file, past vmleased's leases. */
static gboolean
check_room (Bench *b, GError **error)
{
  struct stat st;

  if (b->raw_offset < b->ls_offset + 64 * MIB)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "--raw-offset-mib must leave the lockspace at %" G_GUINT64_FORMAT
                   " and its first leases alone (64 MiB)", b->ls_offset);
      return FALSE;
    }
  if (stat (b->storage, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot stat the lease file %s: %s", b->storage, g_strerror (saved));
      return FALSE;
    }
  if (S_ISREG (st.st_mode) && (guint64) st.st_size < b->raw_offset + MIB)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "the raw resource at %" G_GUINT64_FORMAT " MiB does not fit in %s "
                   "(%" G_GUINT64_FORMAT " MiB): lower --raw-offset-mib",
                   b->raw_offset / MIB, b->storage, (guint64) st.st_size / MIB);
      return FALSE;
    }
  return TRUE;
}

static gboolean
find_lockspace (Bench *b, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariantIter) iter = NULL;
  const char *name, *path, *state;
  guint64 host_id, offset;
  guint32 io_timeout;

  reply = g_dbus_connection_call_sync (b->bus, BUS_NAME, MANAGER_PATH,
                                       "org.freedesktop.DBus.Properties", "Get",
                                       g_variant_new ("(ss)", MANAGER_IFACE, "Lockspaces"),
                                       G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE,
                                       CALL_TIMEOUT_MS, NULL, error);
  if (reply == NULL)
    {
      g_prefix_error (error, "cannot read the Lockspaces property of %s: ", BUS_NAME);
      return FALSE;
    }
  g_variant_get (reply, "(v)", &value);
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE ("a(ststsu)")))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the Lockspaces property has type %s, not a(ststsu)",
                   g_variant_get_type_string (value));
      return FALSE;
    }
  g_variant_get (value, "a(ststsu)", &iter);
  while (g_variant_iter_loop (iter, "(&st&st&su)", &name, &host_id, &path, &offset,
                              &state, &io_timeout))
    {
      if (!g_str_equal (name, b->lockspace))
        continue;
      if (!g_str_equal (state, "joined"))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                       "lockspace '%s' is %s, not joined", name, state);
          return FALSE;
        }
      b->storage = g_strdup (path);
      b->ls_offset = offset;
      return check_room (b, error);
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
               "this host has no lockspace '%s' (see the Lockspaces property)", b->lockspace);
  return FALSE;
}

static gboolean
create_lease (Bench *b, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  GVariantBuilder opts;

  g_variant_builder_init (&opts, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&opts, "{sv}", "name", g_variant_new_string ("vml-bench-acquire"));
  reply = vml_bench_bus_call (b->bus, MANAGER_PATH, MANAGER_IFACE, "CreateLease",
                              g_variant_new ("(ssa{sv})", b->uuid, b->lockspace, &opts),
                              "(o)", error);
  if (reply == NULL)
    {
      g_prefix_error (error, "CreateLease %s: ", b->uuid);
      return FALSE;
    }
  g_variant_get (reply, "(o)", &b->lease_path);
  b->lease_created = TRUE;
  return TRUE;
}

static gboolean
delete_lease (Bench *b, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  reply = vml_bench_bus_call (b->bus, MANAGER_PATH, MANAGER_IFACE, "DeleteLease",
                              g_variant_new ("(s@a{sv})", b->uuid, g_variant_new ("a{sv}", NULL)),
                              "()", error);
  if (reply == NULL)
    {
      g_prefix_error (error, "DeleteLease %s: ", b->uuid);
      return FALSE;
    }
  b->lease_created = FALSE;
  return TRUE;
}

static gboolean
lease_call (Bench *b, const char *method, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  reply = vml_bench_bus_call (b->bus, b->lease_path, LEASE_IFACE, method,
                              g_variant_new ("(@a{sv})", g_variant_new ("a{sv}", NULL)),
                              "()", error);
  if (reply == NULL)
    {
      g_prefix_error (error, "%s on %s: ", method, b->lease_path);
      return FALSE;
    }
  return TRUE;
}

/* ---- sanlock, directly ---------------------------------------------------- */

static gboolean
raw_resource_setup (Bench *b, GError **error)
{
  g_autofree char *name = g_strdup_printf ("vml-bench-raw-%d", (int) getpid ());

  b->raw_res = vml_bench_raw_resource_new (b->lockspace, name, b->storage, b->raw_offset, error);
  return b->raw_res != NULL;
}

/* One round of what a holder does, in this process. */
static gboolean
round_raw (Bench *b, double *us, GError **error)
{
  struct sanlk_resource *list[1] = { b->raw_res };
  gint64 t0, t1;
  int sock, rv;

  t0 = g_get_monotonic_time ();
  sock = sanlock_register ();
  if (sock < 0)
    return vml_bench_sanlock_failed (sock, "sanlock_register", error);
  rv = sanlock_acquire (sock, -1, 0, 1, list, NULL);
  if (rv < 0)
    {
      close (sock);
      return vml_bench_sanlock_failed (rv, "sanlock_acquire (raw)", error);
    }
  rv = sanlock_release (sock, -1, 0, 1, list);
  close (sock);
  t1 = g_get_monotonic_time ();
  if (rv < 0)
    return vml_bench_sanlock_failed (rv, "sanlock_release (raw)", error);
  *us = (double) (t1 - t0);
  return TRUE;
}

/* ---- the holder, started as vmleased starts it --------------------------- */

static GSubprocess *
holder_start (Bench *b, GError **error)
{
  const char *argv[] = { b->holder_path, NULL };
  g_autoptr(GSubprocess) proc = NULL;
  g_autofree char *claim = g_strdup_printf ("claim %s none 0\n", b->uuid);
  GInputStream *out;
  char line[128];
  gsize n = 0;

  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                  G_SUBPROCESS_FLAGS_INHERIT_FDS, error);
  if (proc == NULL)
    return NULL;
  out = g_subprocess_get_stdout_pipe (proc);
  /* One line; read it a byte at a time as vmleased does. */
  while (n < sizeof line - 1)
    {
      gssize r = g_input_stream_read (out, line + n, 1, NULL, error);
      if (r < 0)
        return NULL;
      if (r == 0 || line[n] == '\n')
        break;
      n++;
    }
  line[n] = '\0';
  if (!g_str_equal (line, "ready"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "vmlease-holder said '%s'", line);
      g_subprocess_force_exit (proc);
      return NULL;
    }
  /* Claim it for the bench lease, as vmleased does (spare holders wait
   * for this line; one that sees its stdin end unclaimed exits). */
  if (!g_output_stream_write_all (g_subprocess_get_stdin_pipe (proc), claim, strlen (claim),
                                  NULL, NULL, error))
    {
      g_subprocess_force_exit (proc);
      return NULL;
    }
  return g_steal_pointer (&proc);
}

static gboolean
holder_stop (GSubprocess *proc, GError **error)
{
  g_subprocess_send_signal (proc, SIGTERM);
  return g_subprocess_wait (proc, NULL, error);
}

static pid_t
holder_pid (GSubprocess *proc)
{
  return (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (proc), NULL, 10);
}

static gboolean
round_spawn (Bench *b, double *us, GError **error)
{
  g_autoptr(GSubprocess) proc = NULL;
  gint64 t0 = g_get_monotonic_time ();

  proc = holder_start (b, error);
  if (proc == NULL || !holder_stop (proc, error))
    return FALSE;
  *us = (double) (g_get_monotonic_time () - t0);
  return TRUE;
}

static gboolean
round_holder (Bench *b, double *us, GError **error)
{
  struct sanlk_resource *list[1] = { b->raw_res };
  g_autoptr(GSubprocess) proc = NULL;
  gint64 t0 = g_get_monotonic_time ();
  char *state = NULL;
  int rv, count = 0;
  pid_t pid;

  proc = holder_start (b, error);
  if (proc == NULL)
    return FALSE;
  pid = holder_pid (proc);
  rv = sanlock_acquire (-1, pid, 0, 1, list, NULL);
  if (rv < 0)
    {
      holder_stop (proc, NULL);
      return vml_bench_sanlock_failed (rv, "sanlock_acquire (pid-targeted)", error);
    }
  /* vmleased reads the lver back this way after an EX acquire. */
  rv = sanlock_inquire (-1, pid, 0, &count, &state);
  free (state);
  if (rv < 0)
    {
      holder_stop (proc, NULL);
      return vml_bench_sanlock_failed (rv, "sanlock_inquire (pid-targeted)", error);
    }
  rv = sanlock_release (-1, pid, 0, 1, list);
  if (rv < 0)
    {
      holder_stop (proc, NULL);
      return vml_bench_sanlock_failed (rv, "sanlock_release (pid-targeted)", error);
    }
  if (!holder_stop (proc, error))
    return FALSE;
  *us = (double) (g_get_monotonic_time () - t0);
  return TRUE;
}

/* ---- D-Bus rounds ---------------------------------------------------------- */

static gboolean
round_vmleased (Bench *b, double *us, GError **error)
{
  gint64 t0 = g_get_monotonic_time ();

  if (!lease_call (b, "Acquire", error))
    return FALSE;
  if (!lease_call (b, "Release", error))
    return FALSE;
  *us = (double) (g_get_monotonic_time () - t0);
  return TRUE;
}

static gboolean
get_state (Bench *b, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  reply = vml_bench_bus_call (b->bus, b->lease_path, "org.freedesktop.DBus.Properties", "Get",
                              g_variant_new ("(ss)", LEASE_IFACE, "State"), "(v)", error);
  return reply != NULL;
}

static gboolean
round_dbus (Bench *b, double *us, GError **error)
{
  gint64 t0 = g_get_monotonic_time ();

  if (!get_state (b, error) || !get_state (b, error))
    return FALSE;
  *us = (double) (g_get_monotonic_time () - t0);
  return TRUE;
}

/* ---- disk mode ----------------------------------------------------------------- */

/* The bench's own disk keys, valid for vmleased. */
static char *
disk_key (int i)
{
  return g_strdup_printf ("vml-bench-%d-disk-%02d", (int) getpid (), i);
}

static gboolean
parse_disk_counts (Bench *b, const char *text, GError **error)
{
  g_auto(GStrv) words = g_strsplit (text, ",", -1);

  b->disk_counts[0] = 0;
  b->n_disk_counts = 1;
  for (char **w = words; *w != NULL; w++)
    {
      guint64 n;

      if (b->n_disk_counts > MAX_DISK_COUNTS ||
          !g_ascii_string_to_unsigned (g_strstrip (*w), 10, 1, MAX_DISKS, &n, NULL))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "--disks takes up to %d counts of disks, 1 to %d each, "
                       "comma-separated (e.g. 1,8,20), not '%s'", MAX_DISK_COUNTS, MAX_DISKS, text);
          return FALSE;
        }
      b->disk_counts[b->n_disk_counts++] = (int) n;
      b->max_disks = MAX (b->max_disks, (int) n);
    }
  return TRUE;
}

static gboolean
raw_disks_setup (Bench *b, GError **error)
{
  for (int i = 0; i < b->max_disks; i++)
    {
      g_autofree char *name = g_strdup_printf ("vml-bench-raw-%d-d%02d", (int) getpid (), i);

      b->raw_disks[i] = vml_bench_raw_resource_new (b->lockspace, name, b->storage,
                                                    b->raw_offset + (guint64) (i + 1) * MIB, error);
      if (b->raw_disks[i] == NULL)
        return FALSE;
    }
  return TRUE;
}

static gboolean
round_vmleased_disks (Bench *b, int n, double *us, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  GVariantBuilder opts, disks;
  gint64 t0;

  g_variant_builder_init (&opts, G_VARIANT_TYPE_VARDICT);
  if (n > 0)
    {
      g_variant_builder_init (&disks, G_VARIANT_TYPE ("a(ss)"));
      for (int i = 0; i < n; i++)
        {
          g_autofree char *key = disk_key (i);
          g_variant_builder_add (&disks, "(ss)", key, "exclusive");
        }
      g_variant_builder_add (&opts, "{sv}", "disks", g_variant_builder_end (&disks));
    }

  t0 = g_get_monotonic_time ();
  reply = vml_bench_bus_call (b->bus, b->lease_path, LEASE_IFACE, "Acquire",
                              g_variant_new ("(a{sv})", &opts), "()", error);
  if (reply == NULL)
    {
      g_prefix_error (error, "Acquire with %d disks on %s: ", n, b->lease_path);
      return FALSE;
    }
  if (!lease_call (b, "Release", error))
    return FALSE;
  *us = (double) (g_get_monotonic_time () - t0);
  return TRUE;
}

/* The VM's resource and @n disks' through raw libsanlock, in batches of 8,
 * one registered client per batch. */
static gboolean
round_raw_disks (Bench *b, int n, double *us, GError **error)
{
  struct sanlk_resource *list[MAX_DISKS + 1];
  int socks[(MAX_DISKS + SANLOCK_BATCH) / SANLOCK_BATCH];
  int total = n + 1, n_socks = 0, rv = 0;
  gint64 t0;

  list[0] = b->raw_res;
  for (int i = 0; i < n; i++)
    list[i + 1] = b->raw_disks[i];

  t0 = g_get_monotonic_time ();
  for (int start = 0; start < total && rv >= 0; start += SANLOCK_BATCH)
    {
      int sock = sanlock_register ();

      if (sock < 0)
        {
          rv = sock;
          break;
        }
      socks[n_socks++] = sock;
      rv = sanlock_acquire (sock, -1, 0, MIN (SANLOCK_BATCH, total - start), list + start, NULL);
    }
  for (int k = 0; k < n_socks; k++)
    {
      int start = k * SANLOCK_BATCH;
      int r = sanlock_release (socks[k], -1, 0, MIN (SANLOCK_BATCH, total - start), list + start);

      /* After a failed acquire, releases may fail too: report the first. */
      if (rv >= 0 && r < 0)
        rv = r;
      close (socks[k]);
    }
  *us = (double) (g_get_monotonic_time () - t0);
  if (rv < 0)
    {
      g_autofree char *what = g_strdup_printf ("raw acquire/release of %d resources in "
                                               "batches of %d", total, SANLOCK_BATCH);
      return vml_bench_sanlock_failed (rv, what, error);
    }
  return TRUE;
}

static gboolean
run_disk_rounds (Bench *b, GError **error)
{
  for (int r = 0; r < b->warmup + b->rounds; r++)
    for (int c = 0; c < b->n_disk_counts; c++)
      {
        int n = b->disk_counts[c];
        double vm_us, raw_us;

        if (!round_vmleased_disks (b, n, &vm_us, error) ||
            !round_raw_disks (b, n, &raw_us, error))
          {
            g_prefix_error (error, "round %d (%d disks): ", r + 1, n);
            return FALSE;
          }
        if (r >= b->warmup)
          {
            vml_bench_series_add (&b->disk_vml[c], vm_us);
            vml_bench_series_add (&b->disk_raw[c], raw_us);
          }
      }
  return TRUE;
}

static void
json_disk_series (GString *out, const char *name, const Series *x)
{
  g_string_append_printf (out, "\"%s\":{\"median\":%.1f,\"p90\":%.1f,\"mean\":%.1f,"
                          "\"min\":%.1f,\"max\":%.1f}", name, x->median, x->p90, x->mean,
                          x->min, x->max);
}

/* What one disk adds (median at N minus median at 0, over N), µs. */
static double
per_disk (const Series *at_n, const Series *at_0, int n)
{
  return n > 0 ? (at_n->median - at_0->median) / n : 0;
}

/* A count meets the target when a disk adds no more to vmleased than to
 * raw; a raw series that gained nothing per disk cannot be compared. */
static gboolean
per_disk_met (double vm_per, double raw_per)
{
  return raw_per > 0 && vm_per / raw_per <= TARGET_PER_DISK;
}

static void
report_disks_json (Bench *b, const char *when, const char *machine)
{
  g_autoptr(GString) out = g_string_new ("{\"benchmark\":\"acquire-disks\",\"date\":");
  gboolean all_met = TRUE;

  vml_bench_json_string (out, when);
  g_string_append (out, ",\"machine\":");
  vml_bench_json_string (out, machine);
  g_string_append (out, ",\"storage\":");
  vml_bench_json_string (out, b->storage);
  g_string_append_printf (out, ",\"rounds\":%d,\"warmup\":%d,\"unit\":\"us\",\"batch\":%d,"
                          "\"points\":[", b->rounds, b->warmup, SANLOCK_BATCH);
  for (int c = 0; c < b->n_disk_counts; c++)
    {
      Series *vm = &b->disk_vml[c], *raw = &b->disk_raw[c];
      int n = b->disk_counts[c];

      g_string_append_printf (out, "%s{\"disks\":%d,\"resources\":%d,", c ? "," : "", n, n + 1);
      json_disk_series (out, "vmleased", vm);
      g_string_append (out, ",");
      json_disk_series (out, "raw", raw);
      g_string_append_printf (out, ",\"ratio\":%.3f",
                              raw->median > 0 ? vm->median / raw->median : 0);
      if (n > 0)
        {
          double vm_per = per_disk (vm, &b->disk_vml[0], n);
          double raw_per = per_disk (raw, &b->disk_raw[0], n);
          gboolean met = per_disk_met (vm_per, raw_per);

          all_met &= met;
          g_string_append_printf (out, ",\"per_disk\":{\"vmleased\":%.1f,\"raw\":%.1f,"
                                  "\"ratio\":%.3f,\"target_met\":%s}", vm_per, raw_per,
                                  raw_per > 0 ? vm_per / raw_per : 0, met ? "true" : "false");
        }
      g_string_append (out, "}");
    }
  g_string_append_printf (out, "],\"target_per_disk\":%.1f,\"target_met\":%s}",
                          TARGET_PER_DISK, all_met ? "true" : "false");
  puts (out->str);
}

static void
report_disks (Bench *b)
{
  g_autofree char *machine = vml_bench_machine_description ();
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *when = g_date_time_format_iso8601 (now);
  gboolean all_met = TRUE;

  for (int c = 0; c < b->n_disk_counts; c++)
    {
      vml_bench_series_summarize (&b->disk_vml[c]);
      vml_bench_series_summarize (&b->disk_raw[c]);
    }
  if (b->json)
    {
      report_disks_json (b, when, machine);
      return;
    }

  printf ("vml-bench-acquire --disks: %d rounds (+%d warm-up), %s\n", b->rounds, b->warmup,
          when);
  printf ("machine: %s\nstorage: %s (lockspace %s)\n\n", machine, b->storage, b->lockspace);
  printf ("Acquire+Release of a VM lease with N exclusive disks (vmleased) vs the same\n"
          "N+1 resources through raw libsanlock in batches of %d, ms:\n\n", SANLOCK_BATCH);
  printf ("%5s  %-9s %9s %9s %9s %9s %9s   %s\n", "disks", "series", "median", "p90", "mean",
          "min", "max", "vmleased/raw");
  for (int c = 0; c < b->n_disk_counts; c++)
    {
      Series *vm = &b->disk_vml[c], *raw = &b->disk_raw[c];

      printf ("%5d  %-9s %9.3f %9.3f %9.3f %9.3f %9.3f   %.2f\n", b->disk_counts[c], "vmleased",
              vm->median / 1000, vm->p90 / 1000, vm->mean / 1000, vm->min / 1000,
              vm->max / 1000, raw->median > 0 ? vm->median / raw->median : 0);
      printf ("%5s  %-9s %9.3f %9.3f %9.3f %9.3f %9.3f\n", "", "raw", raw->median / 1000,
              raw->p90 / 1000, raw->mean / 1000, raw->min / 1000, raw->max / 1000);
    }

  printf ("\nWhat each disk adds (median at N minus median at 0, over N), ms:\n");
  printf ("%5s  %10s %10s   %s\n", "disks", "vmleased", "raw", "ratio (target <= 1.0)");
  for (int c = 1; c < b->n_disk_counts; c++)
    {
      int n = b->disk_counts[c];
      double vm_per = per_disk (&b->disk_vml[c], &b->disk_vml[0], n);
      double raw_per = per_disk (&b->disk_raw[c], &b->disk_raw[0], n);
      gboolean met = per_disk_met (vm_per, raw_per);

      all_met &= met;
      printf ("%5d  %10.3f %10.3f   ", n, vm_per / 1000, raw_per / 1000);
      if (raw_per > 0)
        printf ("%.2f %s\n", vm_per / raw_per, met ? "met" : "not met");
      else
        printf ("- (raw gained nothing per disk)\n");
    }
  printf ("target (each disk adds no more to vmleased than to raw): %s\n",
          all_met ? "met" : "not met");
}

/* ---- driver ------------------------------------------------------------------- */

typedef gboolean (*RoundFunc) (Bench *b, double *us, GError **error);

static const RoundFunc round_funcs[N_SERIES] = {
  [S_VMLEASED] = round_vmleased,
  [S_RAW] = round_raw,
  [S_HOLDER] = round_holder,
  [S_SPAWN] = round_spawn,
  [S_DBUS] = round_dbus,
};

static int
n_active (Bench *b)
{
  return b->breakdown ? N_SERIES : 2;
}

static gboolean
run_rounds (Bench *b, GError **error)
{
  int active = n_active (b);

  for (int r = 0; r < b->warmup + b->rounds; r++)
    for (int s = 0; s < active; s++)
      {
        double us;

        if (!round_funcs[s] (b, &us, error))
          {
            g_prefix_error (error, "round %d (%s): ", r + 1, series_names[s]);
            return FALSE;
          }
        if (r >= b->warmup)
          g_array_append_val (b->series[s].us, us);
      }
  return TRUE;
}

static void
report (Bench *b)
{
  Series *vm = &b->series[S_VMLEASED], *raw = &b->series[S_RAW];
  g_autofree char *machine = vml_bench_machine_description ();
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *when = g_date_time_format_iso8601 (now);
  int active = n_active (b);
  double ratio;
  gboolean met;

  for (int s = 0; s < active; s++)
    vml_bench_series_summarize (&b->series[s]);
  ratio = raw->median > 0 ? vm->median / raw->median : 0;
  met = ratio <= TARGET_RATIO;

  if (b->json)
    {
      g_autoptr(GString) out = g_string_new ("{");

      g_string_append (out, "\"benchmark\":\"acquire\",\"date\":");
      vml_bench_json_string (out, when);
      g_string_append (out, ",\"machine\":");
      vml_bench_json_string (out, machine);
      g_string_append (out, ",\"storage\":");
      vml_bench_json_string (out, b->storage);
      g_string_append_printf (out, ",\"rounds\":%d,\"warmup\":%d,\"unit\":\"us\",\"series\":{",
                              b->rounds, b->warmup);
      for (int s = 0; s < active; s++)
        {
          Series *x = &b->series[s];
          g_string_append_printf (out, "%s\"%s\":{\"what\":", s ? "," : "", series_names[s]);
          vml_bench_json_string (out, series_what[s]);
          g_string_append_printf (out, ",\"median\":%.1f,\"p90\":%.1f,\"mean\":%.1f,"
                                  "\"min\":%.1f,\"max\":%.1f}",
                                  x->median, x->p90, x->mean, x->min, x->max);
        }
      g_string_append_printf (out, "},\"ratio\":%.3f,\"target\":%.1f,\"target_met\":%s}",
                              ratio, TARGET_RATIO, met ? "true" : "false");
      puts (out->str);
      return;
    }

  printf ("vml-bench-acquire: %d rounds (+%d warm-up), %s\n", b->rounds, b->warmup, when);
  printf ("machine: %s\nstorage: %s (lockspace %s)\n\n", machine, b->storage, b->lockspace);
  printf ("%-9s %10s %10s %10s %10s %10s   (ms)\n", "series", "median", "p90", "mean",
          "min", "max");
  for (int s = 0; s < active; s++)
    {
      Series *x = &b->series[s];
      printf ("%-9s %10.3f %10.3f %10.3f %10.3f %10.3f   %s\n", series_names[s],
              x->median / 1000, x->p90 / 1000, x->mean / 1000, x->min / 1000, x->max / 1000,
              series_what[s]);
    }
  printf ("\nratio vmleased/raw (medians): %.2f\n", ratio);
  if (b->breakdown)
    {
      Series *h = &b->series[S_HOLDER], *sp = &b->series[S_SPAWN], *d = &b->series[S_DBUS];
      printf ("breakdown of the vmleased median (by difference of medians, ms):\n"
              "  holder start + stop (spawn)              %8.3f\n"
              "  sanlock work for a holder (holder-spawn) %8.3f   (raw: %.3f)\n"
              "  two D-Bus round trips (dbus)             %8.3f\n"
              "  rest: vmleased itself (vmleased-holder-dbus) %4.3f\n",
              sp->median / 1000, (h->median - sp->median) / 1000, raw->median / 1000,
              d->median / 1000, (vm->median - h->median - d->median) / 1000);
    }
  printf ("target ratio <= %.1f: %s\n", TARGET_RATIO, met ? "met" : "not met");
}

static void
cleanup (Bench *b)
{
  g_autoptr(GError) error = NULL;

  if (b->lease_created)
    {
      /* A failed round may have left it held. */
      g_autoptr(GError) ignored = NULL;
      lease_call (b, "Release", &ignored);
      if (!delete_lease (b, &error))
        g_printerr ("vml-bench-acquire: %s\n", error->message);
    }
  g_clear_pointer (&b->raw_res, vml_bench_raw_resource_free);
  for (int i = 0; i < MAX_DISKS; i++)
    g_clear_pointer (&b->raw_disks[i], vml_bench_raw_resource_free);
}

int
main (int argc, char **argv)
{
  Bench b = { .rounds = -1, .warmup = 5 };
  g_autofree char *disks = NULL;
  g_autofree char *lockspace = NULL;
  g_autofree char *holder = NULL;
  gint64 raw_offset = 400;
  g_autoptr(GOptionContext) ctx = NULL;
  g_autoptr(GError) error = NULL;
  const GOptionEntry entries[] = {
    { "rounds", 'n', 0, G_OPTION_ARG_INT, &b.rounds,
      "Measured rounds (200; 30 with --disks)", "N" },
    { "disks", 0, 0, G_OPTION_ARG_STRING, &disks,
      "Disk leases: Acquire with 0 and each of these counts of disks vs raw (e.g. 1,8,20)", "LIST" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &b.warmup, "Unmeasured rounds first (5)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &b.json, "Print one JSON object", NULL },
    { "breakdown", 0, 0, G_OPTION_ARG_NONE, &b.breakdown,
      "Also measure holder start, pid-targeted sanlock work and bare D-Bus round trips", NULL },
    { "holder", 0, 0, G_OPTION_ARG_FILENAME, &holder,
      "vmlease-holder for --breakdown (default $VMLEASE_HOLDER)", "PATH" },
    { "lockspace", 0, 0, G_OPTION_ARG_STRING, &lockspace, "Lockspace (sandbox)", "NAME" },
    { "raw-offset-mib", 0, 0, G_OPTION_ARG_INT64, &raw_offset,
      "Where the raw resource goes in the lease file, MiB (400)", "MIB" },
    { NULL }
  };
  int rc = 0;

  ctx = g_option_context_new ("- Acquire+Release through vmleased vs raw libsanlock");
  g_option_context_set_description (ctx,
    "Needs DBUS_SYSTEM_BUS_ADDRESS and SANLOCK_RUN_DIR of a running sandbox host\n"
    "(. DIR/host1.env); bench/acquire sets one up. See docs/benchmarks.md.\n");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("vml-bench-acquire: %s\n", error->message);
      return 2;
    }
  if (b.rounds < 0)
    b.rounds = disks ? 30 : 200;
  if (disks != NULL && !parse_disk_counts (&b, disks, &error))
    {
      g_printerr ("vml-bench-acquire: %s\n", error->message);
      return 2;
    }
  if (disks != NULL && b.breakdown)
    {
      g_printerr ("vml-bench-acquire: --breakdown and --disks exclude each other\n");
      return 2;
    }
  if (b.rounds < 1 || b.warmup < 0 || raw_offset < 0)
    {
      g_printerr ("vml-bench-acquire: --rounds must be >= 1, --warmup >= 0, "
                  "--raw-offset-mib >= 0\n");
      return 2;
    }
  b.lockspace = lockspace ? lockspace : g_strdup ("sandbox");
  lockspace = NULL;
  b.holder_path = holder ? g_strdup (holder) : g_strdup (g_getenv ("VMLEASE_HOLDER"));
  b.raw_offset = (guint64) raw_offset * MIB;
  if (b.breakdown && (b.holder_path == NULL || !g_file_test (b.holder_path, G_FILE_TEST_IS_EXECUTABLE)))
    {
      g_printerr ("vml-bench-acquire: --breakdown needs the vmlease-holder executable "
                  "(--holder PATH or $VMLEASE_HOLDER)\n");
      return 2;
    }
  if (g_getenv ("SANLOCK_RUN_DIR") == NULL || g_getenv ("DBUS_SYSTEM_BUS_ADDRESS") == NULL)
    {
      g_printerr ("vml-bench-acquire: set DBUS_SYSTEM_BUS_ADDRESS and SANLOCK_RUN_DIR "
                  "to a sandbox host's (. DIR/host1.env)\n");
      return 2;
    }
  /* Holders and our own broken connections must not kill us. */
  signal (SIGPIPE, SIG_IGN);
  for (int s = 0; s < N_SERIES; s++)
    vml_bench_series_init (&b.series[s], series_names[s], series_what[s]);
  for (int c = 0; c <= MAX_DISK_COUNTS; c++)
    {
      vml_bench_series_init (&b.disk_vml[c], "vmleased", "Acquire+Release with N disks");
      vml_bench_series_init (&b.disk_raw[c], "raw", "N+1 resources in batches of 8");
    }
  b.uuid = g_uuid_string_random ();

  b.bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (b.bus == NULL)
    {
      g_printerr ("vml-bench-acquire: cannot connect to the system bus: %s\n", error->message);
      return 1;
    }
  if (!find_lockspace (&b, &error) ||
      !raw_resource_setup (&b, &error) ||
      (b.n_disk_counts > 0 && !raw_disks_setup (&b, &error)) ||
      !create_lease (&b, &error) ||
      !(b.n_disk_counts > 0 ? run_disk_rounds (&b, &error) : run_rounds (&b, &error)))
    {
      g_printerr ("vml-bench-acquire: %s\n", error->message);
      rc = 1;
    }
  cleanup (&b);
  if (rc == 0 && b.n_disk_counts > 0)
    report_disks (&b);
  else if (rc == 0)
    report (&b);

  for (int s = 0; s < N_SERIES; s++)
    vml_bench_series_clear (&b.series[s]);
  for (int c = 0; c <= MAX_DISK_COUNTS; c++)
    {
      vml_bench_series_clear (&b.disk_vml[c]);
      vml_bench_series_clear (&b.disk_raw[c]);
    }
  g_free (b.storage);
  g_free (b.lease_path);
  g_free (b.uuid);
  g_free (b.lockspace);
  g_free (b.holder_path);
  g_object_unref (b.bus);
  return rc;
}
