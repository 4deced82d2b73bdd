/* vml-cmd-run.c: "vmleasectl run UUID [OPTION…] -- CMD [ARG…]", supervisor
 * mode: takes a VM's lease with CMD as its fence pid, runs CMD, forwards
 * signals to it, releases the lease when CMD ends and exits with CMD's
 * status; if the lease is lost meanwhile, vmleased fences CMD and run says
 * why and exits with its own status. Self-contained on purpose: it uses only
 * the CLI's shared helpers (vml-cli.h).
 *
 * The fence pid must be known before Acquire, so CMD is forked first and
 * waits on a pipe: Acquire names the child, and only once the lease is
 * held does the child exec CMD (same pid, so the pidfd vmleased took at
 * Acquire is CMD's). If Acquire fails the child never execs.
 *
 * Signals are blocked from the start (before any GDBus thread exists, so
 * none of its threads takes a signal meant for run) and read from a
 * signalfd on the main loop; the child unblocks them before it execs. */
#define _GNU_SOURCE   /* pipe2() */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "vml-cmd.h"

/* run's own exit statuses, next to CMD's (0-123, 128+N): the range the
 * shells and coreutils' timeout and env use for their own failures, so a
 * script can tell them apart from most commands' statuses. Never renumber. */
enum {
  RUN_EXIT_LOST       = 124,  /* the lease was lost while CMD ran; CMD was fenced */
  RUN_EXIT_FAILED     = 125,  /* run failed: CMD never started, or the release did */
  RUN_EXIT_CANNOT_RUN = 126,  /* CMD was found but could not be executed */
  RUN_EXIT_NOT_FOUND  = 127,  /* CMD was not found */
};

/* How long run waits for Lost after CMD died by SIGKILL with --fence kill
 * before it releases: the fence's own signal is a SIGKILL, and vmleased
 * says Lost within milliseconds of the holder's exit, but run may see
 * CMD's death first. */
#define RUN_LOST_GRACE_MS 3000

static const char run_help[] =
  "Runs CMD under the VM's lease, the way a supervisor does: takes the lease\n"
  "for this host with CMD as its fence process (the process --fence kills or\n"
  "pauses if the lease is lost), runs CMD, and when CMD ends releases the\n"
  "lease and exits with CMD's exit status (128+N if a signal N ended it).\n"
  "CMD starts only once the lease is held: if Acquire fails, CMD never runs.\n"
  "\n"
  "SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 sent to run are passed on to\n"
  "CMD (those a terminal sends to its whole foreground group reach CMD\n"
  "directly, and are not sent twice). If the lease is lost while CMD runs\n"
  "(another host seized it, storage failed, its holder died), vmleased fences\n"
  "CMD: --fence kill (the default) kills it; --fence pause stops it with\n"
  "SIGSTOP or, with --qmp, pauses the guest with QMP 'stop' so that QEMU\n"
  "stays manageable. run prints why the lease was lost, does not release a\n"
  "lease it no longer holds, waits for CMD to end (a paused CMD stays paused\n"
  "until someone ends or resumes it) and exits with 124.\n"
  "\n"
  "--disk, --shared, --wait and --force are as for 'vmleasectl acquire'.\n"
  "\n"
  "Examples:\n"
  "  vmleasectl run 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 -- qemu-system-x86_64 -m 1G ...\n"
  "  vmleasectl run 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --fence pause \\\n"
  "      --qmp /run/vm/web1.qmp --disk vol-7d2a91 -- \\\n"
  "      qemu-system-x86_64 -qmp unix:/run/vm/web1.qmp,server,wait=off ...\n"
  "  vmleasectl run 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --wait 60 -- ./guest.sh\n"
  "\n"
  "Exit status:\n"
  "  0-123  CMD's own exit status (the lease was released)\n"
  "  124    the lease was lost while CMD ran: vmleased fenced CMD (the reason\n"
  "         is printed); the lease was not released (it was no longer held)\n"
  "  125    run failed: CMD never started (Acquire refused, e.g. Busy or\n"
  "         NotAuthorized; vmleased unreachable; interrupted), or CMD ended\n"
  "         but the lease could not be released (the message says which)\n"
  "  126    CMD was found but could not be executed (the lease was released)\n"
  "  127    CMD was not found (the lease was released)\n"
  "  128+N  CMD was ended by signal N (the lease was released)\n"
  "  2      bad command line (nothing was done)";

typedef struct {
  gboolean  shared;
  char     *fence;
  char     *qmp;
  char     *wait;
  gboolean  force;
  char    **disks;
} RunArgs;

static void
run_args_clear (RunArgs *args)
{
  g_free (args->fence);
  g_free (args->qmp);
  g_free (args->wait);
  g_strfreev (args->disks);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (RunArgs, run_args_clear)

typedef struct {
  pid_t         child;
  int           go_fd;      /* write one byte: exec CMD; close: never */
  int           exec_fd;    /* the child's errno if exec failed; EOF once it ran */
  int           signal_fd;
  gboolean      started;    /* CMD was let exec */
  gboolean      exited;
  int           status;     /* waitpid's */
  gboolean      lost;
  int           interrupted; /* a signal that ended the wait for Acquire */
  sigset_t      deferred;   /* signals to pass on once CMD runs */
  gboolean      call_done;
  gboolean      acquired;
  GError       *error;
  VmleaseLease *lease;      /* the lease's object now (a new one after a restart) */
  const char   *uuid;
  const char   *fence;
} Run;

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 };

static G_NORETURN void
finish (int status)
{
  fflush (stdout);
  fflush (stderr);
  exit (status);
}

static G_NORETURN void
fail_before_start (Run *run, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* CMD never ran: the child is told so (its pipe closes) and reaped. */
static G_NORETURN void
fail_before_start (Run *run, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (run->go_fd >= 0)
    close (run->go_fd);
  run->go_fd = -1;
  if (run->child > 0 && !run->exited)
    waitpid (run->child, NULL, 0);
  g_printerr ("vmleasectl run: %s; CMD was not started\n", message);
  finish (RUN_EXIT_FAILED);
}

/* ---- the child --------------------------------------------------------- */

/* Forks the child that becomes CMD. Only async-signal-safe calls in it:
 * it waits for one byte on the go pipe, then execs; EOF means never. */
static gboolean
fork_child (Run *run, char **cmd, const sigset_t *old_mask, GError **error)
{
  int go[2], ex[2];
  pid_t pid;

  if (pipe2 (go, O_CLOEXEC) != 0 || pipe2 (ex, O_CLOEXEC) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot make a pipe: %s", g_strerror (saved));
      return FALSE;
    }
  pid = fork ();
  if (pid < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot fork: %s", g_strerror (saved));
      return FALSE;
    }
  if (pid == 0)
    {
      char byte;
      ssize_t n;
      int err;

      close (go[1]);
      close (ex[0]);
      signal (SIGPIPE, SIG_DFL);
      sigprocmask (SIG_SETMASK, old_mask, NULL);
      do
        n = read (go[0], &byte, 1);
      while (n < 0 && errno == EINTR);
      if (n != 1)
        _exit (RUN_EXIT_FAILED);
      execvp (cmd[0], cmd);
      err = errno;
      if (write (ex[1], &err, sizeof err) < 0)
        err = ENOENT;
      _exit (err == ENOENT ? RUN_EXIT_NOT_FOUND : RUN_EXIT_CANNOT_RUN);
    }
  close (go[0]);
  close (ex[1]);
  run->child = pid;
  run->go_fd = go[1];
  run->exec_fd = ex[0];
  return TRUE;
}

/* ---- signals ----------------------------------------------------------- */

static void
reap (Run *run)
{
  int status;

  if (!run->exited && waitpid (run->child, &status, WNOHANG) == run->child)
    {
      run->exited = TRUE;
      run->status = status;
    }
}

static gboolean
on_signal (int fd, GIOCondition condition, gpointer user_data)
{
  Run *run = user_data;
  struct signalfd_siginfo info;

  while (read (fd, &info, sizeof info) == sizeof info)
    {
      int signo = (int) info.ssi_signo;

      if (signo == SIGCHLD)
        reap (run);
      else if (!run->started)
        {
          if (signo == SIGUSR1 || signo == SIGUSR2)
            sigaddset (&run->deferred, signo);
          else
            run->interrupted = signo;
        }
      /* SI_KERNEL: the terminal's, sent to the whole foreground group,
       * CMD included. */
      else if (!run->exited && info.ssi_code != SI_KERNEL)
        kill (run->child, signo);
    }
  return G_SOURCE_CONTINUE;
}

/* ---- the lease --------------------------------------------------------- */

static void
on_lost (VmleaseLease      *lease,
         VmleaseLostReason  why,
         GVariant          *details,
         gpointer           user_data)
{
  Run *run = user_data;
  g_autoptr(GEnumClass) reasons = g_type_class_ref (VMLEASE_TYPE_LOST_REASON);
  const char *reason = g_enum_get_value (reasons, why)->value_nick;
  const char *message = "", *fence = "", *fence_error = NULL;
  gboolean fenced = FALSE, holder_fenced;

  if (run->lost)
    return;
  g_variant_lookup (details, "message", "&s", &message);
  g_variant_lookup (details, "fence", "&s", &fence);
  g_variant_lookup (details, "fenced", "b", &fenced);
  g_variant_lookup (details, "fence_error", "&s", &fence_error);
  run->lost = TRUE;
  /* After a revocation the holder fenced CMD before it let go; vmleased's
   * own second try then finds a killed CMD gone ("fenced" false). */
  holder_fenced = g_str_equal (reason, "revoked") || g_str_equal (reason, "lockspace-failed") ||
                  g_str_equal (reason, "sanlock-gone");
  g_printerr ("vmleasectl run: lease %s lost (%s): %s\n", run->uuid, reason, message);
  if (fenced || holder_fenced)
    g_printerr ("vmleasectl run: CMD (pid %d) fenced: %s%s\n", (int) run->child, fence,
                g_str_equal (fence, "pause")
                ? "; it stays paused until someone ends or resumes it" : "");
  else
    g_printerr ("vmleasectl run: CMD (pid %d) was not fenced%s%s\n", (int) run->child,
                fence_error ? ": " : "", fence_error ? fence_error : "");
}

static void
on_acquired (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *run = user_data;

  run->acquired = vmlease_lease_acquire_finish (VMLEASE_LEASE (source), result, &run->error);
  run->call_done = TRUE;
}

static VmleaseAcquireOptions *
acquire_options (const RunArgs *args, pid_t child, guint64 *wait, GError **error)
{
  g_autoptr(VmleaseAcquireOptions) options = vmlease_acquire_options_new ();

  if (!vml_cli_acquire_options_add_disks (options, args->disks, error))
    return NULL;
  vmlease_acquire_options_set_mode (options, args->shared ? VMLEASE_MODE_SHARED
                                                          : VMLEASE_MODE_EXCLUSIVE);
  vmlease_acquire_options_set_pid (options, (guint) child);
  /* Checked already: kill or pause. */
  vmlease_acquire_options_set_fence (options, g_str_equal (args->fence ? args->fence : "kill",
                                                           "pause")
                                              ? VMLEASE_FENCE_PAUSE : VMLEASE_FENCE_KILL);
  vmlease_acquire_options_set_wait (options, (guint) *wait);
  vmlease_acquire_options_set_qmp (options, args->qmp);
  vmlease_acquire_options_set_force (options, args->force);
  return g_steal_pointer (&options);
}

/* Acquire, the main loop turning meanwhile so that a SIGTERM or Ctrl-C
 * ends the wait (run exits: vmleased ends a wait whose caller left). No
 * timeout but the library's: a wait or a seizure may take long. */
static void
acquire (Run *run, VmleaseLease *lease, VmleaseAcquireOptions *options)
{
  vmlease_lease_acquire (lease, options, NULL, on_acquired, run);
  while (!run->call_done && run->interrupted == 0 && !run->exited)
    g_main_context_iteration (NULL, TRUE);
  if (run->interrupted != 0)
    fail_before_start (run, "interrupted by signal %d (%s) while acquiring lease %s; "
                       "vmleased may still complete the Acquire (then 'vmleasectl release %s')",
                       run->interrupted, g_strsignal (run->interrupted), run->uuid, run->uuid);
  if (run->exited)
    fail_before_start (run, "the process waiting to become CMD ended (status %d)",
                       run->status);
  if (!run->acquired)
    {
      int code = vml_cli_exit_code (run->error);
      g_autofree char *name = vml_cli_error_dbus_name (run->error);

      g_dbus_error_strip_remote_error (run->error);
      fail_before_start (run, "cannot acquire lease %s (%s, as 'vmleasectl acquire' exits %d): %s",
                         run->uuid, name ? name : "error", code, run->error->message);
    }
}

/* A vmleased that restarts exports its leases anew: the library then has a
 * new object for ours, and Lost comes on that one. */
static void
on_lease_added (VmleaseClient *client, VmleaseLease *lease, gpointer user_data)
{
  Run *run = user_data;

  if (lease == run->lease || g_strcmp0 (vmlease_lease_get_uuid (lease), run->uuid) != 0)
    return;
  g_signal_connect (lease, "lost", G_CALLBACK (on_lost), run);
  g_set_object (&run->lease, lease);
}

/* Lets the child exec CMD; 0, or the status to exit with when it could not. */
static int
start_cmd (Run *run, const char *cmd)
{
  int err = 0;
  ssize_t n;

  run->started = TRUE;
  if (write (run->go_fd, "x", 1) != 1)
    err = errno;
  close (run->go_fd);
  run->go_fd = -1;
  if (err != 0)
    {
      g_printerr ("vmleasectl run: cannot start CMD: %s\n", g_strerror (err));
      return RUN_EXIT_FAILED;
    }
  do
    n = read (run->exec_fd, &err, sizeof err);
  while (n < 0 && errno == EINTR);
  close (run->exec_fd);
  run->exec_fd = -1;
  if (n != sizeof err)
    return 0;   /* EOF: exec closed the pipe, CMD runs */
  g_printerr ("vmleasectl run: cannot run '%s': %s\n", cmd, g_strerror (err));
  return err == ENOENT ? RUN_EXIT_NOT_FOUND : RUN_EXIT_CANNOT_RUN;
}

static gboolean
on_grace_over (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static int
cmd_status (int status)
{
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return WEXITSTATUS (status);
}

/* CMD ended (with @exec_failed, it never ran): the lease is released,
 * unless it was lost; returns what run exits with. */
static int
end (Run *run, VmleaseLease *lease, int exec_failed)
{
  g_autoptr(GError) error = NULL;
  int status = exec_failed ? exec_failed : cmd_status (run->status);

  /* Killed by SIGKILL under a kill fence: the fence, very likely; Lost is
   * on its way. */
  if (!run->lost && !exec_failed && g_str_equal (run->fence, "kill") &&
      WIFSIGNALED (run->status) && WTERMSIG (run->status) == SIGKILL)
    {
      gboolean over = FALSE;
      guint timer = g_timeout_add (RUN_LOST_GRACE_MS, on_grace_over, &over);

      while (!run->lost && !over)
        g_main_context_iteration (NULL, TRUE);
      if (!over)
        g_source_remove (timer);
    }
  if (run->lost)
    {
      g_printerr ("vmleasectl run: CMD ended (status %d) after the lease was lost\n", status);
      return RUN_EXIT_LOST;
    }
  if (vmlease_lease_release_sync (lease, NULL, &error))
    return status;
  if (run->lost)
    return RUN_EXIT_LOST;
  g_dbus_error_strip_remote_error (error);
  if (g_error_matches (error, VMLEASE_ERROR, VMLEASE_ERROR_NOT_HELD))
    {
      g_printerr ("vmleasectl run: CMD ended (status %d), and lease %s was no longer held "
                  "here (lost or released by someone else): %s\n",
                  status, run->uuid, error->message);
      return RUN_EXIT_LOST;
    }
  g_printerr ("vmleasectl run: CMD ended (status %d), but lease %s could not be released: "
              "%s\n", status, run->uuid, error->message);
  return RUN_EXIT_FAILED;
}

VML_CLI_HANDLER (vml_cmd_run)
{
  g_auto(RunArgs) args = { FALSE, NULL, NULL, NULL, FALSE, NULL };
  const GOptionEntry entries[] = {
    { "fence", 0, 0, G_OPTION_ARG_STRING, &args.fence,
      "What vmleased does to CMD if the lease is lost: kill (default) or pause", "ACTION" },
    { "qmp", 0, 0, G_OPTION_ARG_FILENAME, &args.qmp,
      "With --fence pause: pause the guest with QMP 'stop' on this socket (CMD's "
      "QEMU serves it) instead of SIGSTOP", "SOCKET" },
    VML_CMD_ACQUIRE_ENTRIES (&args.shared, &args.wait, &args.force),
    VML_CLI_DISK_ENTRY (&args.disks,
                        "Also take this disk's lease (repeat for each disk; :shared for a shared disk)"),
    G_OPTION_ENTRY_NULL
  };
  /* No error table: run's exit statuses are its own (run_help). */
  const VmlCliSpec spec = { entries, run_help, NULL, 1, 1, TRUE };
  g_autoptr(GPtrArray) ours = g_ptr_array_new ();
  g_autoptr(VmleaseLease) lease = NULL;
  g_autoptr(GError) local = NULL;
  g_autoptr(VmleaseAcquireOptions) options = NULL;
  char **ours_argv, **command = NULL;
  int ours_argc, exec_failed;
  sigset_t mask, old_mask;
  guint64 wait = 0;
  Run run = { .child = -1, .go_fd = -1, .exec_fd = -1, .signal_fd = -1 };

  /* Ours up to "--", CMD after it: CMD's own options are never ours. */
  for (int i = 0; i < argc; i++)
    {
      if (i > 0 && g_str_equal (argv[i], "--"))
        {
          command = argv + i + 1;
          break;
        }
      g_ptr_array_add (ours, argv[i]);
    }
  g_ptr_array_add (ours, NULL);
  ours_argc = (int) ours->len - 1;
  ours_argv = (char **) ours->pdata;
  if (!vml_cli_parse (cli, cmd, &spec, &ours_argc, &ours_argv, error))
    return FALSE;
  if (command == NULL || command[0] == NULL)
    return vml_cli_usage_error (error, "no command to run: vmleasectl run UUID [OPTION…] -- "
                                "CMD [ARG…]");
  run.fence = args.fence ? args.fence : "kill";
  if (!g_str_equal (run.fence, "kill") && !g_str_equal (run.fence, "pause"))
    return vml_cli_usage_error (error, "--fence must be kill or pause, not '%s' "
                                "(run always fences CMD)", run.fence);
  if (args.qmp != NULL && !g_str_equal (run.fence, "pause"))
    return vml_cli_usage_error (error, "--qmp needs --fence pause: it says how to pause "
                                "the guest");
  /* A bad number is a usage error (2), before anything is forked. */
  if (args.wait != NULL && !vml_cli_parse_uint ("--wait", args.wait, G_MAXUINT32, &wait, error))
    return FALSE;
  run.uuid = ours_argv[1];
  sigemptyset (&run.deferred);

  /* Before any thread: see the top of this file. */
  sigemptyset (&mask);
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded); i++)
    sigaddset (&mask, forwarded[i]);
  sigaddset (&mask, SIGCHLD);
  sigprocmask (SIG_BLOCK, &mask, &old_mask);
  if (!fork_child (&run, command, &old_mask, &local))
    {
      g_printerr ("vmleasectl run: %s; CMD was not started\n", local->message);
      finish (RUN_EXIT_FAILED);
    }
  /* A child that died before its go byte must not kill run by SIGPIPE. */
  signal (SIGPIPE, SIG_IGN);
  run.signal_fd = signalfd (-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (run.signal_fd < 0)
    fail_before_start (&run, "cannot read signals: %s", g_strerror (errno));
  g_unix_fd_add (run.signal_fd, G_IO_IN, on_signal, &run);

  options = acquire_options (&args, run.child, &wait, &local);
  if (options == NULL)
    fail_before_start (&run, "%s", local->message);
  lease = vml_cli_find_lease (cli, run.uuid, &local);
  if (lease == NULL)
    {
      g_dbus_error_strip_remote_error (local);
      fail_before_start (&run, "%s", local->message);
    }
  /* Before Acquire, so that no Lost can come unseen. */
  run.lease = g_object_ref (lease);
  g_signal_connect (lease, "lost", G_CALLBACK (on_lost), &run);
  g_signal_connect (vml_cli_client (cli, NULL), "lease-added", G_CALLBACK (on_lease_added), &run);
  acquire (&run, lease, options);

  exec_failed = start_cmd (&run, command[0]);
  if (exec_failed == RUN_EXIT_FAILED)
    {
      waitpid (run.child, NULL, 0);
      run.exited = TRUE;
    }
  for (int signo = 1; signo < NSIG; signo++)
    if (sigismember (&run.deferred, signo) == 1 && !run.exited)
      kill (run.child, signo);
  while (!run.exited)
    g_main_context_iteration (NULL, TRUE);
  finish (end (&run, run.lease, exec_failed));
}
