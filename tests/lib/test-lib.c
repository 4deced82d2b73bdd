/* test-lib.c: libvmlease-1 without a bus: VMLEASE_ERROR against the
 * service's own error table (dbus/vml-error.c), D-Bus error names mapping
 * to the domain, the options' a{sv} and which Transfer step takes which
 * option, the enums' nicks as the D-Bus strings, a bus that cannot be
 * reached. */
#include <vmlease.h>

#include "vml-error.h"

/* Same codes, same names, same count as the service's table. */
static void
test_error_table_mirrors_the_service (void)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (VMLEASE_TYPE_ERROR);

  g_assert_cmpuint (klass->n_values, ==, VML_ERROR_N_ERRORS);
  for (guint i = 0; i < VML_ERROR_N_ERRORS; i++)
    {
      g_autofree char *expected = g_strconcat ("org.example.VMLease.Error.",
                                               vml_error_to_name (i), NULL);

      g_assert_cmpstr (vmlease_error_get_dbus_name (i), ==, expected);
      g_assert_cmpint (g_enum_get_value (klass, i)->value, ==, i);
    }
  g_assert_null (vmlease_error_get_dbus_name ((VmleaseError) VML_ERROR_N_ERRORS));
  g_assert_cmpint (VMLEASE_ERROR_BUSY, ==, VML_ERROR_BUSY);
  g_assert_cmpint (VMLEASE_ERROR_STORAGE_FAILURE, ==, VML_ERROR_STORAGE_FAILURE);
}

/* An error reply's name becomes the domain and code, and back. */
static void
test_dbus_names_map_to_the_domain (void)
{
  (void) VMLEASE_ERROR;
  for (guint i = 0; i < VML_ERROR_N_ERRORS; i++)
    {
      const char *name = vmlease_error_get_dbus_name (i);
      g_autoptr(GError) e = g_dbus_error_new_for_dbus_error (name, "why");
      g_autofree char *back = NULL;

      g_assert_error (e, VMLEASE_ERROR, (int) i);
      g_assert_true (g_dbus_error_strip_remote_error (e));
      g_assert_cmpstr (e->message, ==, "why");
      back = g_dbus_error_encode_gerror (e);
      g_assert_cmpstr (back, ==, name);
    }
  {
    g_autoptr(GError) other = g_dbus_error_new_for_dbus_error ("org.example.Other", "x");

    g_assert_false (other->domain == VMLEASE_ERROR);
  }
}

static void
assert_variant (GVariant *v, const char *text)
{
  g_autofree char *printed = g_variant_print (v, TRUE);

  g_assert_cmpstr (printed, ==, text);
}

static void
count_notify (guint *count)
{
  (*count)++;
}

static void
test_acquire_options (void)
{
  g_autoptr(VmleaseAcquireOptions) o = vmlease_acquire_options_new ();
  g_autoptr(GVariant) none = vmlease_acquire_options_to_variant (NULL);
  g_autoptr(GVariant) defaults = vmlease_acquire_options_to_variant (o);
  g_autoptr(GVariant) all = NULL;

  assert_variant (none, "@a{sv} {}");
  assert_variant (defaults, "@a{sv} {}");

  vmlease_acquire_options_set_pid (o, 4242);
  vmlease_acquire_options_set_fence (o, VMLEASE_FENCE_PAUSE);
  vmlease_acquire_options_set_mode (o, VMLEASE_MODE_SHARED);
  vmlease_acquire_options_set_wait (o, 30);
  vmlease_acquire_options_set_force (o, TRUE);
  vmlease_acquire_options_set_request (o, TRUE);
  vmlease_acquire_options_add_disk (o, "vol-1", VMLEASE_MODE_EXCLUSIVE);
  vmlease_acquire_options_add_disk (o, "vol-2", VMLEASE_MODE_SHARED);
  vmlease_acquire_options_add_disk (o, "vol-1", VMLEASE_MODE_SHARED);   /* last mode wins */
  all = vmlease_acquire_options_to_variant (o);
  assert_variant (all, "{'pid': <uint32 4242>, 'fence': <'pause'>, 'mode': <'shared'>, "
                       "'wait': <uint32 30>, 'force': <true>, 'request': <true>, "
                       "'disks': <[('vol-1', 'shared'), ('vol-2', 'shared')]>}");
  g_assert_cmpuint (vmlease_acquire_options_get_pid (o), ==, 4242);
  /* qmp: with a pause fence, the QEMU's QMP socket; sent as given */
  {
    g_autoptr(VmleaseAcquireOptions) q = vmlease_acquire_options_new ();
    g_autoptr(GVariant) v = NULL;

    vmlease_acquire_options_set_fence (q, VMLEASE_FENCE_PAUSE);
    vmlease_acquire_options_set_qmp (q, "/run/vm/qmp.sock");
    v = vmlease_acquire_options_to_variant (q);
    assert_variant (v, "{'fence': <'pause'>, 'qmp': <'/run/vm/qmp.sock'>}");
    g_assert_cmpstr (vmlease_acquire_options_get_qmp (q), ==, "/run/vm/qmp.sock");
    vmlease_acquire_options_set_qmp (q, NULL);
    g_assert_null (vmlease_acquire_options_get_qmp (q));
  }
  g_assert_cmpint (vmlease_acquire_options_get_fence (o), ==, VMLEASE_FENCE_PAUSE);

  /* properties, as bindings set them */
  {
    g_autoptr(VmleaseAcquireOptions) p = g_object_new (VMLEASE_TYPE_ACQUIRE_OPTIONS,
                                                       "pid", 7, "fence", VMLEASE_FENCE_KILL,
                                                       NULL);
    g_autoptr(GVariant) v = vmlease_acquire_options_to_variant (p);

    assert_variant (v, "{'pid': <uint32 7>, 'fence': <'kill'>}");
  }
  /* a change notifies once, through either way of setting; no change, never */
  {
    g_autoptr(VmleaseAcquireOptions) p = vmlease_acquire_options_new ();
    guint notified = 0;

    g_signal_connect_swapped (p, "notify::wait", G_CALLBACK (count_notify), &notified);
    g_object_set (p, "wait", 10, NULL);
    vmlease_acquire_options_set_wait (p, 20);
    vmlease_acquire_options_set_wait (p, 20);
    g_object_set (p, "wait", 20, NULL);
    g_assert_cmpuint (notified, ==, 2);
  }
}

typedef struct {
  VmleaseTransferStep step;
  const char *expected;         /* NULL: refused */
} StepCase;

static void
check_steps (VmleaseTransferOptions *o, const StepCase *cases, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) v = vmlease_transfer_options_to_variant (o, cases[i].step, &error);

      if (cases[i].expected == NULL)
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
          g_assert_null (v);
        }
      else
        {
          g_assert_no_error (error);
          assert_variant (v, cases[i].expected);
        }
    }
}

static void
test_transfer_options_per_step (void)
{
  g_autoptr(VmleaseTransferOptions) fence = vmlease_transfer_options_new ();
  g_autoptr(VmleaseTransferOptions) disks = vmlease_transfer_options_new ();
  g_autoptr(VmleaseTransferOptions) postcopy = vmlease_transfer_options_new ();
  g_autoptr(VmleaseTransferOptions) failure = vmlease_transfer_options_new ();
  g_autoptr(VmleaseTransferOptions) wait = vmlease_transfer_options_new ();
  g_autoptr(GError) error = NULL;

  vmlease_transfer_options_set_pid (fence, 99);
  vmlease_transfer_options_set_fence (fence, VMLEASE_FENCE_KILL);
  {
    const StepCase cases[] = {
      { VMLEASE_TRANSFER_STEP_BEGIN, NULL },
      { VMLEASE_TRANSFER_STEP_PREPARE, "{'pid': <uint32 99>, 'fence': <'kill'>}" },
      { VMLEASE_TRANSFER_STEP_PERFORM, NULL },
      { VMLEASE_TRANSFER_STEP_FINISH, "{'pid': <uint32 99>, 'fence': <'kill'>}" },
      { VMLEASE_TRANSFER_STEP_CONFIRM, NULL },
      { VMLEASE_TRANSFER_STEP_CANCEL, NULL },
    };
    check_steps (fence, cases, G_N_ELEMENTS (cases));
  }
  vmlease_transfer_options_add_disk (disks, "new-vol", VMLEASE_MODE_EXCLUSIVE);
  {
    const StepCase cases[] = {
      { VMLEASE_TRANSFER_STEP_PREPARE, "{'disks': <[('new-vol', 'exclusive')]>}" },
      { VMLEASE_TRANSFER_STEP_FINISH, NULL },
    };
    check_steps (disks, cases, G_N_ELEMENTS (cases));
  }
  vmlease_transfer_options_set_postcopy (postcopy, TRUE);
  {
    const StepCase cases[] = {
      { VMLEASE_TRANSFER_STEP_PERFORM, "{'postcopy': <true>}" },
      { VMLEASE_TRANSFER_STEP_CONFIRM, NULL },
    };
    check_steps (postcopy, cases, G_N_ELEMENTS (cases));
  }
  vmlease_transfer_options_set_failure (failure, TRUE);
  {
    const StepCase cases[] = {
      { VMLEASE_TRANSFER_STEP_FINISH, "{'success': <false>}" },
      { VMLEASE_TRANSFER_STEP_CONFIRM, "{'success': <false>}" },
      { VMLEASE_TRANSFER_STEP_PREPARE, NULL },
      { VMLEASE_TRANSFER_STEP_CANCEL, NULL },
    };
    check_steps (failure, cases, G_N_ELEMENTS (cases));
  }
  vmlease_transfer_options_set_wait (wait, 3600);
  {
    const StepCase cases[] = {
      { VMLEASE_TRANSFER_STEP_CONFIRM, "{'wait': <uint32 3600>}" },
      { VMLEASE_TRANSFER_STEP_CANCEL, "{'wait': <uint32 3600>}" },
      /* finish side by side with perform */
      { VMLEASE_TRANSFER_STEP_FINISH, "{'wait': <uint32 3600>}" },
      { VMLEASE_TRANSFER_STEP_BEGIN, NULL },
      { VMLEASE_TRANSFER_STEP_PERFORM, NULL },
    };
    check_steps (wait, cases, G_N_ELEMENTS (cases));
  }
  /* resume: prepare connects, finish resumes */
  {
    g_autoptr(VmleaseTransferOptions) resume = vmlease_transfer_options_new ();
    const StepCase cases[] = {
      { VMLEASE_TRANSFER_STEP_PREPARE, "{'resume': <true>}" },
      { VMLEASE_TRANSFER_STEP_FINISH, "{'resume': <true>}" },
      { VMLEASE_TRANSFER_STEP_PERFORM, NULL },
      { VMLEASE_TRANSFER_STEP_CONFIRM, NULL },
    };

    g_object_set (resume, "resume", TRUE, NULL);
    g_assert_true (vmlease_transfer_options_get_resume (resume));
    check_steps (resume, cases, G_N_ELEMENTS (cases));
  }
  /* qmp goes where pid and fence go; success said explicitly at finish and
   * confirm, and never together with failure */
  {
    g_autoptr(VmleaseTransferOptions) qmp = vmlease_transfer_options_new ();
    g_autoptr(VmleaseTransferOptions) success = vmlease_transfer_options_new ();
    const StepCase qmp_cases[] = {
      { VMLEASE_TRANSFER_STEP_PREPARE, "{'qmp': <'/run/vm/qmp.sock'>}" },
      { VMLEASE_TRANSFER_STEP_FINISH, "{'qmp': <'/run/vm/qmp.sock'>}" },
      { VMLEASE_TRANSFER_STEP_PERFORM, NULL },
      { VMLEASE_TRANSFER_STEP_CONFIRM, NULL },
    };
    const StepCase success_cases[] = {
      { VMLEASE_TRANSFER_STEP_FINISH, "{'success': <true>}" },
      { VMLEASE_TRANSFER_STEP_CONFIRM, "{'success': <true>}" },
      { VMLEASE_TRANSFER_STEP_PERFORM, NULL },
    };
    const StepCase both_cases[] = {
      { VMLEASE_TRANSFER_STEP_CONFIRM, NULL },
    };

    vmlease_transfer_options_set_qmp (qmp, "/run/vm/qmp.sock");
    check_steps (qmp, qmp_cases, G_N_ELEMENTS (qmp_cases));
    vmlease_transfer_options_set_success (success, TRUE);
    g_assert_true (vmlease_transfer_options_get_success (success));
    check_steps (success, success_cases, G_N_ELEMENTS (success_cases));
    vmlease_transfer_options_set_failure (success, TRUE);
    check_steps (success, both_cases, G_N_ELEMENTS (both_cases));
  }
  /* no options: every step; no step: refused */
  {
    const StepCase cases[] = {
      { VMLEASE_TRANSFER_STEP_BEGIN, "@a{sv} {}" },
      { VMLEASE_TRANSFER_STEP_CANCEL, "@a{sv} {}" },
    };
    check_steps (NULL, cases, G_N_ELEMENTS (cases));
  }
  g_assert_null (vmlease_transfer_options_to_variant (NULL, VMLEASE_TRANSFER_STEP_NONE, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
assert_nicks (GType type, const char * const *nicks)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (type);

  g_assert_cmpuint (klass->n_values, ==, g_strv_length ((char **) nicks));
  for (guint i = 0; nicks[i] != NULL; i++)
    g_assert_cmpstr (g_enum_get_value (klass, i)->value_nick, ==, nicks[i]);
}

/* The nicks are what the service sends and takes (docs/api.md). */
static void
test_enum_nicks_are_the_dbus_strings (void)
{
  const char * const lost[] = { "unknown", "lockspace-failed", "revoked", "sanlock-gone",
                                "holder-exited", "lockspace-removed", NULL };
  const char * const steps[] = { "none", "begin", "prepare", "perform", "finish", "confirm",
                                 "cancel", NULL };
  const char * const fence[] = { "default", "none", "kill", "pause", NULL };
  const char * const mode[] = { "exclusive", "shared", NULL };

  assert_nicks (VMLEASE_TYPE_LOST_REASON, lost);
  assert_nicks (VMLEASE_TYPE_TRANSFER_STEP, steps);
  assert_nicks (VMLEASE_TYPE_FENCE, fence);
  assert_nicks (VMLEASE_TYPE_MODE, mode);
}

/* A bus that cannot be reached is a plain GIO error from the constructor,
 * never a VMLEASE_ERROR (those come only from vmleased). */
static void
test_client_unreachable_bus (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VmleaseClient) c = vmlease_client_new_for_address_sync ("unix:path=/nonexistent/vmlease-test",
                                                                     NULL, &error);

  g_assert_null (c);
  g_assert_nonnull (error);
  g_assert_false (error->domain == VMLEASE_ERROR);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lib/error/table-mirrors-the-service", test_error_table_mirrors_the_service);
  g_test_add_func ("/lib/error/dbus-names-map-to-the-domain", test_dbus_names_map_to_the_domain);
  g_test_add_func ("/lib/options/acquire", test_acquire_options);
  g_test_add_func ("/lib/options/transfer-per-step", test_transfer_options_per_step);
  g_test_add_func ("/lib/enums/nicks-are-the-dbus-strings", test_enum_nicks_are_the_dbus_strings);
  g_test_add_func ("/lib/client/unreachable-bus", test_client_unreachable_bus);
  return g_test_run ();
}
