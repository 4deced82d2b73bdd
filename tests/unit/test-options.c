/* Unit tests for the input checks every D-Bus method relies on, the fence
 * names of the holder protocol, and the one fence applier. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "vml-actions.h"
#include "vml-error.h"
#include "vml-lease.h"
#include "vml-fence.h"
#include "vml-fence-apply.h"
#include "vml-object-path.h"
#include "vml-options.h"

static const VmlOptionSpec specs[] = {
  { "mode", "s" },
  { "pid", "u" },
  { NULL }
};

static GVariant *
parse (const char *text)
{
  /* g_variant_parse() returns a non-floating reference already */
  return g_variant_parse (G_VARIANT_TYPE_VARDICT, text, NULL, NULL, NULL);
}

static void
test_options_accepts_known_keys (void)
{
  g_autoptr(GVariant) options = parse ("{'mode': <'shared'>, 'pid': <uint32 7>}");
  g_autoptr(GError) error = NULL;

  g_assert_true (vml_options_check (options, "Acquire", specs, &error));
  g_assert_no_error (error);
}

static void
test_options_rejects_unknown_key (void)
{
  g_autoptr(GVariant) options = parse ("{'colour': <'red'>}");
  g_autoptr(GError) error = NULL;

  g_assert_false (vml_options_check (options, "Acquire", specs, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  /* The message names the bad key and lists what would have been right. */
  g_assert_nonnull (strstr (error->message, "'colour'"));
  g_assert_nonnull (strstr (error->message, "mode (s)"));
  g_assert_nonnull (strstr (error->message, "pid (u)"));
}

static void
test_options_rejects_wrong_type (void)
{
  g_autoptr(GVariant) options = parse ("{'pid': <'7'>}");
  g_autoptr(GError) error = NULL;

  g_assert_false (vml_options_check (options, "Acquire", specs, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "'u'"));
}

static void
test_options_none_allowed (void)
{
  static const VmlOptionSpec none[] = { { NULL } };
  g_autoptr(GVariant) empty = parse ("@a{sv} {}");
  g_autoptr(GVariant) one = parse ("{'force': <true>}");
  g_autoptr(GError) error = NULL;

  g_assert_true (vml_options_check (empty, "Release", none, NULL));
  g_assert_false (vml_options_check (one, "Release", none, &error));
  g_assert_nonnull (strstr (error->message, "none"));
}

static void
test_uuid (void)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (vml_check_uuid ("8c1e3c6a-2f51-4b7e-9f0a-3d2b1c4e5f60", NULL));
  g_assert_true (vml_check_uuid ("8C1E3C6A-2F51-4B7E-9F0A-3D2B1C4E5F60", NULL));
  g_assert_false (vml_check_uuid ("", NULL));
  g_assert_false (vml_check_uuid ("8c1e3c6a2f514b7e9f0a3d2b1c4e5f60", NULL));
  g_assert_false (vml_check_uuid ("8c1e3c6a-2f51-4b7e-9f0a-3d2b1c4e5f6g", &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
}

static void
test_lockspace_name (void)
{
  g_autofree char *max = g_strnfill (47, 'a');
  g_autofree char *too_long = g_strnfill (48, 'a');

  g_assert_true (vml_check_lockspace_name ("sandbox", NULL));
  g_assert_true (vml_check_lockspace_name ("a.b-c_1", NULL));
  g_assert_true (vml_check_lockspace_name (max, NULL));
  g_assert_false (vml_check_lockspace_name (too_long, NULL));
  g_assert_false (vml_check_lockspace_name ("", NULL));
  /* ':' separates fields in sanlock's own text forms. */
  g_assert_false (vml_check_lockspace_name ("a:b", NULL));
  g_assert_false (vml_check_lockspace_name ("a b", NULL));
}

static void
test_vm_name (void)
{
  g_autofree char *max = g_strnfill (255, 'x');
  g_autofree char *too_long = g_strnfill (256, 'x');

  g_assert_true (vml_check_vm_name ("", NULL));
  g_assert_true (vml_check_vm_name ("web-01 (prod) ü", NULL));
  g_assert_true (vml_check_vm_name (max, NULL));
  g_assert_false (vml_check_vm_name (too_long, NULL));
  g_assert_false (vml_check_vm_name ("tab\there", NULL));
}

static void
test_numbers (void)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (vml_check_host_id (0, NULL));
  g_assert_true (vml_check_host_id (1, NULL));
  g_assert_true (vml_check_host_id (2000, NULL));
  g_assert_false (vml_check_host_id (2001, NULL));
  g_assert_false (vml_check_io_timeout (0, NULL));
  g_assert_true (vml_check_io_timeout (1, NULL));
  g_assert_false (vml_check_io_timeout (61, NULL));
  g_assert_true (vml_check_aligned_offset (0, NULL));
  g_assert_true (vml_check_aligned_offset (3 * 1024 * 1024, NULL));
  g_assert_false (vml_check_aligned_offset (512, &error));
  /* The message suggests the next aligned offset. */
  g_assert_nonnull (strstr (error->message, "1048576"));
  /* aligned, but the areas behind it would not fit a file offset */
  g_assert_false (vml_check_aligned_offset (G_GUINT64_CONSTANT (18446744073708503040), NULL));
  g_assert_true (vml_check_aligned_offset (G_GUINT64_CONSTANT (1) << 62, NULL));
  g_assert_true (vml_check_wait (0, "Acquire", NULL));
  g_assert_true (vml_check_wait (VML_WAIT_MAX_S, "Acquire", NULL));
  g_assert_false (vml_check_wait (VML_WAIT_MAX_S + 1, "Transfer cancel", NULL));
  g_assert_false (vml_check_wait (G_MAXUINT32, "Acquire", NULL));
  g_assert_false (vml_check_aligned_offset ((G_GUINT64_CONSTANT (1) << 62) + 1024 * 1024, NULL));
}

static void
test_fence_options (void)
{
  g_autoptr(GError) error = NULL;
  GVariantDict dict;
  g_autoptr(GVariant) options = NULL;
  VmlFence fence;
  guint pid;
  char *qmp = NULL;

  g_assert_false (vml_check_fence_pid (0, NULL));
  g_assert_false (vml_check_fence_pid (4294967295u, &error));   /* -1 as a pid_t */
  g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (vml_check_fence_pid (4194305, NULL));
  g_assert_true (vml_check_fence_pid ((guint) getpid (), NULL));

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "fence", "s", "pause");
  options = g_variant_ref_sink (g_variant_dict_end (&dict));
  g_assert_false (vml_fence_options_parse (options, &fence, &pid, &qmp, &error));
  g_assert_nonnull (strstr (error->message, "needs the VM's process id"));
  g_clear_error (&error);
  g_clear_pointer (&options, g_variant_unref);

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "pid", "u", (guint) getpid ());
  options = g_variant_ref_sink (g_variant_dict_end (&dict));
  g_assert_true (vml_fence_options_parse (options, &fence, &pid, &qmp, &error));
  g_assert_cmpint (fence, ==, VML_FENCE_KILL);
  g_assert_cmpuint (pid, ==, (guint) getpid ());
  g_assert_null (qmp);
  g_clear_pointer (&options, g_variant_unref);

  /* qmp: only with a pause fence; the socket need not exist yet. */
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "pid", "u", (guint) getpid ());
  g_variant_dict_insert (&dict, "fence", "s", "pause");
  g_variant_dict_insert (&dict, "qmp", "s", "/run/vm/web1.qmp");
  options = g_variant_ref_sink (g_variant_dict_end (&dict));
  g_assert_true (vml_fence_options_parse (options, &fence, &pid, &qmp, &error));
  g_assert_cmpint (fence, ==, VML_FENCE_PAUSE);
  g_assert_cmpstr (qmp, ==, "/run/vm/web1.qmp");
  g_clear_pointer (&qmp, g_free);
  g_clear_pointer (&options, g_variant_unref);

  /* the VM's monitor with a kill fence: Transfer finish's resume uses it */
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "pid", "u", (guint) getpid ());
  g_variant_dict_insert (&dict, "qmp", "s", "/run/vm/web1.qmp");
  options = g_variant_ref_sink (g_variant_dict_end (&dict));
  g_assert_true (vml_fence_options_parse (options, &fence, &pid, &qmp, &error));
  g_assert_cmpint (fence, ==, VML_FENCE_KILL);
  g_assert_cmpstr (qmp, ==, "/run/vm/web1.qmp");
  g_clear_pointer (&qmp, g_free);
  g_clear_pointer (&options, g_variant_unref);

  /* ...but not without the VM process it belongs to */
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "qmp", "s", "/run/vm/web1.qmp");
  options = g_variant_ref_sink (g_variant_dict_end (&dict));
  g_assert_false (vml_fence_options_parse (options, &fence, &pid, &qmp, &error));
  g_assert_nonnull (strstr (error->message, "needs that process's id in option 'pid'"));
  g_assert_null (qmp);
  g_clear_error (&error);

  g_assert_true (vml_check_qmp_path ("/run/vm/web1.qmp", NULL));
  g_assert_false (vml_check_qmp_path ("web1.qmp", NULL));
  g_assert_false (vml_check_qmp_path ("/run/vm/web 1.qmp", NULL));
  g_assert_false (vml_check_qmp_path ("/run/vm/web1\n.qmp", NULL));
  {
    g_autofree char *longest = g_strnfill (107, 'a');
    g_autofree char *too_long = g_strnfill (108, 'a');

    longest[0] = too_long[0] = '/';
    g_assert_true (vml_check_qmp_path (longest, NULL));
    g_assert_false (vml_check_qmp_path (too_long, &error));
    g_assert_nonnull (strstr (error->message, "at most 107"));
  }
}

static void
test_storage_path (void)
{
  g_autofree char *dir = g_dir_make_tmp ("vml-test-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "leases", NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (file, "", 0, NULL));
  g_assert_cmpint (truncate (file, 4 * 1024 * 1024), ==, 0);
  g_assert_true (vml_check_storage_path (file, NULL));
  g_assert_false (vml_check_storage_path ("leases", NULL));
  g_assert_false (vml_check_storage_path (dir, NULL));
  g_assert_false (vml_check_storage_path ("/nonexistent/leases", &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_NOT_FOUND);
  g_assert_true (vml_check_storage_range (file, 3 * 1024 * 1024, 1024 * 1024, NULL));
  g_assert_false (vml_check_storage_range (file, 4 * 1024 * 1024, 1024 * 1024, NULL));
  /* offset + length wraps around: never "fits" */
  g_assert_false (vml_check_storage_range (file, G_GUINT64_CONSTANT (18446744073708503040),
                                           1024 * 1024, NULL));
  g_unlink (file);
  g_rmdir (dir);
}

static void
test_enums_round_trip (void)
{
  VmlMode mode;
  VmlFence fence;
  g_autoptr(GError) error = NULL;

  g_assert_true (vml_mode_from_string ("shared", &mode, NULL));
  g_assert_cmpint (mode, ==, VML_MODE_SHARED);
  g_assert_cmpstr (vml_mode_to_string (mode), ==, "shared");
  g_assert_true (vml_fence_from_string ("pause", &fence, NULL));
  g_assert_cmpstr (vml_fence_to_string (fence), ==, "pause");
  g_assert_false (vml_mode_from_string ("EXCLUSIVE", &mode, &error));
  /* The message lists the valid values. */
  g_assert_nonnull (strstr (error->message, "'exclusive', 'shared'"));
}

/* The holder protocol's fence names: the D-Bus API's order, one table. */
static void
test_fence_names (void)
{
  g_autoptr(GError) error = NULL;
  VmlFence fence;

  g_assert_cmpstr (vml_fence_name (VML_FENCE_NONE), ==, "none");
  g_assert_cmpstr (vml_fence_name (VML_FENCE_KILL), ==, "kill");
  g_assert_cmpstr (vml_fence_name (VML_FENCE_PAUSE), ==, "pause");
  g_assert_cmpstr (vml_fence_name (VML_FENCE_N), ==, "");
  g_assert_true (vml_fence_from_name ("kill", &fence));
  g_assert_cmpint (fence, ==, VML_FENCE_KILL);
  g_assert_false (vml_fence_from_name ("KILL", &fence));
  g_assert_false (vml_fence_from_string ("stop", &fence, &error));
  g_assert_nonnull (strstr (error->message, "'none', 'kill', 'pause'"));
  g_assert_cmpint (vml_fence_signal (VML_FENCE_KILL), ==, SIGKILL);
  g_assert_cmpint (vml_fence_signal (VML_FENCE_PAUSE), ==, SIGSTOP);
  g_assert_cmpint (vml_fence_signal (VML_FENCE_NONE), ==, 0);
}

static pid_t
start_sleeper (void)
{
  pid_t pid = fork ();

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      pause ();
      _exit (0);
    }
  return pid;
}

/* The one fence applier: by pidfd, or by pid only while the start time
 * still matches. */
static void
test_fence_apply (void)
{
  pid_t pid = start_sleeper ();
  unsigned long long start = vml_process_start_time (pid);
  int pidfd = pidfd_open (pid, 0);
  int status;

  g_assert_cmpuint (start, !=, 0);
  g_assert_cmpint (vml_fence_apply (VML_FENCE_NONE, pidfd, pid, start), ==, -1);
  g_assert_cmpint (errno, ==, EINVAL);
  /* Another process's start time: not ours to signal. */
  g_assert_cmpint (vml_fence_apply (VML_FENCE_KILL, -1, pid, start + 1), ==, -1);
  g_assert_cmpint (errno, ==, ESRCH);
  g_assert_cmpint (vml_fence_apply (VML_FENCE_PAUSE, -1, pid, start), ==, 0);
  g_assert_cmpint (waitpid (pid, &status, WUNTRACED), ==, pid);
  g_assert_true (WIFSTOPPED (status));
  if (pidfd >= 0)
    g_assert_cmpint (vml_fence_apply (VML_FENCE_KILL, pidfd, pid, 0), ==, 0);
  else
    g_assert_cmpint (vml_fence_apply (VML_FENCE_KILL, -1, pid, start), ==, 0);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  if (pidfd >= 0)
    close (pidfd);
  g_assert_cmpuint (vml_process_start_time (pid), ==, 0);
}

static void
test_object_path (void)
{
  g_autofree char *path = vml_lease_object_path ("8C1E3C6A-2F51-4B7E-9F0A-3D2B1C4E5F60");

  g_assert_cmpstr (path, ==, "/org/example/VMLease/vm/8c1e3c6a_2f51_4b7e_9f0a_3d2b1c4e5f60");
  g_assert_true (g_variant_is_object_path (path));
}

static void
test_error_names (void)
{
  g_autoptr(GError) error = g_error_new_literal (VML_ERROR, VML_ERROR_BUSY, "held by host 2");
  g_autofree char *remote = g_dbus_error_encode_gerror (error);

  g_assert_cmpstr (remote, ==, "org.example.VMLease.Error.Busy");
  g_assert_cmpstr (vml_error_to_name (VML_ERROR_LOCKSPACE_NOT_JOINED), ==, "LockspaceNotJoined");
}

static void
test_action_table (void)
{
  guint n;
  const VmlActionRule *rules = vml_action_rules (&n);

  g_assert_cmpuint (n, >, 0);
  for (guint i = 0; i < n; i++)
    g_assert_cmpstr (vml_action_for_member (rules[i].interface, rules[i].member), ==, rules[i].action);
  g_assert_cmpstr (vml_action_for_member (VML_LEASE_INTERFACE, "Acquire"), ==, VML_ACTION_ACQUIRE);
  g_assert_cmpstr (vml_action_for_member (VML_LEASE_INTERFACE, "Inquire"), ==, VML_ACTION_INQUIRE);
  /* Deny by default: unknown members have no action. */
  g_assert_null (vml_action_for_member (VML_LEASE_INTERFACE, "Seize"));
  g_assert_null (vml_action_for_member ("org.freedesktop.DBus.Properties", "Set"));
}

/* Other hosts find a lease by this key: it must not depend on the host,
 * the build or the case of the UUID, and never be 0 (no sanlock event). */
static void
test_message_key (void)
{
  const char *u = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
  g_autofree char *upper = g_ascii_strup (u, -1);

  /* FNV-1a 64 of "a", as published */
  g_assert_cmpuint (vml_lease_message_key_of ("a"), ==, G_GUINT64_CONSTANT (0xaf63dc4c8601ec8c));
  g_assert_cmpuint (vml_lease_message_key_of (u), ==, vml_lease_message_key_of (upper));
  g_assert_cmpuint (vml_lease_message_key_of (u), !=,
                    vml_lease_message_key_of ("6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e40"));
  g_assert_cmpuint (vml_lease_message_key_of (u), !=, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/options/accepts-known-keys", test_options_accepts_known_keys);
  g_test_add_func ("/options/rejects-unknown-key", test_options_rejects_unknown_key);
  g_test_add_func ("/options/rejects-wrong-type", test_options_rejects_wrong_type);
  g_test_add_func ("/options/none-allowed", test_options_none_allowed);
  g_test_add_func ("/check/uuid", test_uuid);
  g_test_add_func ("/check/lockspace-name", test_lockspace_name);
  g_test_add_func ("/check/vm-name", test_vm_name);
  g_test_add_func ("/check/numbers", test_numbers);
  g_test_add_func ("/check/storage-path", test_storage_path);
  g_test_add_func ("/check/fence-options", test_fence_options);
  g_test_add_func ("/enums/round-trip", test_enums_round_trip);
  g_test_add_func ("/fence/names", test_fence_names);
  g_test_add_func ("/fence/apply", test_fence_apply);
  g_test_add_func ("/paths/lease-object", test_object_path);
  g_test_add_func ("/errors/names", test_error_names);
  g_test_add_func ("/actions/table", test_action_table);
  g_test_add_func ("/lease/message-key", test_message_key);
  return g_test_run ();
}
