/* vmlease-holder: the sanlock client that holds one VM's lease.
 *
 * sanlock ties leases to a registered process and releases them when that
 * process's connection closes. vmleased starts holders, and acquires,
 * converts, releases and inquires on their behalf with pid-targeted calls;
 * a holder itself only registers and waits. So a restart of vmleased loses
 * no lease, and revoking one VM's lease touches no other VM.
 *
 * Deliberately plain C on libc + libsanlock_client (no GLib): it must be
 * ready in well under a millisecond.
 *
 * Protocol with vmleased (pipes on stdin and stdout; its words, limits and
 * exit statuses are vml-holder-protocol.h's):
 *   1. the holder registers with sanlock and writes one line on stdout:
 *      "ready", or "error <text>" before exiting 1;
 *   2. it is now a spare: vmleased keeps one ready so that starting a
 *      process is not on the Acquire path. vmleased claims it for a lease
 *      with one line on stdin: "claim <uuid> <none|kill|pause> <fence-pid>
 *      [<qmp socket>]" (fence-pid 0: none; with a QMP socket a pause fence
 *      pauses the guest with QMP "stop", SIGSTOP if that fails); a holder
 *      whose acquire failed (it holds nothing) may become a spare again
 *      with the line "spare"; "fence <none|kill|pause> <fence-pid> [<qmp
 *      socket>]" changes a claimed holder's VM process (a destination QEMU
 *      started after prepare). "lock <name>" claims
 *      it for one of vmleased's own short-lived locks instead;
 *   3. a spare, or a lock holder, whose stdin ends exits 0: the vmleased
 *      that started it is gone, and what it held for that vmleased must go
 *      too. A holder claimed for a lease whose stdin ends keeps holding
 *      (vmleased restarts and adopts it), and waits until SIGTERM, or until
 *      sanlock drops its connection.
 *
 * Revocation: at registration the holder makes itself its sanlock kill
 * path ("vmlease-holder --revoke <pid> <start time>"), which sanlock's
 * helper runs when it takes the holder's lease away (another host's
 * graceful request, a failing lockspace): that sends this holder, and no
 * other process, SIGTERM. The VM process is taken hold of with a pidfd at
 * the claim and fenced through it, so a process that got its pid since is
 * never hit.
 *
 * Exit status: 0 stopped by SIGTERM/SIGINT holding nothing, or never
 * claimed; 1 could not register (or set the kill path); 2 bad arguments or
 * claim line; 3 the sanlock daemon closed our connection (our leases are
 * gone; a claimed holder fenced its VM process first); 4 revoked: SIGTERM
 * while sanlock still counted a lease as ours (a request from another
 * host, or a failing lockspace) — the VM process was fenced as claimed
 * before exiting, which lets sanlock free the lease. With 3 and 4 a
 * claimed holder also leaves $VMLEASE_NOTES_DIR/<uuid>.note (set by
 * vmleased) with its pid, exit status and whether it fenced, for a
 * vmleased that is not its parent (leave_note()).
 */
#define _GNU_SOURCE   /* close_range(), ppoll() */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>   /* before sanlock's headers */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include <sanlock.h>
#include <sanlock_resource.h>

#include "vml-fence-apply.h"
#include "vml-holder-protocol.h"

typedef struct {
  char     uuid[VML_HOLDER_NAME_MAX + 1]; /* the lease (or lock) name; empty while a spare */
  pid_t    fence_pid;   /* 0: none given */
  int      fence_pidfd; /* the VM process as it was at the claim; -1: none */
  unsigned long long fence_start; /* its start time, when pidfds are missing */
  VmlFence fence;
  char     qmp[VML_HOLDER_QMP_MAX]; /* QMP socket of a pause fence; empty: SIGSTOP */
  int      transient;   /* a lock: ends with vmleased */
} Claim;

static volatile sig_atomic_t stop_signal;

static void
on_stop (int sig)
{
  stop_signal = sig;
}

static void
usage (FILE *out)
{
  fputs ("Usage: vmlease-holder\n"
         "\n"
         "Started by vmleased, not by hand. Registers with the sanlock daemon\n"
         "($SANLOCK_RUN_DIR, default /run/sanlock), prints \"" VML_HOLDER_SAY_READY "\" (or\n"
         "\"" VML_HOLDER_SAY_ERROR " <text>\"), then waits for one line on stdin:\n"
         "  " VML_HOLDER_CMD_CLAIM " <uuid> <none|kill|pause> <fence-pid> [<qmp-socket>]\n"
         "and from then on holds the leases vmleased acquires for this process,\n"
         "until SIGTERM. Without a claim it exits when stdin ends.\n"
         "\n"
         "  " VML_HOLDER_ARG_REVOKE " PID START  (sanlock's kill path) send SIGTERM to holder PID,\n"
         "                      if it is still the process that started at START\n"
         "  --help              show this text\n", out);
}

static int
bad_usage (const char *what, const char *value)
{
  if (value != NULL)
    fprintf (stderr, "vmlease-holder: %s '%s'\n", what, value);
  else
    fprintf (stderr, "vmlease-holder: %s\n", what);
  fputs ("Try 'vmlease-holder --help'.\n", stderr);
  return VML_HOLDER_EXIT_USAGE;
}

static int
parse_pid (const char *s, pid_t *pid)
{
  char *end = NULL;
  long v;

  errno = 0;
  v = strtol (s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > INT32_MAX)
    return 0;
  *pid = (pid_t) v;
  return 1;
}

/* --revoke PID START: we are our own kill path (see set_killpath()), run
 * by sanlock's helper process when sanlock takes our leases away: another
 * host's seize (a graceful request) or this host failing to renew its
 * lockspace. Left to itself, sanlock would signal the pid it recorded for
 * the lease, which is 0 for a lease acquired shared and then converted
 * (resource.c new_resource() records it for exclusive acquires only):
 * kill(0) hits sanlock's own process group, the daemon included. So the
 * holder named here gets the SIGTERM, through a pidfd, and only if it is
 * still the process that started at START (not one that got its pid
 * since); it then fences its VM and exits (stopped()). */
static int
revoke_holder (const char *pid_arg, const char *start_arg)
{
  unsigned long long start;
  pid_t pid;
  char *end = NULL;
  int pidfd, rv;

  errno = 0;
  start = strtoull (start_arg, &end, 10);
  if (!parse_pid (pid_arg, &pid) || errno != 0 || *end != '\0' || start == 0)
    return bad_usage ("bad --revoke arguments", pid_arg);
  /* Without pidfds (ENOSYS) the start time is checked just before kill(). */
  pidfd = pidfd_open (pid, 0);
  if ((pidfd < 0 && errno != ENOSYS) || vml_process_start_time (pid) != start)
    {
      fprintf (stderr, "vmlease-holder --revoke: holder %d that started at %llu is gone (its "
               "pid names no process, or another one); nothing to do\n", (int) pid, start);
      return EXIT_SUCCESS;
    }
  rv = pidfd >= 0 ? pidfd_send_signal (pidfd, SIGTERM, NULL, 0) : kill (pid, SIGTERM);
  if (rv != 0)
    {
      fprintf (stderr, "vmlease-holder --revoke: cannot signal holder %d: %s\n", (int) pid,
               strerror (errno));
      return EXIT_FAILURE;
    }
  fprintf (stderr, "vmlease-holder --revoke: sanlock revokes the leases of holder %d; "
           "sent it SIGTERM (it fences its VM and exits)\n", (int) pid);
  return EXIT_SUCCESS;
}

/* Returns -1 when the arguments are fine, else the exit status. */
static int
parse_args (int argc, char **argv)
{
  if (argc == 2 && strcmp (argv[1], "--help") == 0)
    {
      usage (stdout);
      return EXIT_SUCCESS;
    }
  if (argc == 4 && strcmp (argv[1], VML_HOLDER_ARG_REVOKE) == 0)
    return revoke_holder (argv[2], argv[3]);
  if (argc > 1)
    return bad_usage ("unexpected argument", argv[1]);
  return -1;
}

static void
claim_reset (Claim *claim)
{
  if (claim->fence_pidfd >= 0)
    close (claim->fence_pidfd);
  memset (claim, 0, sizeof *claim);
  claim->fence_pidfd = -1;
  claim->fence = VML_FENCE_NONE;
}

/* Takes hold of the VM process now, at the claim: the fence may come
 * hours later, when its pid may name another process. A pidfd does;
 * without pidfds (ENOSYS: kernels before 5.3, valgrind) the pid and its
 * start time are checked again just before the signal. */
static void
watch_vm (Claim *claim)
{
  if (claim->fence_pid <= 0)
    return;
  claim->fence_pidfd = pidfd_open (claim->fence_pid, 0);
  if (claim->fence_pidfd >= 0)
    return;
  if (errno == ENOSYS)
    {
      claim->fence_start = vml_process_start_time (claim->fence_pid);
      fprintf (stderr, "vmlease-holder: lease %s: no pidfds here; VM process %d will be fenced "
               "by pid, if it still has start time %llu\n", claim->uuid, (int) claim->fence_pid,
               claim->fence_start);
    }
  else
    fprintf (stderr, "vmlease-holder: lease %s: VM process %d is already gone (%s); there is "
             "nothing to fence\n", claim->uuid, (int) claim->fence_pid, strerror (errno));
}

/* Copies a QMP socket path word (NULL: none) into @claim; 0 if too long. */
static int
set_qmp (Claim *claim, const char *word)
{
  if (word == NULL)
    {
      claim->qmp[0] = '\0';
      return 1;
    }
  if (word[0] != '/' || strlen (word) >= sizeof claim->qmp)
    return 0;
  strcpy (claim->qmp, word);
  return 1;
}

/* "claim <uuid> <fence> <pid> [<qmp>]" → @claim, "spare" → an empty @claim;
 * 0 if malformed or out of turn. */
static int
parse_line (char *line, Claim *claim)
{
  char *words[6] = { NULL };
  int n = 0;
  pid_t pid = 0;

  for (char *w = strtok (line, " \n"); w != NULL && n < 6; w = strtok (NULL, " \n"))
    words[n++] = w;
  if (n == 1 && strcmp (words[0], VML_HOLDER_CMD_SPARE) == 0 && claim->uuid[0] != '\0')
    {
      claim_reset (claim);
      return 1;
    }
  if ((n == 3 || n == 4) && strcmp (words[0], VML_HOLDER_CMD_FENCE) == 0 &&
      claim->uuid[0] != '\0' && !claim->transient)
    {
      VmlFence fence;

      if (!vml_fence_from_name (words[1], &fence) ||
          (strcmp (words[2], "0") != 0 && !parse_pid (words[2], &pid)) ||
          !set_qmp (claim, words[3]))
        return 0;
      if (claim->fence_pidfd >= 0)
        close (claim->fence_pidfd);
      claim->fence_pidfd = -1;
      claim->fence_start = 0;
      claim->fence = fence;
      claim->fence_pid = pid;
      watch_vm (claim);
      return 1;
    }
  if (n == 2 && strcmp (words[0], VML_HOLDER_CMD_LOCK) == 0 && claim->uuid[0] == '\0' &&
      words[1][0] != '\0' && strlen (words[1]) < sizeof claim->uuid)
    {
      strcpy (claim->uuid, words[1]);
      claim->transient = 1;
      return 1;
    }
  if ((n != 4 && n != 5) || strcmp (words[0], VML_HOLDER_CMD_CLAIM) != 0 ||
      claim->uuid[0] != '\0' || words[1][0] == '\0' || strlen (words[1]) >= sizeof claim->uuid ||
      !vml_fence_from_name (words[2], &claim->fence) || !set_qmp (claim, words[4]))
    return 0;
  if (strcmp (words[3], "0") != 0 && !parse_pid (words[3], &pid))
    return 0;
  strcpy (claim->uuid, words[1]);
  claim->fence_pid = pid;
  watch_vm (claim);
  return 1;
}

/* Detach from vmleased: own session (its process group's signals and its
 * exit do not reach us), no inherited descriptors but stdio. */
static void
detach (void)
{
  /* Fails with EPERM when we already lead a process group (started from a
   * shell): then we are in no one else's group anyway. */
  (void) setsid ();
  signal (SIGHUP, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);
  if (close_range (3, ~0U, 0) < 0)
    for (int fd = 3; fd < 1024; fd++)
      close (fd);
}

static int
report_error (const char *what, int rv)
{
  const char *dir = getenv ("SANLOCK_RUN_DIR");

  printf (VML_HOLDER_SAY_ERROR " %s the sanlock daemon at %s/sanlock.sock: %s (%d)\n", what,
          dir != NULL ? dir : "/run/sanlock",
          rv <= -200 ? sanlock_strerror (rv) : strerror (-rv), rv);
  fflush (stdout);
  return VML_HOLDER_EXIT_START_FAILED;
}

static void
quiet_stdio (void)
{
  int fd = open ("/dev/null", O_RDWR | O_CLOEXEC);

  if (fd < 0)
    return;
  dup2 (fd, STDIN_FILENO);
  dup2 (fd, STDOUT_FILENO);
  if (fd > STDERR_FILENO)
    close (fd);
}

/* Reads what vmleased wrote on stdin and acts on each whole line. Returns
 * -1 to go on waiting, -2 when stdin ended while claimed (stop watching
 * it), else an exit status. */
static int
read_lines (char *buf, size_t *len, Claim *claim)
{
  ssize_t n = read (STDIN_FILENO, buf + *len, VML_HOLDER_LINE_MAX - *len);
  char *nl;

  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return -1;
  if (n <= 0)
    {
      if (claim->uuid[0] == '\0' || claim->transient)
        return VML_HOLDER_EXIT_STOPPED;   /* a spare or lock of a vmleased that went away */
      quiet_stdio ();
      return -2;
    }
  *len += (size_t) n;
  buf[*len] = '\0';
  while ((nl = strchr (buf, '\n')) != NULL)
    {
      size_t used = (size_t) (nl - buf) + 1;

      *nl = '\0';
      if (!parse_line (buf, claim))
        {
          fprintf (stderr, "vmlease-holder: bad line from vmleased\n");
          return VML_HOLDER_EXIT_USAGE;
        }
      memmove (buf, buf + used, *len - used + 1);
      *len -= used;
    }
  if (*len >= VML_HOLDER_LINE_MAX)
    {
      fprintf (stderr, "vmlease-holder: overlong line from vmleased\n");
      return VML_HOLDER_EXIT_USAGE;
    }
  return -1;
}

/* Whether sanlock still counts leases as ours, asked on our own connection
 * (a pid-targeted command from vmleased may be running: retry a little). */
static int
still_holding (int sock)
{
  for (int attempt = 0; attempt < 50; attempt++)
    {
      char *state = NULL;
      int count = 0;
      int rv = sanlock_inquire (sock, -1, 0, &count, &state);

      free (state);
      if (rv == 0)
        return count > 0;
      if (rv != -EBUSY)
        return 0;
      usleep (10000);
    }
  return 1;   /* cannot tell: assume the worst and fence */
}

/* Whether the VM process we took hold of at the claim has exited (a pidfd
 * is readable then), or the pid no longer names it. */
static int
vm_exited (const Claim *claim)
{
  struct pollfd pfd = { .fd = claim->fence_pidfd, .events = POLLIN };

  if (claim->fence_pidfd >= 0)
    return poll (&pfd, 1, 0) == 1;
  return claim->fence_start == 0 || vml_process_start_time (claim->fence_pid) != claim->fence_start;
}

/* Stops the VM process, as vmleased told us at the claim: through the
 * pidfd taken then, so a process that got its pid since is never hit.
 * vmleased applies the same fence the same way (vml-fence-apply.c) when a
 * lease is lost while the holder cannot: the holder crashed or was killed,
 * or the storage failed. The holder applies it when sanlock revoked the
 * lease or its daemon went away: then vmleased may not be running, and
 * sanlock frees a revoked lease only once we exit, so we must not wait. */
static int
fence_vm (const Claim *claim, const char *why)
{
  char qmp_why[256];
  const char *via;
  int rv;

  if (claim->fence_pid <= 0 || claim->fence == VML_FENCE_NONE)
    return 0;
  if (vm_exited (claim))
    {
      fprintf (stderr, "vmlease-holder: lease %s %s: VM process %d had already exited; "
               "nothing to fence\n", claim->uuid, why, (int) claim->fence_pid);
      return 0;
    }
  /* A QMP fence blocks up to its timeout: the holder may, vmleased may not. */
  rv = vml_fence_apply_qmp (claim->fence, claim->qmp, claim->fence_pidfd, claim->fence_pid,
                            claim->fence_start, &via, qmp_why, sizeof qmp_why);
  if (qmp_why[0] != '\0')
    fprintf (stderr, "vmlease-holder: lease %s %s: QMP stop on %s failed (%s); "
             "pausing VM process %d with SIGSTOP instead\n", claim->uuid, why, claim->qmp,
             qmp_why, (int) claim->fence_pid);
  if (rv == 0)
    fprintf (stderr, "vmlease-holder: lease %s %s: %s VM process %d%s\n", claim->uuid, why,
             claim->fence == VML_FENCE_KILL ? "killed" : "paused", (int) claim->fence_pid,
             strcmp (via, "qmp") == 0 ? " (QMP stop)" : "");
  else
    fprintf (stderr, "vmlease-holder: lease %s %s: cannot %s VM process %d: %s\n", claim->uuid,
             why, vml_fence_name (claim->fence), (int) claim->fence_pid, strerror (errno));
  return rv == 0;
}

/* Leaves vmleased a note of how this holder ended its lease: our exit
 * status, which only the vmleased that started us would see otherwise.
 * A vmleased that adopted us after a restart, or that is not running now,
 * reads it from $VMLEASE_NOTES_DIR/<uuid>.<our pid>.note (written whole,
 * then renamed; the format is vml-store.c's). The pid in the name keeps
 * apart the holders of one VM lease and its disks that end together (the
 * daemon gone). Best effort: without it the loss is reported as
 * holder-exited. */
static void
leave_note (const Claim *claim, int status, int fenced)
{
  const char *dir = getenv ("VMLEASE_NOTES_DIR");
  char path[4096], tmp[4096 + 8];
  FILE *f;

  if (dir == NULL || *dir == '\0' ||
      snprintf (path, sizeof path, "%s/%s.%d.note", dir, claim->uuid,
                (int) getpid ()) >= (int) sizeof path)
    return;
  snprintf (tmp, sizeof tmp, "%s.tmp", path);
  f = fopen (tmp, "we");
  if (f == NULL)
    return;
  fprintf (f, "[holder]\npid=%d\nstatus=%d\nfenced=%s\n", (int) getpid (), status,
           fenced ? "true" : "false");
  if (fclose (f) != 0 || rename (tmp, path) != 0)
    unlink (tmp);
}

/* The holder itself ends its lease (sanlock revoked it, or is gone):
 * fence the VM first, then tell vmleased. Spares and locks fence nothing. */
static int
end_lease (const Claim *claim, int status, const char *why)
{
  if (claim->uuid[0] == '\0' || claim->transient)
    return status;
  leave_note (claim, status, fence_vm (claim, why));
  return status;
}

/* The daemon closed our connection: it is gone (killed, crashed, stopped),
 * and our leases with it. Another host may take them once this host's
 * lease on storage expires, so the VM must stop now, whether vmleased is
 * there to do it or not. What we held at that instant cannot be asked any
 * more: a claimed holder fences. */
static int
daemon_gone (const Claim *claim)
{
  fprintf (stderr, "vmlease-holder: the sanlock daemon closed our connection; "
           "the leases it held for us are gone\n");
  return end_lease (claim, VML_HOLDER_EXIT_DAEMON_GONE, "lost with the sanlock daemon");
}

/* SIGTERM comes from vmleased after it released everything (a normal
 * stop), or from sanlock revoking our lease: a forced request from
 * another host (we restrict SIGKILL, so sanlock sends SIGTERM instead), or
 * a failing lockspace. In the second case we still hold the lease, and the
 * VM must stop writing before sanlock lets anyone else have it: it frees
 * the lease only once we exit. */
static int
stopped (int sock, const Claim *claim)
{
  if (claim->uuid[0] == '\0' || claim->transient || !still_holding (sock))
    return VML_HOLDER_EXIT_STOPPED;
  return end_lease (claim, VML_HOLDER_EXIT_REVOKED, "revoked");
}

/* Sleeps until SIGTERM/SIGINT or until the daemon closes our connection,
 * reading the claim meanwhile. SIGTERM/SIGINT are blocked outside ppoll(),
 * so none is lost. */
static int
wait_for_end (int sock, const sigset_t *waitmask, Claim *claim)
{
  struct pollfd pfds[2] = {
    { .fd = sock, .events = POLLIN },
    { .fd = STDIN_FILENO, .events = POLLIN },
  };
  char line[VML_HOLDER_LINE_MAX + 1];
  size_t len = 0;
  nfds_t nfds = 2;
  char buf[256];

  while (!stop_signal)
    {
      if (ppoll (pfds, nfds, NULL, waitmask) < 0)
        continue;   /* EINTR: the loop condition looks at the signal */
      /* The daemon never writes to a registered connection unasked, so
       * readable means closed (or junk we drop). */
      if (pfds[0].revents != 0 &&
          ((pfds[0].revents & (POLLHUP | POLLERR)) || read (sock, buf, sizeof buf) <= 0))
        return daemon_gone (claim);
      if (nfds == 2 && pfds[1].revents != 0)
        {
          int status = read_lines (line, &len, claim);

          if (status == -2)
            nfds = 1;   /* vmleased is gone; stdin is /dev/null now */
          else if (status >= 0)
            return status;
        }
    }
  return stopped (sock, claim);
}

/* Registers our kill path with sanlock: this program, run as
 * "--revoke <our pid> <our start time>" (see revoke_holder()). sanlock copies a
 * client's kill path into every lease it acquires for it, so this must come
 * before any acquire. Its client library cuts a path or arguments longer
 * than SANLK_HELPER_PATH_LEN - 2 bytes: refuse to run with a cut one. */
static int
set_killpath (int sock)
{
  static const char deleted[] = " (deleted)";
  char exe[4096], args[SANLK_HELPER_ARGS_LEN];
  ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  int rv;

  if (n < 0)
    {
      printf (VML_HOLDER_SAY_ERROR " cannot read /proc/self/exe for sanlock's kill path: %s\n",
              strerror (errno));
      return VML_HOLDER_EXIT_START_FAILED;
    }
  exe[n] = '\0';
  /* Replaced on disk since we started (an upgrade): the new one revokes. */
  if ((size_t) n > strlen (deleted) && strcmp (exe + n - strlen (deleted), deleted) == 0)
    exe[n -= (ssize_t) strlen (deleted)] = '\0';
  if ((size_t) n > SANLK_HELPER_PATH_LEN - 2)
    {
      printf (VML_HOLDER_SAY_ERROR " the holder's path %s is %zd bytes long; sanlock runs a kill "
              "path of at most %d bytes: install vmlease-holder at a shorter path\n", exe, n,
              SANLK_HELPER_PATH_LEN - 2);
      return VML_HOLDER_EXIT_START_FAILED;
    }
  snprintf (args, sizeof args, VML_HOLDER_ARG_REVOKE " %d %llu", (int) getpid (),
            vml_process_start_time (getpid ()));
  rv = sanlock_killpath (sock, 0, exe, args);
  if (rv < 0)
    return report_error ("cannot set our kill path with", rv);
  return -1;
}

int
main (int argc, char **argv)
{
  Claim claim = { .fence_pidfd = -1, .fence = VML_FENCE_NONE };
  struct sigaction sa = { .sa_handler = on_stop };
  sigset_t stops, waitmask;
  int status, sock, rv;

  status = parse_args (argc, argv);
  if (status >= 0)
    return status;

  detach ();

  sigemptyset (&stops);
  sigaddset (&stops, SIGTERM);
  sigaddset (&stops, SIGINT);
  sigprocmask (SIG_BLOCK, &stops, &waitmask);
  sigdelset (&waitmask, SIGTERM);
  sigdelset (&waitmask, SIGINT);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);

  sock = sanlock_register ();
  if (sock < 0)
    return report_error ("cannot register with", sock);
  /* sanlock_register() only sends; the kill path's round trip on the same
   * connection guarantees the daemon has processed the registration before
   * we say "ready" (else vmleased's first pid-targeted call could get
   * -ESRCH). */
  status = set_killpath (sock);
  if (status >= 0)
    {
      fflush (stdout);
      return status;
    }
  /* SIGKILL restricted: where sanlock still signals us itself (after a
   * lockspace failure's grace period), revocation arrives as SIGTERM, so
   * we can fence the VM before we go. */
  rv = sanlock_restrict (sock, SANLK_RESTRICT_SIGKILL);
  if (rv < 0)
    return report_error ("lost the connection to", rv);

  if (write (STDOUT_FILENO, VML_HOLDER_SAY_READY "\n", sizeof VML_HOLDER_SAY_READY) !=
      sizeof VML_HOLDER_SAY_READY)
    return VML_HOLDER_EXIT_START_FAILED;   /* vmleased is gone before we could tell it */

  /* sock stays open for our whole life: it is what holds the leases. */
  return wait_for_end (sock, &waitmask, &claim);
}
