/* vml-bench-scale: vmleased with N leases held at once on one host.
 *
 * Needs a running sandbox host 1 (tools/vmlease-sandbox; bench/scale starts
 * one with a lease file and a ceiling large enough for N): --sandbox DIR,
 * DBUS_SYSTEM_BUS_ADDRESS and SANLOCK_RUN_DIR of host 1. In order:
 *
 *   create    N CreateLease calls (allocated from the lockspace's index),
 *             each timed.
 *   acquire   N Acquire({}) calls, each timed, so that N leases are held at
 *             the end; each is followed by one round of
 *   raw       in this process, what a holder does to take a lease:
 *             sanlock_register() + sanlock_acquire(sock, -1, ...), timed,
 *             on a resource of its own in the same lockspace and lease file
 *             (release and close untimed). The base of the ratio, with the
 *             same number of sanlock clients around it.
 *   memory    RSS and PSS of every holder (/proc/PID/smaps_rollup), and
 *             vmleased's RSS, with N held.
 *   ceiling   one more CreateLease + Acquire: at the ceiling ([daemon]
 *             max_leases) it must fail with Busy at once; printed either way.
 *   restart   vmleased killed with SIGKILL and started again
 *             (vmlease-sandbox kill/restart): from the restart to all N
 *             lease objects exported as held, and from vmleased's process
 *             start to that moment.
 *   release   N Release calls, each timed; then every lease is deleted.
 *
 * Figures are printed (--json: one object); the exit status is 0 unless
 * something failed. See docs/benchmarks.md.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>   /* before sanlock's headers */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>

#include "vml-bench-bus.h"
#include "vml-bench-raw.h"
#include "vml-bench-stats.h"

#define RESTART_WAIT_S  120
#define POLL_US         (50 * 1000)

typedef enum { S_CREATE, S_ACQUIRE, S_RAW, S_RELEASE, S_HOLDER_RSS, S_HOLDER_PSS, N_SERIES } SeriesId;

static const char *const series_names[N_SERIES] = {
  "create", "acquire", "raw", "release", "holder_rss", "holder_pss",
};

static const char *const series_what[N_SERIES] = {
  "CreateLease (index allocation), ms",
  "Acquire({}) with the others held, ms",
  "raw libsanlock: register + acquire, ms",
  "Release({}), ms",
  "RSS of one holder, KiB",
  "PSS of one holder, KiB",
};

typedef struct {
  /* options */
  int       count;
  gint64    seed;
  gboolean  json;
  char     *sandbox;
  char     *tool;
  char     *lockspace;

  GDBusConnection       *bus;
  GPtrArray             *uuids;     /* every lease made, in order */
  GPtrArray             *paths;     /* their objects */
  guint                  held;      /* the first @held of them are held */
  char                  *storage;
  struct sanlk_resource *raw_res;   /* with its one disk */
  VmlBenchSeries         series[N_SERIES];
  double                 vmleased_rss_kib;
  guint                  sanlock_clients;
  char                  *ceiling_answer;
  double                 ceiling_ms;
  double                 restart_s, restart_from_start_s;
} Bench;

/* ---- D-Bus --------------------------------------------------------------- */

static GVariant *
no_options (void)
{
  return g_variant_new ("a{sv}", NULL);
}

/* Times one call; *ms gets how long it took, whatever it answered. */
static GVariant *
timed_call (Bench *b, const char *path, const char *iface, const char *method,
            GVariant *params, const char *reply_type, double *ms, GError **error)
{
  gint64 t0 = g_get_monotonic_time ();
  GVariant *reply = vml_bench_bus_call (b->bus, path, iface, method, params, reply_type, error);

  *ms = (double) (g_get_monotonic_time () - t0) / 1000;
  return reply;
}

static gboolean
create_lease (Bench *b, const char *uuid, double *ms, GError **error)
{
  g_autoptr(GVariant) reply = timed_call (b, MANAGER_PATH, MANAGER_IFACE, "CreateLease",
                                          g_variant_new ("(ss@a{sv})", uuid, b->lockspace,
                                                         no_options ()),
                                          "(o)", ms, error);
  char *path;

  if (reply == NULL)
    {
      g_prefix_error (error, "CreateLease %s: ", uuid);
      return FALSE;
    }
  g_variant_get (reply, "(o)", &path);
  g_ptr_array_add (b->uuids, g_strdup (uuid));
  g_ptr_array_add (b->paths, path);
  return TRUE;
}

static gboolean
lease_call (Bench *b, guint i, const char *method, double *ms, GError **error)
{
  g_autoptr(GVariant) reply = timed_call (b, g_ptr_array_index (b->paths, i), LEASE_IFACE,
                                          method, g_variant_new ("(@a{sv})", no_options ()),
                                          NULL, ms, error);

  if (reply == NULL)
    g_prefix_error (error, "%s of lease %u: ", method, i);
  return reply != NULL;
}

static GVariant *
lease_property (Bench *b, guint i, const char *name, GError **error)
{
  g_autoptr(GVariant) reply =
    vml_bench_bus_call (b->bus, g_ptr_array_index (b->paths, i),
                        "org.freedesktop.DBus.Properties", "Get",
                        g_variant_new ("(ss)", LEASE_IFACE, name), "(v)", error);
  GVariant *value = NULL;

  if (reply != NULL)
    g_variant_get (reply, "(v)", &value);
  return value;
}

static pid_t
vmleased_pid (Bench *b, GError **error)
{
  g_autoptr(GVariant) reply = g_dbus_connection_call_sync (b->bus, "org.freedesktop.DBus",
                                                           "/org/freedesktop/DBus",
                                                           "org.freedesktop.DBus",
                                                           "GetConnectionUnixProcessID",
                                                           g_variant_new ("(s)", BUS_NAME),
                                                           G_VARIANT_TYPE ("(u)"),
                                                           G_DBUS_CALL_FLAGS_NONE,
                                                           CALL_TIMEOUT_MS, NULL, error);
  guint32 pid = 0;

  if (reply != NULL)
    g_variant_get (reply, "(u)", &pid);
  return (pid_t) pid;
}

/* ---- raw libsanlock ------------------------------------------------------- */

/* The storage comes from the first lease (Inquire's path); the raw
 * resource goes after the N leases and the one past the ceiling. */
static gboolean
raw_resource_setup (Bench *b, GError **error)
{
  g_autoptr(GVariant) reply =
    vml_bench_bus_call (b->bus, g_ptr_array_index (b->paths, 0), LEASE_IFACE,
                        "Inquire", g_variant_new ("(@a{sv})", no_options ()),
                        "(a{sv})", error);
  g_autoptr(GVariant) info = NULL;
  g_autofree char *name = g_strdup_printf ("vml-bench-scale-%d", (int) getpid ());
  guint64 offset = 0;

  if (reply == NULL)
    return FALSE;
  info = g_variant_get_child_value (reply, 0);
  if (!g_variant_lookup (info, "path", "s", &b->storage) ||
      !g_variant_lookup (info, "offset", "t", &offset))
    return vml_bench_sanlock_failed (-EINVAL, "Inquire gave no path and offset", error);
  b->raw_res = vml_bench_raw_resource_new (b->lockspace, name, b->storage,
                                           offset + ((guint64) b->count + 8) * MIB, error);
  return b->raw_res != NULL;
}

static gboolean
round_raw (Bench *b, GError **error)
{
  struct sanlk_resource *list[1] = { b->raw_res };
  gint64 t0 = g_get_monotonic_time ();
  int sock, rv;

  sock = sanlock_register ();
  if (sock < 0)
    return vml_bench_sanlock_failed (sock, "sanlock_register", error);
  rv = sanlock_acquire (sock, -1, 0, 1, list, NULL);
  vml_bench_series_add (&b->series[S_RAW], (double) (g_get_monotonic_time () - t0) / 1000);
  if (rv == 0)
    rv = sanlock_release (sock, -1, 0, 1, list);
  close (sock);
  return rv == 0 || vml_bench_sanlock_failed (rv, "raw acquire or release", error);
}

/* ---- the phases ------------------------------------------------------------ */

static char *
seeded_uuid (GRand *rand)
{
  guint32 w[4];

  for (int i = 0; i < 4; i++)
    w[i] = g_rand_int (rand);
  /* version 4, variant 10 */
  return g_strdup_printf ("%08x-%04x-4%03x-%04x-%04x%08x", w[0], w[1] >> 16, w[1] & 0xfff,
                          (w[2] >> 16 & 0x3fff) | 0x8000, w[2] & 0xffff, w[3]);
}

static gboolean
create_all (Bench *b, GRand *rand, GError **error)
{
  for (int i = 0; i < b->count; i++)
    {
      g_autofree char *uuid = seeded_uuid (rand);
      double ms;

      if (!create_lease (b, uuid, &ms, error))
        return FALSE;
      vml_bench_series_add (&b->series[S_CREATE], ms);
    }
  return TRUE;
}

static gboolean
acquire_all (Bench *b, GError **error)
{
  for (int i = 0; i < b->count; i++)
    {
      double ms;

      if (!lease_call (b, i, "Acquire", &ms, error))
        return FALSE;
      b->held++;
      vml_bench_series_add (&b->series[S_ACQUIRE], ms);
      if (!round_raw (b, error))
        return FALSE;
    }
  return TRUE;
}

/* "Rss:" or "Pss:" of a smaps_rollup or "VmRSS:" of a status file, KiB. */
static double
proc_kib (pid_t pid, const char *file, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/%s", (int) pid, file);
  g_autofree char *text = NULL;
  const char *at;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (at = strstr (text, field)) == NULL)
    return -1;
  return g_ascii_strtod (at + strlen (field), NULL);
}

/* The clients sanlock lists ("p PID ..." lines of `sanlock client status`). */
static guint
count_sanlock_clients (void)
{
  const char *argv[] = { "/usr/sbin/sanlock", "client", "status", NULL };
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  guint n = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                     &out, NULL, NULL, NULL))
    return 0;
  lines = g_strsplit (out, "\n", -1);
  for (char **l = lines; *l; l++)
    n += g_str_has_prefix (*l, "p ") && !g_str_has_prefix (*l, "p -1");
  return n;
}

static gboolean
measure_memory (Bench *b, GError **error)
{
  pid_t daemon = vmleased_pid (b, error);

  if (daemon <= 0)
    return FALSE;
  b->vmleased_rss_kib = proc_kib (daemon, "status", "VmRSS:");
  b->sanlock_clients = count_sanlock_clients ();
  for (guint i = 0; i < b->held; i++)
    {
      g_autoptr(GVariant) pid = lease_property (b, i, "HolderPid", error);

      if (pid == NULL)
        return FALSE;
      vml_bench_series_add (&b->series[S_HOLDER_RSS],
                            proc_kib (g_variant_get_uint32 (pid), "smaps_rollup", "\nRss:"));
      vml_bench_series_add (&b->series[S_HOLDER_PSS],
                            proc_kib (g_variant_get_uint32 (pid), "smaps_rollup", "\nPss:"));
    }
  return TRUE;
}

/* One lease more than N: Busy at once when N is the ceiling. */
static gboolean
past_ceiling (Bench *b, GRand *rand, GError **error)
{
  g_autofree char *uuid = seeded_uuid (rand);
  g_autoptr(GError) refused = NULL;
  double ms;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *name = NULL;
  guint last;

  if (!create_lease (b, uuid, &ms, error))
    return FALSE;
  last = b->uuids->len - 1;
  reply = timed_call (b, g_ptr_array_index (b->paths, last), LEASE_IFACE, "Acquire",
                      g_variant_new ("(@a{sv})", no_options ()), NULL, &b->ceiling_ms, &refused);
  if (reply != NULL)
    {
      b->ceiling_answer = g_strdup ("acquired (N is below the ceiling)");
      return lease_call (b, last, "Release", &ms, error);
    }
  name = g_dbus_error_get_remote_error (refused);
  g_dbus_error_strip_remote_error (refused);
  b->ceiling_answer = g_strdup_printf ("%s: %s", name ? name : "error", refused->message);
  return TRUE;
}

static gboolean
sandbox_tool (Bench *b, const char *command, GError **error)
{
  const char *argv[] = { "/usr/bin/python3", b->tool, command, "--dir", b->sandbox,
                         "--host", "1", NULL };
  int status;

  return g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                       NULL, NULL, &status, error) &&
         g_spawn_check_wait_status (status, error);
}

static guint
count_held (Bench *b)
{
  g_autoptr(GVariant) reply =
    vml_bench_bus_call (b->bus, MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                        "GetManagedObjects", NULL, "(a{oa{sa{sv}}})", NULL);
  g_autoptr(GVariant) objects = NULL;
  guint held = 0;

  if (reply == NULL)
    return 0;
  objects = g_variant_get_child_value (reply, 0);
  for (guint i = 0; i < b->held; i++)
    {
      g_autoptr(GVariant) ifaces = g_variant_lookup_value (objects, g_ptr_array_index (b->paths, i),
                                                           NULL);
      g_autoptr(GVariant) props = ifaces ? g_variant_lookup_value (ifaces, LEASE_IFACE, NULL)
                                         : NULL;
      const char *state = NULL;

      held += props && g_variant_lookup (props, "State", "&s", &state) &&
              g_str_equal (state, "held");
    }
  return held;
}

static double
boottime_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_BOOTTIME, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Field 22 of /proc/PID/stat, in seconds since boot. */
static double
process_start_s (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  g_auto(GStrv) fields = NULL;
  const char *after;

  if (!g_file_get_contents (path, &stat, NULL, NULL) || (after = strrchr (stat, ')')) == NULL)
    return 0;
  fields = g_strsplit (after + 2, " ", 22);
  if (g_strv_length (fields) < 20)
    return 0;
  return (double) g_ascii_strtoull (fields[19], NULL, 10) / sysconf (_SC_CLK_TCK);
}

static gboolean
restart (Bench *b, GError **error)
{
  double t0, done;
  pid_t pid;

  if (!sandbox_tool (b, "kill", error))
    return FALSE;
  t0 = boottime_s ();
  if (!sandbox_tool (b, "restart", error) || (pid = vmleased_pid (b, error)) <= 0)
    return FALSE;
  while (count_held (b) < b->held)
    {
      if (boottime_s () - t0 > RESTART_WAIT_S)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "after the restart, %u of %u leases are held after %d s",
                       count_held (b), b->held, RESTART_WAIT_S);
          return FALSE;
        }
      g_usleep (POLL_US);
    }
  done = boottime_s ();
  b->restart_s = done - t0;
  b->restart_from_start_s = done - process_start_s (pid);
  return TRUE;
}

static gboolean
release_all (Bench *b, GError **error)
{
  for (; b->held > 0; b->held--)
    {
      double ms;

      if (!lease_call (b, b->count - b->held, "Release", &ms, error))
        return FALSE;
      vml_bench_series_add (&b->series[S_RELEASE], ms);
    }
  return TRUE;
}

static void
cleanup (Bench *b)
{
  for (guint i = 0; i < b->uuids->len; i++)
    {
      g_autoptr(GVariant) reply = NULL;
      g_autoptr(GError) error = NULL;

      reply = vml_bench_bus_call (b->bus, g_ptr_array_index (b->paths, i), LEASE_IFACE, "Release",
                                  g_variant_new ("(@a{sv})", no_options ()), NULL, NULL);
      g_clear_pointer (&reply, g_variant_unref);
      reply = vml_bench_bus_call (b->bus, MANAGER_PATH, MANAGER_IFACE, "DeleteLease",
                                  g_variant_new ("(s@a{sv})",
                                                 (char *) g_ptr_array_index (b->uuids, i),
                                                 no_options ()), NULL, &error);
      if (reply == NULL)
        g_printerr ("vml-bench-scale: %s\n", error->message);
    }
  g_clear_pointer (&b->raw_res, vml_bench_raw_resource_free);
}

/* ---- report ----------------------------------------------------------------- */

static void
report_json (Bench *b, const char *when, const char *machine, double ratio)
{
  g_autoptr(GString) out = g_string_new ("{\"benchmark\":\"scale\",\"date\":");

  vml_bench_json_string (out, when);
  g_string_append (out, ",\"machine\":");
  vml_bench_json_string (out, machine);
  g_string_append_printf (out, ",\"count\":%d,\"seed\":%" G_GINT64_FORMAT ",\"series\":{",
                          b->count, b->seed);
  for (int s = 0; s < N_SERIES; s++)
    {
      VmlBenchSeries *x = &b->series[s];
      g_string_append_printf (out, "%s\"%s\":{\"median\":%.3f,\"p90\":%.3f,\"mean\":%.3f,"
                              "\"min\":%.3f,\"max\":%.3f}", s ? "," : "", series_names[s],
                              x->median, x->p90, x->mean, x->min, x->max);
    }
  g_string_append_printf (out, "},\"acquire_ratio\":%.3f,\"holders_pss_total_kib\":%.0f,"
                          "\"vmleased_rss_kib\":%.0f,\"sanlock_clients\":%u,"
                          "\"restart_s\":%.3f,\"restart_from_start_s\":%.3f,"
                          "\"past_ceiling_ms\":%.1f,\"past_ceiling\":", ratio,
                          b->series[S_HOLDER_PSS].mean * b->series[S_HOLDER_PSS].us->len,
                          b->vmleased_rss_kib, b->sanlock_clients, b->restart_s,
                          b->restart_from_start_s, b->ceiling_ms);
  vml_bench_json_string (out, b->ceiling_answer ? b->ceiling_answer : "");
  g_string_append (out, "}");
  puts (out->str);
}

static void
report (Bench *b)
{
  g_autofree char *machine = vml_bench_machine_description ();
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *when = g_date_time_format_iso8601 (now);
  double ratio;

  for (int s = 0; s < N_SERIES; s++)
    vml_bench_series_summarize (&b->series[s]);
  ratio = b->series[S_RAW].median > 0
          ? b->series[S_ACQUIRE].median / b->series[S_RAW].median : 0;
  if (b->json)
    {
      report_json (b, when, machine, ratio);
      return;
    }
  printf ("vml-bench-scale: %d leases (seed %" G_GINT64_FORMAT "), %s\nmachine: %s\n"
          "storage: %s (lockspace %s)\n\n", b->count, b->seed, when, machine, b->storage,
          b->lockspace);
  printf ("%-10s %9s %9s %9s %9s %9s\n", "series", "median", "p90", "mean", "min", "max");
  for (int s = 0; s < N_SERIES; s++)
    {
      VmlBenchSeries *x = &b->series[s];
      printf ("%-10s %9.2f %9.2f %9.2f %9.2f %9.2f   %s\n", series_names[s], x->median,
              x->p90, x->mean, x->min, x->max, series_what[s]);
    }
  printf ("\nAcquire / raw (medians): %.2f\n"
          "with %d held: holders' PSS %.1f MiB in all, vmleased RSS %.1f MiB, "
          "sanlock clients %u\n"
          "one more Acquire (%.1f ms): %s\n"
          "kill -9 + restart: all %d held again %.2f s after the restart, %.2f s after "
          "vmleased started\n", ratio, b->count,
          b->series[S_HOLDER_PSS].mean * b->series[S_HOLDER_PSS].us->len / 1024,
          b->vmleased_rss_kib / 1024, b->sanlock_clients, b->ceiling_ms,
          b->ceiling_answer ? b->ceiling_answer : "-", b->count, b->restart_s,
          b->restart_from_start_s);
}

static gboolean
run (Bench *b, GError **error)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed ((guint32) b->seed);

  return create_all (b, rand, error) &&
         raw_resource_setup (b, error) &&
         acquire_all (b, error) &&
         measure_memory (b, error) &&
         past_ceiling (b, rand, error) &&
         restart (b, error) &&
         release_all (b, error);
}

int
main (int argc, char **argv)
{
  Bench b = { .count = 1000, .seed = -1 };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- vmleased with N leases held");
  g_autoptr(GError) error = NULL;
  const GOptionEntry entries[] = {
    { "count", 'n', 0, G_OPTION_ARG_INT, &b.count, "Leases to hold at once (1000)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &b.seed, "Seed of the lease UUIDs (random)", "S" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &b.json, "Print one JSON object", NULL },
    { "sandbox", 0, 0, G_OPTION_ARG_FILENAME, &b.sandbox, "The sandbox directory", "DIR" },
    { "sandbox-tool", 0, 0, G_OPTION_ARG_FILENAME, &b.tool, "tools/vmlease-sandbox", "PATH" },
    { "lockspace", 0, 0, G_OPTION_ARG_STRING, &b.lockspace, "Lockspace (sandbox)", "NAME" },
    { NULL }
  };
  int rc = 0;

  g_option_context_set_description (ctx,
    "Needs DBUS_SYSTEM_BUS_ADDRESS and SANLOCK_RUN_DIR of sandbox host 1 (. DIR/host1.env)\n"
    "and --sandbox DIR --sandbox-tool PATH for the restart; bench/scale sets it all up.\n");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || b.count < 1 ||
      b.sandbox == NULL || b.tool == NULL || g_getenv ("SANLOCK_RUN_DIR") == NULL)
    {
      g_printerr ("vml-bench-scale: %s\n", error ? error->message
                  : "--count >= 1, --sandbox, --sandbox-tool and SANLOCK_RUN_DIR are needed");
      return 2;
    }
  if (b.lockspace == NULL)
    b.lockspace = g_strdup ("sandbox");
  if (b.seed < 0)
    b.seed = g_get_real_time () % G_MAXUINT32;
  signal (SIGPIPE, SIG_IGN);
  for (int s = 0; s < N_SERIES; s++)
    vml_bench_series_init (&b.series[s], series_names[s], series_what[s]);
  b.uuids = g_ptr_array_new_with_free_func (g_free);
  b.paths = g_ptr_array_new_with_free_func (g_free);
  b.bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (b.bus == NULL || !run (&b, &error))
    {
      g_printerr ("vml-bench-scale: %s\n", error->message);
      rc = 1;
    }
  if (b.bus != NULL)
    cleanup (&b);
  if (rc == 0)
    report (&b);
  for (int s = 0; s < N_SERIES; s++)
    vml_bench_series_clear (&b.series[s]);
  g_ptr_array_unref (b.uuids);
  g_ptr_array_unref (b.paths);
  g_clear_object (&b.bus);
  g_free (b.storage);
  g_free (b.ceiling_answer);
  g_free (b.sandbox);
  g_free (b.tool);
  g_free (b.lockspace);
  return rc;
}
