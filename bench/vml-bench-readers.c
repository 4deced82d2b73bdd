/* vml-bench-readers: what unprivileged readers flooding vmleased do to
 * root's Acquire + Release, against the same with no readers, in the same
 * run on the same storage.
 *
 * Needs a running sandbox host (bench/readers starts one):
 * DBUS_SYSTEM_BUS_ADDRESS of that host, its lockspace joined. Makes two
 * leases (CreateLease; DeleteLease at the end): one that root acquires and
 * releases, one that the readers Inquire. Then --readers processes (8) drop
 * to uid/gid 65534 (nobody), each with its own bus connection, and keep
 * --depth calls (4) in flight without pause: GetLease of a new random UUID
 * (an index lookup on storage each time, a miss) and Inquire of the second
 * lease (a storage read), alternately. Busy answers (vmleased's limit of
 * calls in flight per uid) are counted and the reader goes on.
 *
 * Rounds alternate in blocks of --block (10): idle (readers stopped with
 * SIGSTOP, their calls drained) and flooded (SIGCONT), so that drift hits
 * both series alike. Prints median, p90, mean per series and the ratio of
 * the medians flooded / idle; the target is <= 2. The ratio is reported,
 * never asserted: the exit status is 0 unless something failed.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "vml-bench-bus.h"
#include "vml-bench-stats.h"

#define NOBODY          65534
#define TARGET_RATIO    2.0
#define DRAIN_US        (300 * 1000)   /* after SIGSTOP: calls in flight finish */
#define RAMP_US         (200 * 1000)   /* after SIGCONT: the flood is back */

typedef struct {
  gint calls;   /* answered, Busy included */
  gint busy;
  gint failed;  /* neither an answer nor Busy/NotFound */
} ReaderCounts;

typedef struct {
  int              rounds, warmup, block, readers, depth;
  char            *lockspace;
  GDBusConnection *bus;
  char            *uuid[2];        /* [0] acquired by root, [1] inquired by readers */
  char            *path[2];        /* their objects */
  gboolean         created[2];
  GPid            *pids;
  ReaderCounts    *counts;         /* shared with the readers (MAP_SHARED) */
  VmlBenchSeries   idle, flooded;
} Bench;

/* ---- root's side ------------------------------------------------------------ */

static gboolean
create_lease (Bench *b, int i, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  reply = vml_bench_bus_call (b->bus, MANAGER_PATH, MANAGER_IFACE, "CreateLease",
                              g_variant_new ("(ss@a{sv})", b->uuid[i], b->lockspace,
                                             g_variant_new ("a{sv}", NULL)), NULL, error);
  if (reply == NULL)
    {
      g_prefix_error (error, "CreateLease %s: ", b->uuid[i]);
      return FALSE;
    }
  b->created[i] = TRUE;
  return TRUE;
}

static void
delete_lease (Bench *b, int i)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  if (!b->created[i])
    return;
  reply = vml_bench_bus_call (b->bus, MANAGER_PATH, MANAGER_IFACE, "DeleteLease",
                              g_variant_new ("(s@a{sv})", b->uuid[i],
                                             g_variant_new ("a{sv}", NULL)), NULL, &error);
  if (reply == NULL)
    g_printerr ("vml-bench-readers: DeleteLease %s: %s\n", b->uuid[i], error->message);
}

static gboolean
lease_call (Bench *b, const char *method, GError **error)
{
  g_autoptr(GVariant) reply = vml_bench_bus_call (b->bus, b->path[0], LEASE_IFACE, method,
                                                  g_variant_new ("(@a{sv})",
                                                                 g_variant_new ("a{sv}", NULL)),
                                                  NULL, error);

  if (reply == NULL)
    g_prefix_error (error, "%s: ", method);
  return reply != NULL;
}

static gboolean
round_acquire_release (Bench *b, double *us, GError **error)
{
  gint64 t0 = g_get_monotonic_time ();

  if (!lease_call (b, "Acquire", error) || !lease_call (b, "Release", error))
    return FALSE;
  *us = (double) (g_get_monotonic_time () - t0);
  return TRUE;
}

/* ---- a reader (a child process, uid nobody) ---------------------------------- */

typedef struct {
  GDBusConnection *bus;
  const char      *inquire_path;
  ReaderCounts    *counts;
  guint            n;
} Reader;

static void reader_send (Reader *r);

static void
on_reader_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Reader *r = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (r->bus, result, &error);
  g_autofree char *name = error ? g_dbus_error_get_remote_error (error) : NULL;

  g_atomic_int_inc (&r->counts->calls);
  if (g_strcmp0 (name, "org.example.VMLease.Error.Busy") == 0)
    g_atomic_int_inc (&r->counts->busy);
  else if (error != NULL && g_strcmp0 (name, "org.example.VMLease.Error.NotFound") != 0)
    g_atomic_int_inc (&r->counts->failed);
  reader_send (r);
}

static void
reader_send (Reader *r)
{
  g_autofree char *random_uuid = g_uuid_string_random ();

  if (r->n++ % 2 == 0)
    g_dbus_connection_call (r->bus, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "GetLease",
                            g_variant_new ("(s)", random_uuid), NULL, G_DBUS_CALL_FLAGS_NONE,
                            CALL_TIMEOUT_MS, NULL, on_reader_reply, r);
  else
    g_dbus_connection_call (r->bus, BUS_NAME, r->inquire_path, LEASE_IFACE, "Inquire",
                            g_variant_new ("(@a{sv})", g_variant_new ("a{sv}", NULL)), NULL,
                            G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, on_reader_reply, r);
}

static G_GNUC_NORETURN void
reader_main (Bench *b, ReaderCounts *counts)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Reader r = { .inquire_path = b->path[1], .counts = counts };

  if (setgroups (0, NULL) != 0 || setgid (NOBODY) != 0 || setuid (NOBODY) != 0)
    {
      g_printerr ("vml-bench-readers: reader cannot become uid %d: %s\n", NOBODY,
                  g_strerror (errno));
      _exit (1);
    }
  r.bus = g_dbus_connection_new_for_address_sync (g_getenv ("DBUS_SYSTEM_BUS_ADDRESS"),
                                                  G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                  G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                  NULL, NULL, &error);
  if (r.bus == NULL)
    {
      g_printerr ("vml-bench-readers: reader cannot connect as uid %d: %s\n", NOBODY,
                  error->message);
      _exit (1);
    }
  /* Stopped until the parent has made the leases and starts a flooded block. */
  raise (SIGSTOP);
  for (int i = 0; i < b->depth; i++)
    reader_send (&r);
  g_main_loop_run (loop);
  _exit (0);
}

/* Forked before this process has a thread (GDBus starts one with the first
 * connection), so each reader can make its own; each stops itself once
 * connected, and is waited for here. */
static gboolean
start_readers (Bench *b, GError **error)
{
  b->pids = g_new0 (GPid, b->readers);
  for (int i = 0; i < b->readers; i++)
    {
      pid_t pid = fork ();

      if (pid < 0)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "fork: %s",
                       g_strerror (errno));
          return FALSE;
        }
      if (pid == 0)
        reader_main (b, &b->counts[i]);
      b->pids[i] = pid;
    }
  for (int i = 0; i < b->readers; i++)
    {
      int status;

      if (waitpid (b->pids[i], &status, WUNTRACED) != b->pids[i] || !WIFSTOPPED (status))
        {
          b->pids[i] = 0;
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "reader %d did not start", i);
          return FALSE;
        }
    }
  return TRUE;
}

static void
signal_readers (Bench *b, int signo)
{
  for (int i = 0; b->pids != NULL && i < b->readers; i++)
    if (b->pids[i] > 0)
      kill (b->pids[i], signo);
}

static void
stop_readers (Bench *b)
{
  signal_readers (b, SIGCONT);
  signal_readers (b, SIGTERM);
  for (int i = 0; b->pids != NULL && i < b->readers; i++)
    if (b->pids[i] > 0)
      waitpid (b->pids[i], NULL, 0);
}

/* ---- the run ------------------------------------------------------------------- */

static gboolean
run_rounds (Bench *b, GError **error)
{
  gboolean flooded = FALSE;

  signal_readers (b, SIGSTOP);
  g_usleep (DRAIN_US);
  for (int r = 0; r < b->warmup + b->rounds; r++)
    {
      double us;

      if (r >= b->warmup && (r - b->warmup) % b->block == 0)
        {
          flooded = ((r - b->warmup) / b->block) % 2 == 1;
          signal_readers (b, flooded ? SIGCONT : SIGSTOP);
          g_usleep (flooded ? RAMP_US : DRAIN_US);
        }
      if (!round_acquire_release (b, &us, error))
        {
          g_prefix_error (error, "round %d (%s): ", r + 1, flooded ? "flooded" : "idle");
          return FALSE;
        }
      if (r >= b->warmup)
        vml_bench_series_add (flooded ? &b->flooded : &b->idle, us);
    }
  return TRUE;
}

static void
report (Bench *b)
{
  g_autofree char *machine = vml_bench_machine_description ();
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *when = g_date_time_format_iso8601 (now);
  ReaderCounts total = { 0 };
  VmlBenchSeries *series[] = { &b->idle, &b->flooded };
  double ratio;

  for (int i = 0; i < b->readers; i++)
    {
      total.calls += g_atomic_int_get (&b->counts[i].calls);
      total.busy += g_atomic_int_get (&b->counts[i].busy);
      total.failed += g_atomic_int_get (&b->counts[i].failed);
    }
  vml_bench_series_summarize (&b->idle);
  vml_bench_series_summarize (&b->flooded);
  ratio = b->idle.median > 0 ? b->flooded.median / b->idle.median : 0;
  printf ("vml-bench-readers: %d rounds (+%d warm-up) in blocks of %d, %s\n", b->rounds,
          b->warmup, b->block, when);
  printf ("machine: %s\nreaders: %d as uid %d, %d calls in flight each (GetLease of a new "
          "UUID, Inquire)\n\n", machine, b->readers, NOBODY, b->depth);
  printf ("%-9s %10s %10s %10s %10s %10s   (ms)\n", "series", "median", "p90", "mean",
          "min", "max");
  for (guint i = 0; i < G_N_ELEMENTS (series); i++)
    printf ("%-9s %10.3f %10.3f %10.3f %10.3f %10.3f   %s\n", series[i]->name,
            series[i]->median / 1000, series[i]->p90 / 1000, series[i]->mean / 1000,
            series[i]->min / 1000, series[i]->max / 1000, series[i]->what);
  printf ("\nreader calls answered: %d (Busy: %d, other errors: %d)\n", total.calls,
          total.busy, total.failed);
  printf ("ratio flooded/idle (medians): %.2f\n", ratio);
  printf ("target ratio <= %.1f: %s\n", TARGET_RATIO, ratio <= TARGET_RATIO ? "met" : "not met");
}

static gboolean
parse_args (Bench *b, int *argc, char ***argv)
{
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- Acquire+Release while "
                                                        "unprivileged readers flood vmleased");
  g_autoptr(GError) error = NULL;
  const GOptionEntry entries[] = {
    { "rounds", 'n', 0, G_OPTION_ARG_INT, &b->rounds, "Measured rounds (200)", "N" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &b->warmup, "Unmeasured rounds first (5)", "N" },
    { "block", 0, 0, G_OPTION_ARG_INT, &b->block, "Rounds per idle or flooded block (10)",
      "N" },
    { "readers", 0, 0, G_OPTION_ARG_INT, &b->readers, "Reader processes (8)", "N" },
    { "depth", 0, 0, G_OPTION_ARG_INT, &b->depth, "Calls in flight per reader (4)", "N" },
    { "lockspace", 0, 0, G_OPTION_ARG_STRING, &b->lockspace, "Lockspace (sandbox)", "NAME" },
    { NULL }
  };

  g_option_context_set_description (ctx, "Run as root, with DBUS_SYSTEM_BUS_ADDRESS of a "
                                    "sandbox host; bench/readers sets one up.\n");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, &error))
    {
      g_printerr ("vml-bench-readers: %s\n", error->message);
      return FALSE;
    }
  if (b->rounds < 2 || b->warmup < 0 || b->block < 1 || b->readers < 1 || b->depth < 1)
    {
      g_printerr ("vml-bench-readers: --rounds >= 2, --warmup >= 0, --block, --readers, "
                  "--depth >= 1\n");
      return FALSE;
    }
  if (b->lockspace == NULL)
    b->lockspace = g_strdup ("sandbox");
  return TRUE;
}

int
main (int argc, char **argv)
{
  Bench b = { .rounds = 200, .warmup = 5, .block = 10, .readers = 8, .depth = 4 };
  g_autoptr(GError) error = NULL;
  int rc = 0;

  if (!parse_args (&b, &argc, &argv))
    return 2;
  if (g_getenv ("DBUS_SYSTEM_BUS_ADDRESS") == NULL || geteuid () != 0)
    {
      g_printerr ("vml-bench-readers: run as root with DBUS_SYSTEM_BUS_ADDRESS of a sandbox "
                  "host (. DIR/host1.env)\n");
      return 2;
    }
  vml_bench_series_init (&b.idle, "idle", "Acquire+Release by root, readers stopped");
  vml_bench_series_init (&b.flooded, "flooded", "Acquire+Release by root, readers flooding");
  b.counts = mmap (NULL, sizeof (ReaderCounts) * b.readers, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (b.counts == MAP_FAILED)
    {
      g_printerr ("vml-bench-readers: mmap: %s\n", g_strerror (errno));
      return 1;
    }
  for (int i = 0; i < 2; i++)
    {
      b.uuid[i] = g_uuid_string_random ();
      b.path[i] = g_strdup_printf (MANAGER_PATH "/vm/%s", b.uuid[i]);
      g_strdelimit (b.path[i] + strlen (MANAGER_PATH "/vm/"), "-", '_');
    }
  if (!start_readers (&b, &error) ||
      !(b.bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error)) ||
      !create_lease (&b, 0, &error) || !create_lease (&b, 1, &error) ||
      !run_rounds (&b, &error))
    {
      g_printerr ("vml-bench-readers: %s\n", error->message);
      rc = 1;
    }
  stop_readers (&b);
  if (rc == 0)
    report (&b);
  if (b.bus != NULL)
    {
      delete_lease (&b, 0);
      delete_lease (&b, 1);
    }
  return rc;
}
