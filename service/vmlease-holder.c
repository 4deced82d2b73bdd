/* vmlease-holder: the sanlock client that holds one VM's lease.
 *
 * sanlock ties leases to a registered process and releases them when that
 * process's connection closes. vmleased starts one holder per VM lease and
 * then acquires, converts, releases and inquires on its behalf with
 * pid-targeted calls; the holder itself only registers and waits. So a
 * restart of vmleased loses no lease, and revoking one VM's lease touches
 * no other VM.
 *
 * Deliberately plain C on libc + libsanlock_client (no GLib): it starts on
 * the acquire path and must be ready in well under a millisecond.
 *
 * Protocol with vmleased: exactly one line on stdout, "ready" once the
 * daemon has registered us (pid-targeted calls work from then on), or
 * "error <text>" before exiting 1. Then stdin and stdout point at /dev/null.
 *
 * Exit status: 0 stopped by SIGTERM/SIGINT (sanlock releases whatever is
 * still held when our connection closes), 1 could not register, 2 bad
 * arguments, 3 the sanlock daemon closed our connection (our leases are gone).
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
#include <unistd.h>

#include <sanlock.h>
#include <sanlock_resource.h>

#define EXIT_USAGE      2
#define EXIT_DAEMON_GONE 3

typedef enum { FENCE_KILL, FENCE_PAUSE, FENCE_NONE } Fence;

typedef struct {
  const char *uuid;
  pid_t       fence_pid;   /* 0: none given */
  Fence       fence;
} Options;

static volatile sig_atomic_t stop_signal;

static void
on_stop (int sig)
{
  stop_signal = sig;
}

static void
usage (FILE *out)
{
  fputs ("Usage: vmlease-holder --uuid UUID [--fence-pid PID] [--fence kill|pause|none]\n"
         "\n"
         "Registers with the sanlock daemon ($SANLOCK_RUN_DIR, default /run/sanlock)\n"
         "and holds the leases vmleased acquires for this process, until SIGTERM.\n"
         "Prints \"ready\" once registered, or \"error <text>\".\n"
         "\n"
         "  --uuid UUID        the VM lease this holder is for\n"
         "  --fence-pid PID    the VM process to stop if sanlock revokes the lease\n"
         "  --fence ACTION     kill (default), pause (SIGSTOP) or none\n"
         "  --help             show this text\n", out);
}

static int
bad_usage (const char *what, const char *value)
{
  if (value != NULL)
    fprintf (stderr, "vmlease-holder: %s '%s'\n", what, value);
  else
    fprintf (stderr, "vmlease-holder: %s\n", what);
  fputs ("Try 'vmlease-holder --help'.\n", stderr);
  return EXIT_USAGE;
}

static int
parse_fence (const char *s, Fence *fence)
{
  static const char *const names[] = { [FENCE_KILL] = "kill", [FENCE_PAUSE] = "pause",
                                       [FENCE_NONE] = "none" };

  for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp (s, names[i]) == 0)
      {
        *fence = (Fence) i;
        return 1;
      }
  return 0;
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

/* Returns -1 when the options are fine, else the exit status. */
static int
parse_args (int argc, char **argv, Options *opts)
{
  static const struct option longopts[] = {
    { "uuid",      required_argument, NULL, 'u' },
    { "fence-pid", required_argument, NULL, 'p' },
    { "fence",     required_argument, NULL, 'f' },
    { "help",      no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  opterr = 0;   /* we word the complaints ourselves; ":" reports a missing value */
  while ((c = getopt_long (argc, argv, ":", longopts, NULL)) != -1)
    {
      switch (c)
        {
        case 'u': opts->uuid = optarg; break;
        case 'p':
          if (!parse_pid (optarg, &opts->fence_pid))
            return bad_usage ("--fence-pid needs a positive process id, not", optarg);
          break;
        case 'f':
          if (!parse_fence (optarg, &opts->fence))
            return bad_usage ("--fence must be kill, pause or none, not", optarg);
          break;
        case 'h':
          usage (stdout);
          return EXIT_SUCCESS;
        case ':':
          return bad_usage ("missing value for option", argv[optind - 1]);
        default:
          return bad_usage ("unknown option", argv[optind - 1]);
        }
    }
  if (optind < argc)
    return bad_usage ("unexpected argument", argv[optind]);
  if (opts->uuid == NULL || opts->uuid[0] == '\0')
    return bad_usage ("--uuid UUID is required", NULL);
  return -1;
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

  printf ("error %s the sanlock daemon at %s/sanlock.sock: %s (%d)\n", what,
          dir != NULL ? dir : "/run/sanlock",
          rv <= -200 ? sanlock_strerror (rv) : strerror (-rv), rv);
  fflush (stdout);
  return EXIT_FAILURE;
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

/* Sleeps until SIGTERM/SIGINT or until the daemon closes our connection.
 * SIGTERM/SIGINT are blocked outside ppoll(), so none is lost. */
static int
wait_for_end (int sock, const sigset_t *waitmask)
{
  struct pollfd pfd = { .fd = sock, .events = POLLIN };
  char buf[256];

  while (!stop_signal)
    {
      int n = ppoll (&pfd, 1, NULL, waitmask);

      if (n < 0 || pfd.revents == 0)
        continue;   /* EINTR: the loop condition looks at the signal */
      /* The daemon never writes to a registered connection unasked, so
       * readable means closed (or junk we drop). */
      if ((pfd.revents & (POLLHUP | POLLERR)) || read (sock, buf, sizeof buf) <= 0)
        {
          fprintf (stderr, "vmlease-holder: the sanlock daemon closed our connection; "
                   "the leases it held for us are gone\n");
          return EXIT_DAEMON_GONE;
        }
    }
  /* FENCING (a later issue) goes here. sanlock revokes a lease by signalling
   * the holder: SIGTERM every second from 8 × io_timeout of failed renewals
   * (SIGKILL from +40 s), or per FORCE/GRACEFUL requests. Then, before
   * exiting, the holder must tell that apart from vmleased's own SIGTERM
   * (e.g. a killpath registered with sanlock_killpath(SANLK_KILLPATH_PID),
   * or a stop request from vmleased on another channel) and apply
   * opts.fence to opts.fence_pid (SIGKILL / SIGSTOP / nothing), so the guest
   * stops writing before any other host can acquire. */
  return EXIT_SUCCESS;
}

int
main (int argc, char **argv)
{
  Options opts = { .fence = FENCE_KILL };
  struct sigaction sa = { .sa_handler = on_stop };
  sigset_t stops, waitmask;
  int status, sock, rv;

  status = parse_args (argc, argv, &opts);
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
  /* sanlock_register() only sends; a round trip on the same connection
   * guarantees the daemon has processed the registration before we say
   * "ready" (else vmleased's first pid-targeted call could get -ESRCH).
   * Flags 0 restrict nothing. */
  rv = sanlock_restrict (sock, 0);
  if (rv < 0)
    return report_error ("lost the connection to", rv);

  if (write (STDOUT_FILENO, "ready\n", 6) != 6)
    return EXIT_FAILURE;   /* vmleased is gone before we could tell it */
  quiet_stdio ();

  /* sock stays open for our whole life: it is what holds the leases. */
  return wait_for_end (sock, &waitmask);
}
