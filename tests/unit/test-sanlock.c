/* test-sanlock.c: vml-sanlock.c against real sanlock daemons.
 *
 * The test starts two unprivileged sanlock daemons ("host1", "host2"), each
 * with its own SANLOCK_RUN_DIR, sharing one sparse lease file in a temporary
 * directory (as the sandbox does, docs/sandbox.md), formats and joins one
 * lockspace with io_timeout 1 once, and spawns the real vmlease-holder
 * ($VMLEASE_HOLDER) on each host.
 *
 * Which daemon a call reaches: libsanlock_client reads SANLOCK_RUN_DIR once,
 * at its first connection, and keeps the pointer getenv() gave it, so a
 * setenv() later changes nothing. We putenv() a buffer of our own once and
 * rewrite the host digit inside it ("…/run1" <-> "…/run2"): getenv() and the
 * library's cached pointer both see the edit.
 *
 * Every child gets PR_SET_PDEATHSIG so a failed assertion (abort) or a meson
 * timeout does not leave daemons or holders behind.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "vml-error.h"
#include "vml-holder-protocol.h"
#include "vml-mode-block.h"
#include "vml-sanlock.h"

#define LOCKSPACE      "vmltest"
#define MIB            (G_GUINT64_CONSTANT (1024) * 1024)
#define LEASE_FILE_MIB 64
#define RES_FILE_MIB   16
#define N_HOSTS        2

static struct {
  char    *tmpdir;
  char    *lease_file;          /* lockspace + index + indexed leases */
  char    *res_file;            /* leases at explicit offsets */
  char     env[512];            /* "SANLOCK_RUN_DIR=<tmpdir>/runN", putenv()ed */
  gsize    env_len;
  GPid     daemon[N_HOSTS + 1]; /* by host id */
  gboolean joined;
} T;

/* ---- processes ------------------------------------------------------- */

static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static char *
run_dir (int host)
{
  return g_strdup_printf ("%s/run%d", T.tmpdir, host);
}

/* Points this process's sanlock calls at @host's daemon (host 3: none). */
static void
use_host (int host)
{
  T.env[T.env_len - 1] = (char) ('0' + host);
}

static char **
host_environ (int host)
{
  g_autofree char *dir = run_dir (host);
  char **envp = g_get_environ ();

  envp = g_environ_setenv (envp, "SANLOCK_RUN_DIR", dir, TRUE);
  return g_environ_setenv (envp, "SANLOCK_PRIVILEGED", "0", TRUE);
}

static const char *
sanlock_program (void)
{
  static char *path;

  if (path == NULL)
    path = g_find_program_in_path ("sanlock");
  if (path == NULL && g_file_test ("/usr/sbin/sanlock", G_FILE_TEST_IS_EXECUTABLE))
    path = g_strdup ("/usr/sbin/sanlock");
  if (path == NULL)
    g_error ("sanlock is not installed");
  return path;
}

/* Waits up to @timeout_ms for @pid; returns its wait status or -1. */
static int
wait_pid (GPid pid, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  int status;

  while (g_get_monotonic_time () < deadline)
    {
      pid_t r = waitpid (pid, &status, WNOHANG);

      if (r == pid)
        return status;
      if (r < 0 && errno != EINTR)
        return -1;
      g_usleep (10 * 1000);
    }
  return -1;
}

static void
start_daemon (int host)
{
  g_autofree char *dir = run_dir (host);
  g_autofree char *log = g_strdup_printf ("%s/sanlock%d.log", T.tmpdir, host);
  g_autofree char *sock = g_build_filename (dir, "sanlock.sock", NULL);
  g_autofree char *name = g_strdup_printf ("host%d", host);
  g_auto(GStrv) envp = host_environ (host);
  g_autoptr(GError) error = NULL;
  struct group *gr = getgrgid (getgid ());
  const char *argv[] = { sanlock_program (), "daemon", "-D", "-w", "0", "-l", "0", "-h", "0",
                         "-U", g_get_user_name (), "-G", gr != NULL ? gr->gr_name : "root",
                         "-e", name, NULL };
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  int fd;

  g_assert_no_errno (g_mkdir (dir, 0700));
  fd = open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  g_assert_cmpint (fd, >=, 0);
  g_spawn_async_with_pipes_and_fds (NULL, argv, (const char * const *) envp,
                                    G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent, NULL,
                                    -1, fd, fd, NULL, NULL, 0,
                                    &T.daemon[host], NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  close (fd);

  use_host (host);
  while (!g_file_test (sock, G_FILE_TEST_EXISTS) || !vml_sanlock_ping (NULL))
    {
      g_assert_cmpint (waitpid (T.daemon[host], NULL, WNOHANG), ==, 0);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20 * 1000);
    }
}

/* Stops only the daemon we started: shutdown -f 1, SIGKILL if it lingers. */
static void
stop_daemon (int host)
{
  g_auto(GStrv) envp = host_environ (host);
  const char *argv[] = { sanlock_program (), "client", "shutdown", "-f", "1", NULL };

  if (T.daemon[host] <= 0)
    return;
  g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_STDOUT_TO_DEV_NULL |
                G_SPAWN_STDERR_TO_DEV_NULL, die_with_parent, NULL, NULL, NULL, NULL, NULL);
  if (wait_pid (T.daemon[host], 5000) < 0)
    {
      kill (T.daemon[host], SIGKILL);
      wait_pid (T.daemon[host], 5000);
    }
  T.daemon[host] = 0;
}

static char *
read_line (int fd, guint timeout_ms)
{
  GString *line = g_string_new (NULL);
  struct pollfd pfd = { .fd = fd, .events = POLLIN };
  char c;

  while (poll (&pfd, 1, (int) timeout_ms) == 1 && read (fd, &c, 1) == 1 && c != '\n')
    g_string_append_c (line, c);
  return g_string_free (line, FALSE);
}

static const char *
holder_program (void)
{
  const char *path = g_getenv ("VMLEASE_HOLDER");

  if (path == NULL)
    g_error ("set VMLEASE_HOLDER to the built vmlease-holder (meson test does)");
  return path;
}

/* Runs a spare vmlease-holder for @host, as vmleased does; returns its pid
 * once it said "ready", and its stdin (the claim pipe) in @in. */
static GPid
spawn_spare (int host, int *in)
{
  const char *argv[] = { holder_program (), NULL };
  g_auto(GStrv) envp = host_environ (host);
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  GPid pid;
  int out;

  g_spawn_async_with_pipes (NULL, (char **) argv, envp, G_SPAWN_DO_NOT_REAP_CHILD,
                            die_with_parent, NULL, &pid, in, &out, NULL, &error);
  g_assert_no_error (error);
  line = read_line (out, 10000);
  close (out);
  g_assert_cmpstr (line, ==, "ready");
  return pid;
}

static void
write_line (int fd, const char *line)
{
  g_assert_cmpint (write (fd, line, strlen (line)), ==, (gssize) strlen (line));
}

/* A holder claimed for @uuid, as vmleased hands one to a lease. */
static GPid
spawn_holder (int host, const char *uuid)
{
  g_autofree char *claim = g_strdup_printf (VML_HOLDER_CMD_CLAIM " %s %s 0\n", uuid,
                                            vml_fence_name (VML_FENCE_NONE));
  int in;
  GPid pid = spawn_spare (host, &in);

  write_line (in, claim);
  close (in);   /* after a claim, the end of stdin means nothing */
  return pid;
}

/* vmlease-holder's exit status after SIGTERM while sanlock still counted a
 * lease as its own: it fenced the VM (as claimed: none here) and exited. */
#define HOLDER_REVOKED VML_HOLDER_EXIT_REVOKED

/* Sends @sig to a holder and returns its exit status. */
static int
stop_holder (GPid pid, int sig)
{
  int status;

  g_assert_no_errno (kill (pid, sig));
  status = wait_pid (pid, 10000);
  g_assert_cmpint (status, !=, -1);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

/* ---- fixtures -------------------------------------------------------- */

/* A file of @mib MiB of zeroes in our directory, sparse: storage to format. */
static char *
sparse_file (const char *name, guint64 mib)
{
  char *path = g_build_filename (T.tmpdir, name, NULL);

  g_assert_true (g_file_set_contents (path, "", 0, NULL));
  g_assert_no_errno (truncate (path, (off_t) (mib * MIB)));
  return path;
}

static VmlSanlockLockspace
lockspace (guint64 host_id)
{
  return (VmlSanlockLockspace) {
    .name = LOCKSPACE, .host_id = host_id, .path = T.lease_file, .offset = 0, .io_timeout = 1,
  };
}

static VmlSanlockResource
resource (const char *name, guint64 mib)
{
  return (VmlSanlockResource) {
    .lockspace = LOCKSPACE, .name = name, .path = T.res_file, .offset = mib * MIB,
  };
}

static gboolean
host_is_live (GArray *hosts, guint64 id)
{
  for (guint i = 0; i < hosts->len; i++)
    {
      VmlSanlockHost *h = &g_array_index (hosts, VmlSanlockHost, i);
      if (h->host_id == id && h->state == VML_HOST_LIVE)
        return TRUE;
    }
  return FALSE;
}

/* Until @host sees every host LIVE, so owners and liveness are settled. */
static void
wait_all_live (int host)
{
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  use_host (host);
  for (;;)
    {
      g_autoptr(GArray) hosts = vml_sanlock_get_hosts (LOCKSPACE, NULL);

      if (hosts != NULL && host_is_live (hosts, 1) && host_is_live (hosts, 2))
        return;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (200 * 1000);
    }
}

/* Formats the lockspace and joins both hosts, once per run. */
static void
ensure_joined (void)
{
  VmlSanlockLockspace ls = lockspace (0);
  g_autoptr(GError) error = NULL;

  if (T.joined)
    return;
  use_host (1);
  g_assert_true (vml_sanlock_format_lockspace (&ls, &error));
  g_assert_no_error (error);
  for (int host = 1; host <= N_HOSTS; host++)
    {
      ls = lockspace (host);
      use_host (host);
      g_assert_true (vml_sanlock_join_lockspace (&ls, NULL, &error));
      g_assert_no_error (error);
    }
  wait_all_live (1);
  wait_all_live (2);
  T.joined = TRUE;
}

static void
assert_error (GError *error, int code, const char *fragment)
{
  g_assert_error (error, VML_ERROR, code);
  if (fragment != NULL && strstr (error->message, fragment) == NULL)
    g_error ("error message \"%s\" lacks \"%s\"", error->message, fragment);
  g_assert_nonnull (strstr (error->message, "(sanlock: "));
}

static gboolean
has_id (GArray *ids, guint64 id)
{
  for (guint i = 0; i < ids->len; i++)
    if (g_array_index (ids, guint64, i) == id)
      return TRUE;
  return FALSE;
}

/* A lease of our lockspace at @mib MiB into the resource file, written
 * afresh through host 1, whose daemon later calls then go to. */
static VmlSanlockResource
fresh_lease (const char *name, guint64 mib)
{
  VmlSanlockResource res = resource (name, mib);
  g_autoptr(GError) error = NULL;

  ensure_joined ();
  use_host (1);
  g_assert_true (vml_sanlock_resource_init (&res, &error));
  g_assert_no_error (error);
  return res;
}

/* Where every two-host case starts: a holder claimed for @res on each host
 * (in @h1, @h2), host 1's holding it exclusively. Returns its lver. */
static guint64
held_by_host1 (const VmlSanlockResource *res, GPid *h1, GPid *h2)
{
  g_autoptr(GError) error = NULL;
  guint64 lver = 0;

  *h1 = spawn_holder (1, res->name);
  *h2 = spawn_holder (2, res->name);
  use_host (1);
  g_assert_true (vml_sanlock_acquire (res, *h1, FALSE, 0, &lver, &error));
  g_assert_no_error (error);
  return lver;
}

/* ---- daemon and lockspace -------------------------------------------- */

static void
test_ping (void)
{
  g_autoptr(GError) error = NULL;
  VmlSanlockLockspace ls;

  use_host (1);
  g_assert_true (vml_sanlock_ping (&error));
  g_assert_no_error (error);

  use_host (3);   /* no daemon there */
  g_assert_false (vml_sanlock_ping (&error));
  assert_error (error, VML_ERROR_FAILED, "run3/sanlock.sock");
  g_clear_error (&error);
  g_assert_null (vml_sanlock_get_hosts (LOCKSPACE, &error));
  assert_error (error, VML_ERROR_FAILED, "is sanlock running?");
  g_clear_error (&error);
  ls = lockspace (1);
  g_assert_false (vml_sanlock_join_lockspace (&ls, NULL, &error));
  assert_error (error, VML_ERROR_FAILED, "is sanlock running?");
}

static void
test_format_join (void)
{
  VmlSanlockLockspace ls = lockspace (1);
  g_autoptr(GArray) hosts = NULL;
  g_autoptr(GError) error = NULL;

  ensure_joined ();
  for (int host = 1; host <= N_HOSTS; host++)
    {
      ls = lockspace (host);
      use_host (host);
      g_assert_true (vml_sanlock_lockspace_is_joined (&ls));
    }
  ls = lockspace (2);
  use_host (1);
  g_assert_false (vml_sanlock_lockspace_is_joined (&ls));   /* host1 joined as 1 */

  hosts = vml_sanlock_get_hosts (LOCKSPACE, &error);
  g_assert_no_error (error);
  g_assert_true (host_is_live (hosts, 1));
  g_assert_true (host_is_live (hosts, 2));
  for (guint i = 0; i < hosts->len; i++)
    g_assert_cmpuint (g_array_index (hosts, VmlSanlockHost, i).io_timeout, ==, 1);
}

static void
test_join_again (void)
{
  VmlSanlockLockspace ls;
  g_autoptr(GError) error = NULL;

  ensure_joined ();
  /* vmleased restarting: same host id and location */
  for (int host = 1; host <= N_HOSTS; host++)
    {
      ls = lockspace (host);
      ls.io_timeout = 0;   /* take the one on disk */
      use_host (host);
      g_assert_true (vml_sanlock_join_lockspace (&ls, NULL, &error));
      g_assert_no_error (error);
    }
  /* same name, another host id */
  use_host (1);
  ls = lockspace (5);
  g_assert_false (vml_sanlock_join_lockspace (&ls, NULL, &error));
  assert_error (error, VML_ERROR_EXISTS, "already joined it with host id 1");
  g_clear_error (&error);
  ls = lockspace (0);
  g_assert_false (vml_sanlock_join_lockspace (&ls, NULL, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* formatting under a joined lockspace would wipe it */
  g_assert_false (vml_sanlock_format_lockspace (&ls, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_EXISTS);
  g_assert_nonnull (strstr (error->message, "leave it first"));
  g_clear_error (&error);
  /* nothing formatted there */
  ls = (VmlSanlockLockspace) { .name = "empty", .host_id = 1, .path = T.res_file,
                               .offset = 12 * MIB };
  g_assert_false (vml_sanlock_join_lockspace (&ls, NULL, &error));
  assert_error (error, VML_ERROR_NOT_FOUND, "format it first");
}

static void
test_lockspace_errors (void)
{
  g_autofree char *small = sparse_file ("small", 3);
  VmlSanlockLockspace ls = { .name = "small", .path = small, .io_timeout = 1 };
  g_autoptr(GError) error = NULL;

  use_host (1);
  g_assert_false (vml_sanlock_format_lockspace (&ls, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "too small"));
  g_clear_error (&error);

  ls.offset = 4096;
  g_assert_false (vml_sanlock_format_lockspace (&ls, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_assert_null (vml_sanlock_get_hosts ("notjoined", &error));
  assert_error (error, VML_ERROR_LOCKSPACE_NOT_JOINED, "notjoined");
  g_clear_error (&error);

  /* leaving one that is not joined is a no-op */
  ls = (VmlSanlockLockspace) { .name = "notjoined", .host_id = 1, .path = small };
  g_assert_true (vml_sanlock_leave_lockspace (&ls, &error));
  g_assert_no_error (error);
}

/* ---- resource index -------------------------------------------------- */

static void
test_index (void)
{
  VmlSanlockLockspace ls = lockspace (0);
  g_autoptr(GError) error = NULL;
  g_autofree char *found_ls = NULL, *found_name = NULL;
  guint64 a = 0, b = 0, c = 0, off = 0;

  ensure_joined ();
  use_host (1);
  g_assert_true (vml_sanlock_index_create (&ls, "vm-a", &a, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (a, ==, 3 * MIB);   /* the first lease after the index */
  g_assert_true (vml_sanlock_index_create (&ls, "vm-b", &b, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (b, ==, 4 * MIB);

  g_assert_false (vml_sanlock_index_create (&ls, "vm-a", &off, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_EXISTS);
  g_clear_error (&error);

  use_host (2);   /* the other host sees the same index */
  g_assert_true (vml_sanlock_index_lookup (&ls, "vm-a", &off, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (off, ==, a);
  g_assert_false (vml_sanlock_index_lookup (&ls, "vm-missing", &off, &error));
  assert_error (error, VML_ERROR_NOT_FOUND, "vm-missing");
  g_clear_error (&error);
  g_assert_false (vml_sanlock_index_delete (&ls, "vm-a", b, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (vml_sanlock_index_delete (&ls, "vm-a", a, &error));
  g_assert_no_error (error);
  g_assert_false (vml_sanlock_index_lookup (&ls, "vm-a", &off, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_NOT_FOUND);
  g_clear_error (&error);

  use_host (1);   /* a freed slot is handed out again, with a fresh lease */
  g_assert_true (vml_sanlock_index_create (&ls, "vm-c", &c, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (c, ==, a);
  g_assert_true (vml_sanlock_resource_read_name (T.lease_file, c, &found_ls, &found_name,
                                                 &error));
  g_assert_no_error (error);
  g_assert_cmpstr (found_ls, ==, LOCKSPACE);
  g_assert_cmpstr (found_name, ==, "vm-c");

  g_assert_true (vml_sanlock_index_delete (&ls, "vm-b", 0, &error));
  g_assert_no_error (error);
  g_assert_true (vml_sanlock_index_delete (&ls, "vm-c", c, &error));
  g_assert_no_error (error);
  /* delete clears the lease too */
  g_assert_false (vml_sanlock_resource_read_name (T.lease_file, c, NULL, NULL, &error));
  assert_error (error, VML_ERROR_NOT_FOUND, "no lease");
  g_clear_error (&error);

  ls = (VmlSanlockLockspace) { .name = "notjoined", .path = T.lease_file };
  g_assert_false (vml_sanlock_index_lookup (&ls, "vm-a", &off, &error));
  assert_error (error, VML_ERROR_LOCKSPACE_NOT_JOINED, NULL);
}

/* ---- resources at explicit locations --------------------------------- */

static void
test_resource (void)
{
  VmlSanlockResource res = resource ("vm-explicit", 1);
  g_autoptr(GError) error = NULL;
  char *found_ls = NULL, *found_name = NULL;

  use_host (1);
  g_assert_true (vml_sanlock_resource_init (&res, &error));
  g_assert_no_error (error);
  g_assert_true (vml_sanlock_resource_read_name (T.res_file, MIB, &found_ls, &found_name,
                                                 &error));
  g_assert_no_error (error);
  g_assert_cmpstr (found_ls, ==, LOCKSPACE);
  g_assert_cmpstr (found_name, ==, "vm-explicit");
  g_free (found_ls);
  g_free (found_name);

  g_assert_true (vml_sanlock_resource_clear (&res, &error));
  g_assert_no_error (error);
  g_assert_false (vml_sanlock_resource_read_name (T.res_file, MIB, NULL, NULL, &error));
  assert_error (error, VML_ERROR_NOT_FOUND, "no lease at");
  g_clear_error (&error);

  /* never written */
  g_assert_false (vml_sanlock_resource_read_name (T.res_file, 13 * MIB, NULL, NULL, &error));
  assert_error (error, VML_ERROR_NOT_FOUND, NULL);
  g_clear_error (&error);

  res.offset = MIB + 512;
  g_assert_false (vml_sanlock_resource_init (&res, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  res = resource ("bad:name", 1);
  g_assert_false (vml_sanlock_resource_init (&res, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  res = resource ("vm-x", 1);
  res.path = "/nonexistent/leases";
  g_assert_false (vml_sanlock_resource_init (&res, &error));
  assert_error (error, VML_ERROR_STORAGE_FAILURE, NULL);
}

/* ---- leases held by real holders ------------------------------------- */

static void
test_exclusive (void)
{
  VmlSanlockResource res = fresh_lease ("vm-ex", 2);
  g_autoptr(VmlSanlockOwners) owners = NULL;
  g_autoptr(GError) error = NULL;
  gboolean held = FALSE, shared = TRUE;
  guint64 lver, held_lver = 0;
  GPid h1, h2;

  lver = held_by_host1 (&res, &h1, &h2);
  g_assert_cmpuint (lver, ==, 1);   /* first acquire of a fresh lease */
  g_assert_true (vml_sanlock_inquire_holder (h1, "vm-ex", &held, &shared, &held_lver, &error));
  g_assert_no_error (error);
  g_assert_true (held);
  g_assert_false (shared);
  g_assert_cmpuint (held_lver, ==, lver);
  g_assert_false (vml_sanlock_acquire (&res, h1, FALSE, 0, NULL, &error));
  assert_error (error, VML_ERROR_EXISTS, "already holds");
  g_clear_error (&error);

  use_host (2);
  g_assert_false (vml_sanlock_acquire (&res, h2, FALSE, 0, NULL, &error));
  assert_error (error, VML_ERROR_BUSY, "held exclusively by host 1 (generation 1)");
  g_test_message ("EX vs EX: %s", error->message);
  g_clear_error (&error);
  g_assert_false (vml_sanlock_acquire (&res, h2, TRUE, 0, NULL, &error));
  assert_error (error, VML_ERROR_BUSY, "host 1");
  g_test_message ("SH vs EX: %s", error->message);
  g_clear_error (&error);
  g_assert_true (vml_sanlock_inquire_holder (h2, "vm-ex", &held, NULL, NULL, &error));
  g_assert_false (held);

  owners = vml_sanlock_read_owners (&res, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (owners->owner, ==, 1);
  g_assert_cmpuint (owners->owner_generation, ==, 1);
  g_assert_cmpuint (owners->shared_owners->len, ==, 0);
  g_assert_cmpuint (owners->lver, ==, lver);
  g_assert_true (owners->owners_live);
  g_assert_true (has_id (owners->live_hosts, 1));
  g_assert_true (has_id (owners->live_hosts, 2));
  g_clear_pointer (&owners, vml_sanlock_owners_free);

  use_host (1);
  g_assert_true (vml_sanlock_release (&res, h1, &error));
  g_assert_no_error (error);
  g_assert_false (vml_sanlock_release (&res, h1, &error));
  assert_error (error, VML_ERROR_NOT_HELD, NULL);
  g_clear_error (&error);
  owners = vml_sanlock_read_owners (&res, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (owners->owner, ==, 0);
  g_assert_false (owners->owners_live);

  g_assert_cmpint (stop_holder (h1, SIGTERM), ==, 0);
  g_assert_cmpint (stop_holder (h2, SIGINT), ==, 0);
}

static guint64
host_generation (const char *lockspace, guint64 host_id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) hosts = vml_sanlock_get_hosts (lockspace, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < hosts->len; i++)
    if (g_array_index (hosts, VmlSanlockHost, i).host_id == host_id)
      return g_array_index (hosts, VmlSanlockHost, i).generation;
  g_assert_not_reached ();
}

/* vml-mode-block.c reads sanlock's on-disk format itself (the hand-off's
 * check in perform): it must agree with sanlock's own reading. Host 9's
 * dblock lies past the first 4 KiB it reads, so it takes a second read. */
static void
assert_mode_blocks_agree (const VmlSanlockResource *res, VmlSanlockOwners *owners)
{
  static const guint64 hosts[] = { 1, 2, 9 };

  for (guint i = 0; i < G_N_ELEMENTS (hosts); i++)
    {
      guint64 host = hosts[i];
      g_autoptr(GError) error = NULL;
      VmlModeBlock block;

      g_assert_true (vml_mode_block_read (res->path, res->offset, res->name, host, &block,
                                          &error));
      g_assert_no_error (error);
      g_assert_cmpuint (block.lver, ==, owners->lver);
      g_assert_cmpint (block.shared, ==, has_id (owners->shared_owners, host));
      if (block.shared)
        g_assert_cmpuint (block.generation, ==, host_generation (res->lockspace, host));
    }
}

static void
assert_owners (const VmlSanlockResource *res, guint64 owner, const guint64 *shared, guint n)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VmlSanlockOwners) owners = vml_sanlock_read_owners (res, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (owners->owner, ==, owner);
  g_assert_cmpuint (owners->shared_owners->len, ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_true (has_id (owners->shared_owners, shared[i]));
  g_assert_true (owners->owners_live);
  assert_mode_blocks_agree (res, owners);
}

/* An error of ours, not one sanlock returned. */
static void
assert_plain_error (GError *error, const char *fragment)
{
  g_assert_error (error, VML_ERROR, VML_ERROR_FAILED);
  if (strstr (error->message, fragment) == NULL)
    g_error ("error message \"%s\" lacks \"%s\"", error->message, fragment);
}

/* A lockspace and lease with 4096-byte sectors (a file takes either size):
 * the mode blocks lie 4 KiB apart, past vml-mode-block.c's first read, and
 * it learns that from the leader; it must still agree with sanlock. */
static void
test_shared_4k (void)
{
  g_autofree char *file = sparse_file ("ls4k", 6);
  VmlSanlockLockspace ls = { .name = "vml4k", .path = file, .io_timeout = 1,
                             .sector_size = VML_SANLOCK_SECTOR_4K };
  VmlSanlockResource res = { .lockspace = "vml4k", .name = "vm-sh4k", .path = file };
  static const guint64 both[] = { 1, 2 }, two[] = { 2 };
  g_autoptr(GError) error = NULL;
  guint formatted = 0;
  GPid h1, h2;

  use_host (1);
  g_assert_true (vml_sanlock_format_lockspace (&ls, &error));
  g_assert_no_error (error);
  for (int host = 1; host <= N_HOSTS; host++)
    {
      use_host (host);
      ls.host_id = host;
      g_assert_true (vml_sanlock_join_lockspace (&ls, &formatted, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (formatted, ==, VML_SANLOCK_SECTOR_4K);
    }
  g_assert_true (vml_sanlock_index_create (&ls, res.name, &res.offset, &error));
  g_assert_no_error (error);

  held_by_host1 (&res, &h1, &h2);
  g_assert_true (vml_sanlock_convert (&res, h1, TRUE, &error));
  g_assert_no_error (error);
  use_host (2);
  g_assert_true (vml_sanlock_acquire (&res, h2, TRUE, 0, NULL, &error));
  g_assert_no_error (error);
  assert_owners (&res, 0, both, 2);
  use_host (1);
  g_assert_true (vml_sanlock_release (&res, h1, &error));
  g_assert_no_error (error);
  assert_owners (&res, 0, two, 1);

  g_assert_cmpint (stop_holder (h1, SIGTERM), ==, 0);
  g_assert_cmpint (stop_holder (h2, SIGTERM), ==, HOLDER_REVOKED);   /* held SH */
  for (int host = 1; host <= N_HOSTS; host++)
    {
      use_host (host);
      ls.host_id = host;
      g_assert_true (vml_sanlock_leave_lockspace (&ls, &error));
      g_assert_no_error (error);
    }
}

static void
test_mode_block_errors (void)
{
  VmlSanlockResource res = resource ("vm-sh", 3);
  g_autoptr(GError) error = NULL;
  VmlModeBlock block;

  /* test_shared wrote "vm-sh" at 3 MiB: another name there, or another
   * offset, is not that lease. */
  g_assert_false (vml_mode_block_read (res.path, res.offset, "vm-other", 1, &block, &error));
  assert_plain_error (error, "No sanlock lease named vm-other");
  g_clear_error (&error);
  g_assert_false (vml_mode_block_read (res.path, 9 * MIB, "vm-sh", 1, &block, &error));
  assert_plain_error (error, "No sanlock lease named vm-sh");
  g_clear_error (&error);
  g_assert_false (vml_mode_block_read ("/nonexistent/leases", 0, "vm-sh", 1, &block, &error));
  assert_plain_error (error, "Cannot open /nonexistent/leases");
}

static void
test_shared (void)
{
  VmlSanlockResource res = fresh_lease ("vm-sh", 3);
  static const guint64 both[] = { 1, 2 }, two[] = { 2 }, one[] = { 1 };
  g_autoptr(GError) error = NULL;
  gboolean held = FALSE, shared = FALSE;
  guint64 lver = 0, ex_lver;
  GPid h1, h2;

  ex_lver = held_by_host1 (&res, &h1, &h2);
  g_assert_true (vml_sanlock_convert (&res, h1, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (vml_sanlock_convert (&res, h1, TRUE, &error));   /* already shared */
  g_assert_no_error (error);
  assert_owners (&res, 0, one, 1);
  g_assert_true (vml_sanlock_inquire_holder (h1, "vm-sh", &held, &shared, &lver, &error));
  g_assert_true (held);
  g_assert_true (shared);
  g_assert_cmpuint (lver, ==, 0);   /* sanlock reports none for SH */

  use_host (2);
  g_assert_false (vml_sanlock_acquire (&res, h2, FALSE, 0, NULL, &error));
  assert_error (error, VML_ERROR_BUSY, "held shared by host 1");
  g_test_message ("EX vs SH: %s", error->message);
  g_clear_error (&error);
  g_assert_true (vml_sanlock_acquire (&res, h2, TRUE, 0, &lver, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (lver, >, ex_lver);   /* SH acquires bump the lver too */
  assert_owners (&res, 0, both, 2);

  /* host 2 cannot go exclusive while host 1 shares */
  g_assert_false (vml_sanlock_convert (&res, h2, FALSE, &error));
  assert_error (error, VML_ERROR_BUSY, "shared by hosts 1, 2 (this host)");
  g_test_message ("SH->EX vs SH: %s", error->message);
  g_clear_error (&error);
  g_assert_true (vml_sanlock_inquire_holder (h2, "vm-sh", &held, &shared, NULL, &error));
  g_assert_true (held && shared);   /* still shared after the failed convert */

  use_host (1);
  g_assert_true (vml_sanlock_release (&res, h1, &error));
  g_assert_no_error (error);
  assert_owners (&res, 0, two, 1);   /* never free during the hand-off */

  use_host (2);
  g_assert_true (vml_sanlock_convert (&res, h2, FALSE, &error));
  g_assert_no_error (error);
  assert_owners (&res, 2, NULL, 0);
  g_assert_true (vml_sanlock_inquire_holder (h2, "vm-sh", &held, &shared, &lver, &error));
  g_assert_true (held);
  g_assert_false (shared);
  g_assert_cmpuint (lver, >, 0);

  use_host (1);
  g_assert_false (vml_sanlock_acquire (&res, h1, TRUE, 0, NULL, &error));
  assert_error (error, VML_ERROR_BUSY, "held exclusively by host 2");
  g_clear_error (&error);
  g_assert_false (vml_sanlock_convert (&res, h1, FALSE, &error));
  assert_error (error, VML_ERROR_NOT_HELD, NULL);
  g_clear_error (&error);

  g_assert_cmpint (stop_holder (h1, SIGTERM), ==, 0);
  g_assert_cmpint (stop_holder (h2, SIGTERM), ==, HOLDER_REVOKED);   /* holds EX */
}

static void
test_lver (void)
{
  VmlSanlockResource res = fresh_lease ("vm-lver", 4);
  g_autoptr(GError) error = NULL;
  guint64 first = 0, second = 0;
  g_autofree char *expected = NULL;
  GPid h1;

  h1 = spawn_holder (1, res.name);
  g_assert_true (vml_sanlock_acquire (&res, h1, FALSE, 0, &first, &error));
  g_assert_no_error (error);
  g_assert_true (vml_sanlock_release (&res, h1, &error));
  g_assert_no_error (error);
  /* nobody took it meanwhile: the on-disk lver is still ours */
  g_assert_true (vml_sanlock_acquire (&res, h1, FALSE, first, &second, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (second, ==, first + 1);
  g_assert_true (vml_sanlock_release (&res, h1, &error));
  g_assert_no_error (error);

  g_assert_false (vml_sanlock_acquire (&res, h1, FALSE, first, NULL, &error));
  expected = g_strdup_printf ("meanwhile (version %" G_GUINT64_FORMAT ", expected %"
                              G_GUINT64_FORMAT ")", second, first);
  assert_error (error, VML_ERROR_BUSY, expected);
  g_test_message ("lver: %s", error->message);

  g_assert_cmpint (stop_holder (h1, SIGTERM), ==, 0);
}

/* Polls until storage shows no owner of @res; reports how long it took. */
static void
wait_until_free (const VmlSanlockResource *res, guint timeout_ms)
{
  gint64 start = g_get_monotonic_time ();

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(VmlSanlockOwners) owners = vml_sanlock_read_owners (res, &error);

      g_assert_no_error (error);
      if (owners->owner == 0 && owners->shared_owners->len == 0)
        break;
      g_assert_cmpint (g_get_monotonic_time () - start, <, (gint64) timeout_ms * 1000);
      g_usleep (1000);
    }
  g_test_message ("free on storage %.1f ms after the holder was reaped",
                  (g_get_monotonic_time () - start) / 1000.0);
}

static void
test_holder_errors (void)
{
  VmlSanlockResource res = fresh_lease ("vm-err", 5);
  g_autoptr(GError) error = NULL;
  gboolean held = TRUE;
  GPid self = getpid ();   /* not registered with sanlock */
  GPid h1;

  g_assert_false (vml_sanlock_acquire (&res, self, FALSE, 0, NULL, &error));
  assert_error (error, VML_ERROR_FAILED, "not registered");
  g_clear_error (&error);
  g_assert_false (vml_sanlock_release (&res, self, &error));
  assert_error (error, VML_ERROR_NOT_HELD, "not registered");
  g_clear_error (&error);
  g_assert_true (vml_sanlock_inquire_holder (self, "vm-err", &held, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (held);

  h1 = spawn_holder (1, "vm-err");
  /* no lease at that location */
  res = resource ("vm-err", 14);
  g_assert_false (vml_sanlock_acquire (&res, h1, FALSE, 0, NULL, &error));
  assert_error (error, VML_ERROR_NOT_FOUND, "no lease at");
  g_clear_error (&error);
  /* lockspace this host has not joined */
  res = resource ("vm-err", 5);
  res.lockspace = "otherls";
  g_assert_false (vml_sanlock_acquire (&res, h1, FALSE, 0, NULL, &error));
  assert_error (error, VML_ERROR_LOCKSPACE_NOT_JOINED, "otherls");
  g_clear_error (&error);
  res = resource ("vm-err", 5);
  g_assert_false (vml_sanlock_release (&res, h1, &error));
  assert_error (error, VML_ERROR_NOT_HELD, "does not hold");
  g_clear_error (&error);

  /* sanlock releases what a holder still holds when it exits, but after
   * the exit: the daemon notices the closed connection and releases on
   * storage in a worker thread, so the owner lingers for a moment. */
  g_assert_true (vml_sanlock_acquire (&res, h1, FALSE, 0, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stop_holder (h1, SIGTERM), ==, HOLDER_REVOKED);
  wait_until_free (&res, 5000);
}

/* ---- requests to the owner on another host --------------------------- */

static void
test_request_errors (void)
{
  VmlSanlockResource res = fresh_lease ("vm-req-err", 7);
  g_autoptr(VmlSanlockOwners) owners = NULL;
  g_autoptr(GError) error = NULL;
  guint64 lver = 0;
  GPid h1;

  /* sanlock would answer 0 and write nothing */
  use_host (2);
  g_assert_false (vml_sanlock_request (&res, 0, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_NOT_HELD);
  g_assert_nonnull (strstr (error->message, "no host holds it"));
  g_clear_error (&error);

  use_host (1);
  h1 = spawn_holder (1, "vm-req-err");
  g_assert_true (vml_sanlock_acquire (&res, h1, TRUE, 0, NULL, &error));
  g_assert_no_error (error);
  use_host (2);   /* shared holders are never asked */
  g_assert_false (vml_sanlock_request (&res, 0, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_NOT_HELD);
  g_assert_nonnull (strstr (error->message, "shared by host 1"));
  g_test_message ("request vs SH: %s", error->message);
  g_clear_error (&error);

  use_host (1);
  g_assert_true (vml_sanlock_convert (&res, h1, FALSE, &error));
  g_assert_no_error (error);
  /* no daemon looks at requests for its own host's leases */
  g_assert_false (vml_sanlock_request (&res, 0, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "exclusively by host 1 (this host)"));
  g_clear_error (&error);

  /* an lver the owner already holds: it changed hands since it was read */
  use_host (2);
  owners = vml_sanlock_read_owners (&res, &error);
  g_assert_no_error (error);
  lver = owners->lver;
  g_assert_false (vml_sanlock_request (&res, lver, &error));
  assert_error (error, VML_ERROR_BUSY, "changed hands meanwhile");
  g_test_message ("stale lver: %s", error->message);
  g_clear_error (&error);

  res = resource ("vm-req-other", 10);   /* a lease of a lockspace not joined */
  res.lockspace = "otherls";
  g_assert_true (vml_sanlock_resource_init (&res, &error));
  g_assert_no_error (error);
  g_assert_false (vml_sanlock_request (&res, 0, &error));
  assert_error (error, VML_ERROR_LOCKSPACE_NOT_JOINED, "otherls");
  g_clear_error (&error);
  res = resource ("vm-req-gone", 11);   /* a lease cleared meanwhile */
  g_assert_true (vml_sanlock_resource_init (&res, &error));
  g_assert_no_error (error);
  g_assert_true (vml_sanlock_resource_clear (&res, &error));
  g_assert_no_error (error);
  g_assert_false (vml_sanlock_request (&res, 0, &error));
  assert_error (error, VML_ERROR_NOT_FOUND, "no lease at");
  g_clear_error (&error);

  g_assert_cmpint (waitpid (h1, NULL, WNOHANG), ==, 0);   /* untouched */
  g_assert_cmpint (stop_holder (h1, SIGTERM), ==, HOLDER_REVOKED);
}

/* Host 2 asks host 1 to give @res up, then tries to acquire it for @h2
 * until it gets it, asking again every 4 s as vmleased does (host 1 hears
 * one request flag from host 2 per 6 s, and one that lapses before then
 * is lost). Returns host 1's holder's wait status; sets the times from the
 * request to the holder's exit and to host 2's acquire. */
static int
request_and_take (const VmlSanlockResource *res, GPid h1, GPid h2, guint64 lver,
                  double *exited_s, double *acquired_s, guint64 *taken_lver)
{
  g_autoptr(GError) error = NULL;
  gint64 start, now, asked = 0;
  int status = -1;

  use_host (2);
  start = g_get_monotonic_time ();
  *exited_s = -1;
  for (;;)
    {
      now = g_get_monotonic_time ();
      if (*exited_s < 0 && waitpid (h1, &status, WNOHANG) == h1)
        *exited_s = (now - start) / (double) G_USEC_PER_SEC;
      if (*exited_s < 0 && (asked == 0 || now - asked >= 4 * G_USEC_PER_SEC))
        {
          g_assert_true (vml_sanlock_request (res, lver, &error));
          g_assert_no_error (error);
          asked = now;
        }
      if (vml_sanlock_acquire (res, h2, FALSE, 0, taken_lver, &error))
        break;
      /* busy as long as host 1's holder is alive */
      g_assert_error (error, VML_ERROR, VML_ERROR_BUSY);
      g_clear_error (&error);
      /* not a time limit: a guard against hanging forever */
      g_assert_cmpint (now - start, <, 90 * G_USEC_PER_SEC);
      g_usleep (10 * 1000);
    }
  *acquired_s = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;
  if (*exited_s < 0)
    {
      /* it exited between our last look and the acquire */
      status = wait_pid (h1, 1000);
      *exited_s = *acquired_s;
    }
  return status;
}

/* request_and_take(), and what both kinds of request come to: host 1's
 * holder revoked, host 2 the owner at the version after @held_lver. */
static void
take_over (const VmlSanlockResource *res, GPid h1, GPid h2, guint64 held_lver,
           guint64 request_lver)
{
  double exited = 0, acquired = 0;
  guint64 taken = 0;
  int status;

  status = request_and_take (res, h1, h2, request_lver, &exited, &acquired, &taken);
  g_test_message ("lver %" G_GUINT64_FORMAT ": host 1's holder revoked (its kill path's "
                  "SIGTERM) and gone %.2f s after the request, host 2 acquired at %.2f s",
                  request_lver, exited, acquired);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, HOLDER_REVOKED);
  g_assert_cmpuint (taken, ==, held_lver + 1);
  assert_owners (res, 2, NULL, 0);
}

static void
test_request_owner_lver (void)
{
  VmlSanlockResource res = fresh_lease ("vm-req-force", 8);
  g_autoptr(VmlSanlockOwners) owners = NULL;
  g_autoptr(GError) error = NULL;
  guint64 lver;
  GPid h1, h2;

  lver = held_by_host1 (&res, &h1, &h2);

  /* the owner's lver + 1, read from storage, as the API recommends */
  use_host (2);
  owners = vml_sanlock_read_owners (&res, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (owners->owner, ==, 1);
  g_assert_cmpuint (owners->lver, ==, lver);
  /* sanlock runs the holder's kill path (vmlease-holder --revoke): it
   * sends the holder SIGTERM; the holder fences the VM and exits. */
  take_over (&res, h1, h2, lver, lver + 1);

  /* The request block still asks for lver + 1, which host 2 now holds:
   * stale for everyone (host 1 asking for it is refused as well). */
  use_host (1);
  g_assert_false (vml_sanlock_request (&res, lver + 1, &error));
  assert_error (error, VML_ERROR_BUSY, "changed hands meanwhile");
  g_clear_error (&error);
  /* A pending request for a later version turns down earlier ones. This
   * one would reach host 2's holder at host 2's next look: we stop it
   * first (either SIGTERM ends it the same way). */
  g_assert_true (vml_sanlock_request (&res, lver + 3, &error));
  g_assert_no_error (error);
  g_assert_false (vml_sanlock_request (&res, lver + 2, &error));
  assert_error (error, VML_ERROR_BUSY, "later version");
  g_test_message ("pending later request: %s", error->message);
  g_assert_cmpint (stop_holder (h2, SIGTERM), ==, HOLDER_REVOKED);
}

/* A lease acquired shared and converted to exclusive, as a migration's
 * destination holds it: sanlock recorded no pid for it (0), so a forced
 * request would have made host 1's daemon kill(0, SIGKILL), its own
 * process group. The kill path names the holder: only it goes. */
static void
test_request_converted (void)
{
  VmlSanlockResource res = fresh_lease ("vm-req-conv", 9);
  g_autoptr(VmlSanlockOwners) owners = NULL;
  g_autoptr(GError) error = NULL;
  GPid h1, h2;

  h1 = spawn_holder (1, res.name);
  h2 = spawn_holder (2, res.name);
  use_host (1);
  g_assert_true (vml_sanlock_acquire (&res, h1, TRUE, 0, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (vml_sanlock_convert (&res, h1, FALSE, &error));
  g_assert_no_error (error);
  owners = vml_sanlock_read_owners (&res, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (owners->owner, ==, 1);
  take_over (&res, h1, h2, owners->lver, 0);
  use_host (1);
  g_assert_true (vml_sanlock_ping (&error));   /* host 1's daemon lives on */
  g_assert_no_error (error);
  g_assert_cmpint (stop_holder (h2, SIGTERM), ==, HOLDER_REVOKED);
}

/* ---- messages between hosts ----------------------------------------- */

#define MSG_ASK   G_GUINT64_CONSTANT (0x564d4c0000000001)
#define MSG_OTHER G_GUINT64_CONSTANT (0x564d4c0000000002)

static void
test_messages (void)
{
  g_autoptr(GError) error = NULL;
  struct pollfd pfd = { .events = POLLIN };
  VmlSanlockEvent ev;
  guint received = 0;
  gint64 start;
  int fd;

  ensure_joined ();
  use_host (1);
  g_assert_cmpint (vml_sanlock_event_open ("notjoined", &error), ==, -1);
  assert_error (error, VML_ERROR_LOCKSPACE_NOT_JOINED, "notjoined");
  g_clear_error (&error);
  fd = vml_sanlock_event_open (LOCKSPACE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  g_assert_false (vml_sanlock_event_read (fd, &ev, &error));   /* none waiting */
  g_assert_no_error (error);

  use_host (2);
  g_assert_false (vml_sanlock_event_send (LOCKSPACE, 1, 0, 0, 7, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (vml_sanlock_event_send (LOCKSPACE, 1, 0, MSG_ASK, 42, &error));
  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  /* a second, different one would overwrite the first before it is read */
  g_assert_false (vml_sanlock_event_send (LOCKSPACE, 1, 0, MSG_OTHER, 43, &error));
  assert_error (error, VML_ERROR_BUSY, "one at a time");
  g_clear_error (&error);

  pfd.fd = fd;
  g_assert_cmpint (poll (&pfd, 1, 15000), ==, 1);
  g_test_message ("message arrived %.2f s after it was sent",
                  (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC);
  while (vml_sanlock_event_read (fd, &ev, &error))
    {
      g_assert_cmpuint (ev.from_host_id, ==, 2);
      g_assert_cmpuint (ev.from_generation, >, 0);
      g_assert_cmpuint (ev.to_generation, ==, 0);
      g_assert_cmpuint (ev.event, ==, MSG_ASK);
      g_assert_cmpuint (ev.data, ==, 42);
      received++;
    }
  g_assert_no_error (error);
  g_assert_cmpuint (received, >=, 1);
  use_host (1);
  vml_sanlock_event_close (fd, LOCKSPACE);
}

/* ---- a second lockspace: concurrent joins, a full index, leaving ------ */

static gpointer
join_thread (gpointer data)
{
  VmlSanlockLockspace *ls = data;
  GError *error = NULL;

  vml_sanlock_join_lockspace (ls, NULL, &error);
  return error;
}

static void
test_aux_lockspace (void)
{
  g_autofree char *file = sparse_file ("aux", 6);   /* room for 3 leases */
  VmlSanlockLockspace ls = { .name = "vmlaux", .host_id = 1, .path = file, .io_timeout = 1 };
  VmlSanlockResource res = { .lockspace = "vmlaux", .name = "vm-aux", .path = file };
  g_autoptr(GError) error = NULL;
  GThread *threads[2];
  guint64 off = 0;
  GPid h1;

  use_host (1);
  g_assert_true (vml_sanlock_format_lockspace (&ls, &error));
  g_assert_no_error (error);

  /* Two joins at once: one adds, the other sees -EINPROGRESS and waits. */
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("join", join_thread, &ls);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      GError *join_error = g_thread_join (threads[i]);
      g_assert_no_error (join_error);
    }
  g_assert_true (vml_sanlock_lockspace_is_joined (&ls));

  for (int i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("vm-%d", i);
      g_assert_true (vml_sanlock_index_create (&ls, name, &off, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (off, ==, (3 + (guint64) i) * MIB);
    }
  g_assert_false (vml_sanlock_index_create (&ls, "vm-3", &off, &error));
  assert_error (error, VML_ERROR_FAILED, "is full");
  g_clear_error (&error);

  /* leaving refuses while a process here holds a lease in it */
  res.offset = 3 * MIB;
  res.name = "vm-0";
  h1 = spawn_holder (1, "vm-0");
  g_assert_true (vml_sanlock_acquire (&res, h1, FALSE, 0, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (vml_sanlock_leave_lockspace (&ls, &error));
  assert_error (error, VML_ERROR_BUSY, "release them first");
  g_clear_error (&error);
  g_assert_true (vml_sanlock_lockspace_is_joined (&ls));
  g_assert_true (vml_sanlock_release (&res, h1, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stop_holder (h1, SIGTERM), ==, 0);

  g_assert_true (vml_sanlock_leave_lockspace (&ls, &error));
  g_assert_no_error (error);
  g_assert_false (vml_sanlock_lockspace_is_joined (&ls));
  g_assert_true (vml_sanlock_leave_lockspace (&ls, &error));   /* not joined: no-op */
  g_assert_no_error (error);
  g_assert_false (vml_sanlock_index_lookup (&ls, "vm-0", &off, &error));
  assert_error (error, VML_ERROR_LOCKSPACE_NOT_JOINED, "vmlaux");
}

/* ---- sanlock's -EBUSY for a client with a command running ------------ */

typedef struct {
  GPid     holder;
  gboolean stop;
  guint    inquiries;
} Contention;

static gpointer
inquire_thread (gpointer data)
{
  Contention *c = data;

  while (!g_atomic_int_get (&c->stop))
    {
      g_autoptr(GError) error = NULL;
      gboolean held;

      g_assert_true (vml_sanlock_inquire_holder (c->holder, "vm-busy", &held, NULL, NULL,
                                                 &error));
      g_assert_no_error (error);
      c->inquiries++;
    }
  return NULL;
}

static void
test_busy_retry (void)
{
  VmlSanlockResource res = fresh_lease ("vm-busy", 6);
  Contention c = { 0 };
  g_autoptr(GError) error = NULL;
  GThread *thread;

  c.holder = spawn_holder (1, res.name);
  thread = g_thread_new ("inquire", inquire_thread, &c);
  for (int i = 0; i < 30; i++)
    {
      g_assert_true (vml_sanlock_acquire (&res, c.holder, i % 2 == 1, 0, NULL, &error));
      g_assert_no_error (error);
      g_assert_true (vml_sanlock_release (&res, c.holder, &error));
      g_assert_no_error (error);
    }
  g_atomic_int_set (&c.stop, TRUE);
  g_thread_join (thread);
  g_test_message ("%u inquiries alongside 30 acquire/release pairs", c.inquiries);
  g_assert_cmpint (stop_holder (c.holder, SIGTERM), ==, 0);
}

/* ---- the holder program ---------------------------------------------- */

static int
run_holder (int host, const char * const *args, char **out)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_auto(GStrv) envp = host_environ (host);
  g_autoptr(GError) error = NULL;
  int status = -1;

  g_ptr_array_add (argv, (gpointer) holder_program ());
  for (; *args != NULL; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (NULL, (char **) argv->pdata, envp,
                G_SPAWN_STDERR_TO_DEV_NULL | G_SPAWN_STDIN_FROM_DEV_NULL,
                die_with_parent, NULL, out, NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

static void
test_holder_program (void)
{
  static const char *const help[] = { "--help", NULL };
  static const char *const extra[] = { "--uuid", "u", NULL };
  static const char *const none[] = { NULL };
  static const char *const bad_claims[] = {
    "claim\n", "claim vm-x maybe 0\n", "claim vm-x kill -3\n", "hold vm-x kill 0\n",
    "claim vm-x kill 0 surplus\n", "spare\n" /* not claimed yet */,
    "claim vm-x none 0\nclaim vm-y none 0\n" /* claimed twice */,
  };
  g_autofree char *out = NULL;
  GPid pid;
  int in;

  g_assert_cmpint (run_holder (1, help, &out), ==, 0);
  g_assert_true (g_str_has_prefix (out, "Usage: vmlease-holder"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_holder (1, extra, NULL), ==, 2);
  /* no daemon at run3 */
  g_assert_cmpint (run_holder (3, none, &out), ==, 1);
  g_assert_true (g_str_has_prefix (out, "error "));
  g_clear_pointer (&out, g_free);
  /* A spare whose stdin ends unclaimed (vmleased died) exits by itself. */
  g_assert_cmpint (run_holder (1, none, &out), ==, 0);
  g_assert_cmpstr (out, ==, "ready\n");
  for (guint i = 0; i < G_N_ELEMENTS (bad_claims); i++)
    {
      pid = spawn_spare (1, &in);

      write_line (in, bad_claims[i]);
      g_assert_cmpint (WEXITSTATUS (wait_pid (pid, 10000)), ==, 2);
      close (in);
    }

  /* Claimed, a holder outlives the end of its stdin (vmleased restarting)... */
  pid = spawn_spare (1, &in);
  write_line (in, "claim vm-keep none 0\n");
  close (in);
  g_assert_cmpint (wait_pid (pid, 300), ==, -1);
  g_assert_cmpint (stop_holder (pid, SIGTERM), ==, 0);
  /* ...and made a spare again, it does not. */
  pid = spawn_spare (1, &in);
  write_line (in, "claim vm-back none 0\nspare\n");
  close (in);
  g_assert_cmpint (WEXITSTATUS (wait_pid (pid, 10000)), ==, 0);

  g_assert_cmpint (stop_holder (spawn_holder (1, "vm-sig"), SIGTERM), ==, 0);
  g_assert_cmpint (stop_holder (spawn_holder (2, "vm-sig"), SIGINT), ==, 0);
}

/* ---- main ------------------------------------------------------------ */

static void
setup (void)
{
  g_autoptr(GError) error = NULL;

  T.tmpdir = g_dir_make_tmp ("vml-sanlock-XXXXXX", &error);
  g_assert_no_error (error);
  T.lease_file = sparse_file ("leases", LEASE_FILE_MIB);
  T.res_file = sparse_file ("resources", RES_FILE_MIB);
  /* before the first sanlock call, see the comment at the top */
  T.env_len = (gsize) g_snprintf (T.env, sizeof T.env, "SANLOCK_RUN_DIR=%s/run1", T.tmpdir);
  g_assert_cmpuint (T.env_len, <, sizeof T.env);
  putenv (T.env);
  for (int host = 1; host <= N_HOSTS; host++)
    start_daemon (host);
}

static void
teardown (void)
{
  for (int host = 1; host <= N_HOSTS; host++)
    stop_daemon (host);
  if (g_getenv ("VML_TEST_KEEP") == NULL)
    {
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", T.tmpdir);
      g_spawn_command_line_sync (cmd, NULL, NULL, NULL, NULL);
    }
  else
    g_printerr ("kept %s\n", T.tmpdir);
  g_free (T.lease_file);
  g_free (T.res_file);
  g_free (T.tmpdir);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sanlock/ping", test_ping);
  g_test_add_func ("/sanlock/lockspace/format-join", test_format_join);
  g_test_add_func ("/sanlock/lockspace/join-again", test_join_again);
  g_test_add_func ("/sanlock/lockspace/errors", test_lockspace_errors);
  g_test_add_func ("/sanlock/index", test_index);
  g_test_add_func ("/sanlock/resource", test_resource);
  g_test_add_func ("/sanlock/lease/exclusive", test_exclusive);
  g_test_add_func ("/sanlock/lease/shared", test_shared);
  g_test_add_func ("/sanlock/lease/shared-4k", test_shared_4k);
  g_test_add_func ("/sanlock/lease/mode-block-errors", test_mode_block_errors);
  g_test_add_func ("/sanlock/lease/lver", test_lver);
  g_test_add_func ("/sanlock/lease/errors", test_holder_errors);
  g_test_add_func ("/sanlock/lease/busy-retry", test_busy_retry);
  g_test_add_func ("/sanlock/request/errors", test_request_errors);
  g_test_add_func ("/sanlock/request/owner-lver", test_request_owner_lver);
  g_test_add_func ("/sanlock/request/converted", test_request_converted);
  g_test_add_func ("/sanlock/message/send-read", test_messages);
  g_test_add_func ("/sanlock/lockspace/second", test_aux_lockspace);
  g_test_add_func ("/sanlock/holder/program", test_holder_program);

  setup ();
  ret = g_test_run ();
  teardown ();
  return ret;
}
