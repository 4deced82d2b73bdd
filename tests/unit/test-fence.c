/* test-fence.c: the QMP fence's client (service/holder/vml-fence-apply.c,
 * service/holder/vml-qmp.c), and the "cont" of Transfer finish's resume,
 * against a scripted QMP server in a thread of this process: QEMU's
 * greeting, answers and events (STOP before stop's return), an error
 * reply, a server that never greets (a monitor with another client), a
 * socket that is not there, and the fallback to SIGSTOP on a child
 * process. The server is this process, so the fence's peer check passes
 * with our own pid. The real QEMU is tests/e2e/test_run_qmp.py's. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "vml-fence-apply.h"
#include "vml-qmp.h"

typedef struct {
  int          listen_fd;
  const char  *greeting;      /* NULL: never greet */
  const char  *stop_answer;   /* what follows stop (lines) */
  const char  *cont_answer;   /* what follows cont (lines) */
  const char  *late_event;    /* a line sent 50 ms after cont's answer */
  GString     *heard;         /* the commands' names, one a line */
} Server;

static gpointer
serve_one (gpointer user_data)
{
  Server *srv = user_data;
  int fd = accept (srv->listen_fd, NULL, NULL);
  char buf[1024];
  GString *pending = g_string_new (NULL);
  ssize_t n;

  g_assert_cmpint (fd, >=, 0);
  if (srv->greeting == NULL)
    {
      /* Like a monitor busy with another client: read, never answer. */
      while (read (fd, buf, sizeof buf) > 0)
        ;
      close (fd);
      g_string_free (pending, TRUE);
      return NULL;
    }
  g_assert_cmpint (write (fd, srv->greeting, strlen (srv->greeting)), >, 0);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    {
      char *nl;

      g_string_append_len (pending, buf, n);
      while ((nl = strchr (pending->str, '\n')) != NULL)
        {
          g_autofree char *line = g_strndup (pending->str, nl - pending->str);
          const char *answer = "{\"return\": {}}\r\n";

          g_string_erase (pending, 0, nl - pending->str + 1);
          if (strstr (line, "\"qmp_capabilities\""))
            g_string_append (srv->heard, "qmp_capabilities\n");
          else if (strstr (line, "\"stop\""))
            {
              g_string_append (srv->heard, "stop\n");
              answer = srv->stop_answer;
            }
          else if (strstr (line, "\"cont\""))
            {
              g_string_append (srv->heard, "cont\n");
              answer = srv->cont_answer;
            }
          g_assert_cmpint (write (fd, answer, strlen (answer)), >, 0);
          if (strstr (line, "\"cont\"") && srv->late_event != NULL)
            {
              g_usleep (50 * 1000);
              g_assert_cmpint (write (fd, srv->late_event, strlen (srv->late_event)), >, 0);
            }
        }
    }
  close (fd);
  g_string_free (pending, TRUE);
  return NULL;
}

/* Listens on @path; serves one client in a thread. */
static GThread *
start_server (Server *srv, const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };

  g_assert_cmpuint (strlen (path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, path);
  srv->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (bind (srv->listen_fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (srv->listen_fd, 4), ==, 0);
  srv->heard = g_string_new (NULL);
  return g_thread_new ("qmp", serve_one, srv);
}

/* Ends the server; removes its socket @path and the directory around it. */
static void
stop_server (Server *srv, GThread *thread, const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);

  if (thread != NULL)
    g_thread_join (thread);
  close (srv->listen_fd);
  g_string_free (srv->heard, TRUE);
  unlink (path);
  rmdir (dir);
}

#define GREETING "{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}\r\n"

static char *
socket_path (const char *name)
{
  g_autofree char *dir = g_dir_make_tmp ("vml-fence-XXXXXX", NULL);

  return g_build_filename (dir, name, NULL);
}

static void
test_stop_with_event_first (void)
{
  g_autofree char *path = socket_path ("vm.qmp");
  Server srv = { .greeting = GREETING,
                 .stop_answer = "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
                                "\"event\": \"STOP\"}\r\n{\"return\": {}}\r\n" };
  GThread *thread = start_server (&srv, path);
  char why[256] = "";

  g_assert_cmpint (vml_fence_qmp_stop (path, getpid (), 1000, why, sizeof why), ==, 0);
  g_assert_cmpstr (why, ==, "");
  g_thread_join (thread);
  thread = NULL;
  g_assert_cmpstr (srv.heard->str, ==, "qmp_capabilities\nstop\n");
  stop_server (&srv, thread, path);
}

static void
test_error_reply (void)
{
  g_autofree char *path = socket_path ("vm.qmp");
  Server srv = { .greeting = GREETING,
                 .stop_answer = "{\"error\": {\"class\": \"GenericError\", "
                                "\"desc\": \"nope\"}}\r\n" };
  GThread *thread = start_server (&srv, path);
  char why[256] = "";

  g_assert_cmpint (vml_fence_qmp_stop (path, getpid (), 1000, why, sizeof why), ==, -1);
  g_assert_nonnull (strstr (why, "QEMU answered stop with {\"error\""));
  stop_server (&srv, thread, path);
}

static void
test_no_greeting_times_out (void)
{
  g_autofree char *path = socket_path ("vm.qmp");
  Server srv = { .greeting = NULL };
  GThread *thread = start_server (&srv, path);
  char why[256] = "";
  gint64 t0 = g_get_monotonic_time ();

  g_assert_cmpint (vml_fence_qmp_stop (path, getpid (), 200, why, sizeof why), ==, -1);
  g_assert_nonnull (strstr (why, "no answer within the timeout while waiting for the greeting"));
  /* It gave up at its deadline: not at once, not long after. */
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 150 * 1000);
  stop_server (&srv, thread, path);
}

static void
test_not_a_socket (void)
{
  char why[256] = "";
  g_autofree char *too_long = g_strnfill (200, 'a');

  g_assert_cmpint (vml_fence_qmp_stop ("/nonexistent/vm.qmp", getpid (), 1000, why,
                                       sizeof why), ==, -1);
  g_assert_nonnull (strstr (why, "cannot connect to /nonexistent/vm.qmp"));
  g_assert_cmpint (vml_fence_qmp_stop (too_long, getpid (), 1000, why, sizeof why), ==, -1);
  g_assert_nonnull (strstr (why, "too long"));
}

#define RESUME_EVENT "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, " \
                     "\"event\": \"RESUME\"}\r\n"

/* Transfer finish's resume: connected before, "cont" sent without waiting,
 * then its return and the guest's RESUME, whichever order QEMU sends them
 * in (RESUME after the return while the incoming migration still runs;
 * before it when the guest starts at once). */
static void
cont_then_resume (const char *cont_answer, const char *late_event, int event_timeout_ms,
                  int expect_event)
{
  g_autofree char *path = socket_path ("vm.qmp");
  Server srv = { .greeting = GREETING, .cont_answer = cont_answer, .late_event = late_event };
  GThread *thread = start_server (&srv, path);
  char why[256] = "";
  VmlQmp *qmp = vml_qmp_open (path, getpid (), 1000, why, sizeof why);

  g_assert_nonnull (qmp);
  g_assert_cmpint (vml_qmp_send (qmp, "cont", why, sizeof why), ==, 0);
  g_assert_cmpint (vml_qmp_wait_return (qmp, "cont", 1000, why, sizeof why), ==, 0);
  g_assert_cmpint (vml_qmp_wait_event (qmp, "RESUME", event_timeout_ms, why, sizeof why), ==,
                   expect_event);
  if (expect_event != 0)
    g_assert_nonnull (strstr (why, "no answer within the timeout while RESUME"));
  vml_qmp_close (qmp);
  g_thread_join (thread);
  g_assert_cmpstr (srv.heard->str, ==, "qmp_capabilities\ncont\n");
  stop_server (&srv, NULL, path);
}

static void
test_cont_resume_after_return (void)
{
  cont_then_resume ("{\"return\": {}}\r\n", RESUME_EVENT, 1000, 0);
}

static void
test_cont_resume_before_return (void)
{
  cont_then_resume (RESUME_EVENT "{\"return\": {}}\r\n", NULL, 1000, 0);
}

static void
test_cont_no_resume_times_out (void)
{
  cont_then_resume ("{\"return\": {}}\r\n", NULL, 200, -1);
}

static void
test_fallback_to_sigstop (void)
{
  pid_t child = fork ();
  const char *via = NULL;
  char why[256] = "";
  int status;

  if (child == 0)
    {
      pause ();
      _exit (0);
    }
  g_assert_cmpint (child, >, 0);
  g_assert_cmpint (vml_fence_apply_qmp (VML_FENCE_PAUSE, "/nonexistent/vm.qmp", -1, child,
                                        vml_process_start_time (child), &via, why,
                                        sizeof why), ==, 0);
  g_assert_cmpstr (via, ==, "signal");
  g_assert_nonnull (strstr (why, "cannot connect"));
  g_assert_cmpint (waitpid (child, &status, WUNTRACED), ==, child);
  g_assert_true (WIFSTOPPED (status) && WSTOPSIG (status) == SIGSTOP);
  kill (child, SIGKILL);
  waitpid (child, &status, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/fence/qmp/stop-with-event-first", test_stop_with_event_first);
  g_test_add_func ("/fence/qmp/error-reply", test_error_reply);
  g_test_add_func ("/fence/qmp/no-greeting-times-out", test_no_greeting_times_out);
  g_test_add_func ("/fence/qmp/not-a-socket", test_not_a_socket);
  g_test_add_func ("/fence/qmp/fallback-to-sigstop", test_fallback_to_sigstop);
  g_test_add_func ("/qmp/cont/resume-after-return", test_cont_resume_after_return);
  g_test_add_func ("/qmp/cont/resume-before-return", test_cont_resume_before_return);
  g_test_add_func ("/qmp/cont/no-resume-times-out", test_cont_no_resume_times_out);
  return g_test_run ();
}
