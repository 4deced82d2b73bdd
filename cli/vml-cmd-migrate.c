/* vml-cmd-migrate.c: "vmleasectl migrate --from ENV --to ENV UUID": every
 * Transfer step of a hand-off, driven on two hosts' buses from here, for
 * scripts, tests and the demo. A virt manager does the same around its own
 * migration phases (docs/api.md, "Transfer: the migration hand-off"); here
 * there is no guest, so the steps follow each other at once, or (with
 * --pipelined) perform and finish go out together, as a virt manager sends
 * them at the source's STOP (the whole order is in the help and
 * docs/e2e.md).
 *
 * On a failure before the point of no return both sides are cancelled
 * (destination first); after a pre-copy perform, a failed finish is
 * answered with finish(failure) and confirm(failure), which gives the lease
 * back to the source. The exit status is that of the failing step's error. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vml-cmd-migrate.h"

static void
side_clear (Side *side)
{
  g_clear_object (&side->lease);
  g_clear_pointer (&side->cli, vml_cli_free);
  g_clear_pointer (&side->label, g_free);
}

/* ---- where the hosts are --------------------------------------------------- */

/* DBUS_SYSTEM_BUS_ADDRESS (and VMLEASE_HOST_ID, for the label) from a
 * sandbox-style env file: "export NAME=VALUE" lines, VALUE as the shell
 * would read it. */
static gboolean
read_env_file (const char  *option,
               const char  *path,
               char       **address,
               char       **host_id,
               GError     **error)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &text, NULL, &local_error))
    return vml_cli_usage_error (error, "%s: %s", option, local_error->message);

  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      char *line = g_strstrip (*l);
      char *eq;
      g_autofree char *value = NULL;

      if (g_str_has_prefix (line, "export "))
        line = g_strchug (line + strlen ("export"));
      if (*line == '#' || (eq = strchr (line, '=')) == NULL)
        continue;
      *eq = '\0';
      value = g_shell_unquote (eq + 1, NULL);
      if (value == NULL)
        continue;
      if (g_str_equal (line, "DBUS_SYSTEM_BUS_ADDRESS"))
        {
          g_free (*address);
          *address = g_steal_pointer (&value);
        }
      else if (g_str_equal (line, "VMLEASE_HOST_ID"))
        {
          g_free (*host_id);
          *host_id = g_steal_pointer (&value);
        }
    }
  if (*address == NULL)
    return vml_cli_usage_error (error, "%s: %s sets no DBUS_SYSTEM_BUS_ADDRESS",
                                option, path);
  return TRUE;
}

/* @value: an env file, or a D-Bus address. */
static gboolean
side_init (Side        *side,
           const char  *role,
           const char  *option,
           const char  *value,
           GError     **error)
{
  g_autofree char *address = NULL;
  g_autofree char *host_id = NULL;

  side->role = role;
  if (value == NULL)
    return vml_cli_usage_error (error, "%s is required", option);
  if (g_file_test (value, G_FILE_TEST_EXISTS))
    {
      if (!read_env_file (option, value, &address, &host_id, error))
        return FALSE;
    }
  else if (g_dbus_is_address (value))
    address = g_strdup (value);
  else
    return vml_cli_usage_error (error, "%s %s: neither an env file (no such "
                                "file) nor a D-Bus address", option, value);

  side->label = host_id ? g_strdup_printf ("host %s", host_id) : g_strdup (address);
  side->cli = vml_cli_new ();
  side->cli->address = g_steal_pointer (&address);
  side->cli->command = g_strdup ("migrate");
  return TRUE;
}

/* --pipelined: how long finish, sent with perform, waits for the source
 * to let go (as libvmlease's switchover, unless its options say). */
#define PIPELINED_FINISH_WAIT_S 10

/* Before the point of no return: the destination gives up its shared hold
 * (if it took one), then the source takes the lease back exclusively. */
static void
cancel_both (Migration *m,
             gboolean   prepared)
{
  g_autoptr(GError) ignored_dst = NULL;
  g_autoptr(GError) ignored_src = NULL;
  g_autofree char *t_dst = NULL;
  g_autofree char *t_src = NULL;

  if (prepared)
    t_dst = run_step (m, &m->dst, VMLEASE_TRANSFER_STEP_CANCEL, "", NULL, STEP_RECOVERY,
                      &ignored_dst);
  t_src = run_step (m, &m->src, VMLEASE_TRANSFER_STEP_CANCEL, "", undo_options (m, FALSE),
                    STEP_RECOVERY, &ignored_src);
}

/* After a pre-copy perform: the destination gives up, the source takes the
 * lease back (confirm with failure). */
static void
fail_after_perform (Migration  *m,
                    const char *t3)
{
  g_autoptr(GError) ignored = NULL;
  g_autoptr(GError) ignored_confirm = NULL;
  g_autofree char *t4 = NULL;
  g_autofree char *done = NULL;

  t4 = run_step (m, &m->dst, VMLEASE_TRANSFER_STEP_FINISH, t3, failure_options (),
                 STEP_RECOVERY, &ignored);
  done = run_step (m, &m->src, VMLEASE_TRANSFER_STEP_CONFIRM, t4 ? t4 : "",
                   undo_options (m, TRUE), STEP_RECOVERY, &ignored_confirm);
}

static gboolean
simulated_failure (Migration  *m,
                   GError    **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
               "the migration failed at %s as asked (--fail-at %s); the hand-off "
               "was undone: see 'vmleasectl inquire %s' on the source",
               m->fail_at, m->fail_at, m->uuid);
  return FALSE;
}

static gboolean
fails_at (Migration  *m,
          const char *step)
{
  return m->fail_at != NULL && g_str_equal (m->fail_at, step);
}

/* The blackout: from perform's start to finish's answer, when a guest
 * would be paused on both hosts. */
static void
note_blackout (Migration *m,
               StepCall  *performing,
               StepCall  *finishing)
{
  m->blackout_ms = (double) (finishing->answered - performing->sent) / 1000.0;
}

/* A step after perform failed: pre-copy, the lease goes back to the
 * source; post-copy, there is no going back. */
static void
undo_after_perform (Migration  *m,
                    const char *t3)
{
  if (!m->postcopy)
    fail_after_perform (m, t3);
  else
    g_printerr ("vmleasectl: past the point of no return (post-copy): "
                "retry 'vmleasectl transfer finish' on %s\n", m->dst.label);
}

/* perform, then finish with its token once it answered. */
static gboolean
perform_then_finish (Migration  *m,
                     const char *t2,
                     char      **t3,
                     char      **t4,
                     GError    **error)
{
  g_autoptr(StepCall) performing = NULL, finishing = NULL;

  performing = step_send (m, &m->src, VMLEASE_TRANSFER_STEP_PERFORM, t2, perform_options (m), 0);
  *t3 = step_end (performing, error);
  if (*t3 == NULL)
    {
      /* Nothing changed on the source: still before the point of no return. */
      cancel_both (m, TRUE);
      return FALSE;
    }
  if (fails_at (m, "finish"))
    {
      fail_after_perform (m, *t3);
      return simulated_failure (m, error);
    }

  finishing = step_send (m, &m->dst, VMLEASE_TRANSFER_STEP_FINISH, *t3, NULL, 0);
  *t4 = step_end (finishing, error);
  note_blackout (m, performing, finishing);
  if (*t4 == NULL)
    {
      undo_after_perform (m, *t3);
      return FALSE;
    }
  return TRUE;
}

/* --pipelined: perform and finish sent at once, as a virt manager does at
 * the source's STOP; finish with prepare's token and a wait answers once
 * the source let go (docs/api.md). A finish that worked wins over a
 * perform whose answer was lost (the lease moved; confirm needs only
 * finish's token); when both failed, nothing moved. */
static gboolean
perform_and_finish (Migration  *m,
                    const char *t2,
                    char      **t3,
                    char      **t4,
                    GError    **error)
{
  g_autoptr(StepCall) performing = NULL, finishing = NULL;
  g_autoptr(GError) perform_error = NULL;
  VmleaseTransferOptions *finish_options = vmlease_transfer_options_new ();

  vmlease_transfer_options_set_wait (finish_options, PIPELINED_FINISH_WAIT_S);
  performing = step_send (m, &m->src, VMLEASE_TRANSFER_STEP_PERFORM, t2, perform_options (m), 0);
  finishing = step_send (m, &m->dst, VMLEASE_TRANSFER_STEP_FINISH, t2, finish_options, 0);
  *t3 = step_end (performing, &perform_error);
  *t4 = step_end (finishing, *t3 != NULL ? error : NULL);
  note_blackout (m, performing, finishing);
  if (*t4 != NULL)
    return TRUE;
  if (*t3 != NULL)
    {
      undo_after_perform (m, *t3);
      return FALSE;
    }
  cancel_both (m, TRUE);
  g_propagate_error (error, g_steal_pointer (&perform_error));
  return FALSE;
}

static gboolean
run_migration (Migration  *m,
               GError    **error)
{
  g_autofree char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL, *t5 = NULL;

  t1 = run_step (m, &m->src, VMLEASE_TRANSFER_STEP_BEGIN, "", NULL, 0, error);
  if (t1 == NULL)
    return FALSE;
  if (fails_at (m, "prepare"))
    {
      cancel_both (m, FALSE);
      return simulated_failure (m, error);
    }

  t2 = run_step (m, &m->dst, VMLEASE_TRANSFER_STEP_PREPARE, t1,
                 g_object_ref (m->prepare_options), 0, error);
  if (t2 == NULL)
    {
      cancel_both (m, FALSE);
      return FALSE;
    }
  if (fails_at (m, "perform"))
    {
      cancel_both (m, TRUE);
      return simulated_failure (m, error);
    }

  if (m->pipelined && !fails_at (m, "finish"))
    {
      if (!perform_and_finish (m, t2, &t3, &t4, error))
        return FALSE;
    }
  else if (!perform_then_finish (m, t2, &t3, &t4, error))
    return FALSE;

  /* Confirm succeeds after post-copy too (the source let go at perform;
   * confirm ends the hand-off): a Committed here is an error like any. */
  t5 = run_step (m, &m->src, VMLEASE_TRANSFER_STEP_CONFIRM, t4, NULL, 0, error);
  if (t5 == NULL)
    /* The lease is the destination's; only the source's record is left,
     * and finish's token, which nobody else has, is what ends it. */
    g_printerr ("vmleasectl: the lease moved (finish worked); end the hand-off on %s "
                "with: vmleasectl transfer confirm %s %s\n", m->src.label, m->uuid, t4);
  return t5 != NULL;
}

/* ---- output ---------------------------------------------------------------- */

static void
print_result (Migration    *m,
              const GError *error)
{
  double total = (double) (g_get_monotonic_time () - m->started) / 1000.0;

  if (m->cli->json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;

      json_builder_end_array (m->steps);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "uuid");
      json_builder_add_string_value (b, m->uuid);
      json_builder_set_member_name (b, "source");
      json_builder_add_string_value (b, m->src.label);
      json_builder_set_member_name (b, "destination");
      json_builder_add_string_value (b, m->dst.label);
      json_builder_set_member_name (b, "postcopy");
      json_builder_add_boolean_value (b, m->postcopy);
      json_builder_set_member_name (b, "pipelined");
      json_builder_add_boolean_value (b, m->pipelined);
      json_builder_set_member_name (b, "migrated");
      json_builder_add_boolean_value (b, error == NULL);
      json_builder_set_member_name (b, "steps");
      json_builder_add_value (b, json_builder_get_root (m->steps));
      json_builder_set_member_name (b, "blackout_ms");
      if (m->blackout_ms >= 0)
        json_builder_add_double_value (b, m->blackout_ms);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "total_ms");
      json_builder_add_double_value (b, total);
      if (error != NULL)
        {
          json_builder_set_member_name (b, "error");
          json_builder_add_string_value (b, error->message);
        }
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      vml_cli_print_json (root, TRUE);
      return;
    }
  if (error != NULL)
    return;
  g_print ("Migrated: %s holds the lease of %s. Blackout (perform start to finish "
           "return) %.3f ms, total %.3f ms.\n", m->dst.label, m->uuid,
           m->blackout_ms, total);
}

/* ---- the command --------------------------------------------------------------- */

static const char migrate_help[] =
  "Moves a VM's lease from the source host to the destination host with\n"
  "every Transfer step, driven from here on both hosts' buses: begin (on\n"
  "the source), prepare (destination), perform (source), finish\n"
  "(destination), confirm (source). Prints each step, on which host, and\n"
  "how long it took, then the blackout: from the start of perform to the\n"
  "return of finish, when a guest would be paused on both hosts.\n"
  "\n"
  "With a real VM, a virt manager calls the same steps around QEMU's\n"
  "migration, in this (pipelined) order: begin and prepare (the\n"
  "destination QEMU, started with -S, as --pid; a QEMU monitor of its own\n"
  "for vmleased as --qmp; --resume) before the destination's\n"
  "migrate-incoming; at the source's STOP event, while QEMU still sends its\n"
  "last pages, perform and, at the same time, finish with prepare's token,\n"
  "--wait and --resume: vmleased then sends the destination's cont itself\n"
  "the moment the source let go, and finish returns once the guest runs;\n"
  "confirm once the source reports the migration completed (docs/e2e.md,\n"
  "'vmleasectl transfer finish --help'). The lease then costs the guest's\n"
  "pause nothing as long as perform and finish take less than QEMU's own\n"
  "final transfer. This command has no guest: it runs the steps one after\n"
  "the other, or, with --pipelined, perform and finish at once, finish with\n"
  "prepare's token and a wait of 10 s (no --resume: there is no QEMU to\n"
  "start), which shows the overlap: the blackout is then about as long as\n"
  "the longer of the two, not their sum. If perform is refused there,\n"
  "finish gives up when its wait ends, and both sides are cancelled.\n"
  "--fail-at finish runs perform alone.\n"
  "\n"
  "--from and --to name the hosts by an env file that sets\n"
  "DBUS_SYSTEM_BUS_ADDRESS (as tools/vmlease-sandbox writes them: hostK.env;\n"
  "VMLEASE_HOST_ID, if set, names the host in the output), or by a D-Bus\n"
  "address. The global --address does not apply.\n"
  "\n"
  "If a step fails before the point of no return, both sides are cancelled\n"
  "(destination first) and the source holds the lease again; if finish\n"
  "fails after a pre-copy perform, the destination gives up and the source\n"
  "confirms the failure, taking the lease back; if only confirm fails, the\n"
  "lease has moved, and the 'vmleasectl transfer confirm' that ends the\n"
  "hand-off on the source, with finish's token, is printed. The exit\n"
  "status is that of the failing step. --fail-at STEP rehearses that:\n"
  "the migration is taken to fail just before STEP (prepare, perform or\n"
  "finish) and is undone; the exit status is then 1 if the undoing worked.\n"
  "\n"
  "Examples:\n"
  "  vmleasectl migrate --from /tmp/vml/host1.env --to /tmp/vml/host2.env \\\n"
  "      6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10\n"
  "  vmleasectl migrate --from host2.env --to host1.env \"$uuid\" --postcopy --json\n"
  "  vmleasectl migrate --from host1.env --to host2.env \"$uuid\" --pipelined\n"
  "  vmleasectl migrate --from host1.env --to host2.env \"$uuid\" --fail-at finish";

static const VmleaseError migrate_errors[] = {
  VMLEASE_ERROR_NOT_AUTHORIZED, VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND,
  VMLEASE_ERROR_BUSY, VMLEASE_ERROR_NOT_HELD, VMLEASE_ERROR_WRONG_STEP, VMLEASE_ERROR_COMMITTED,
  VMLEASE_ERROR_STALE_TOKEN, VMLEASE_ERROR_LOCKSPACE_NOT_JOINED, VMLEASE_ERROR_STORAGE_FAILURE,
  VML_CLI_ERRORS_END
};

static gboolean
check_fail_at (const char  *fail_at,
               gboolean     postcopy,
               GError     **error)
{
  if (fail_at == NULL)
    return TRUE;
  if (!g_str_equal (fail_at, "prepare") && !g_str_equal (fail_at, "perform") &&
      !g_str_equal (fail_at, "finish"))
    return vml_cli_usage_error (error, "--fail-at: '%s' is not prepare, perform or finish",
                                fail_at);
  if (postcopy && g_str_equal (fail_at, "finish"))
    return vml_cli_usage_error (error, "--fail-at finish with --postcopy: after a "
                                "post-copy perform there is no going back");
  return TRUE;
}

/* --from and --to: where @role (a sentence's start) is. */
#define HOST_ENTRY(name, arg, role)                                           \
  { name, 0, 0, G_OPTION_ARG_FILENAME, (arg),                                 \
    role " host: env file or D-Bus address (required)", "ENVFILE" }

static VmleaseTransferOptions *
prepare_options (const char  *pid_s,
                 const char  *fence_s,
                 const char  *qmp,
                 GError     **error)
{
  g_autoptr(VmleaseTransferOptions) options = vmlease_transfer_options_new ();
  VmleaseFence fence;
  guint pid;

  if (!vml_cli_fence_args (pid_s, fence_s, &pid, &fence, error))
    return NULL;
  vmlease_transfer_options_set_pid (options, pid);
  vmlease_transfer_options_set_fence (options, fence);
  vmlease_transfer_options_set_qmp (options, qmp);
  return g_steal_pointer (&options);
}

VML_CLI_HANDLER (vml_cmd_migrate)
{
  g_autofree char *from = NULL, *to = NULL, *fail_at = NULL;
  g_autofree char *pid = NULL, *fence = NULL, *qmp = NULL, *wait_s = NULL;
  gboolean postcopy = FALSE, pipelined = FALSE;
  const GOptionEntry entries[] = {
    HOST_ENTRY ("from", &from, "The source"),
    HOST_ENTRY ("to", &to, "The destination"),
    { "postcopy", 0, 0, G_OPTION_ARG_NONE, &postcopy,
      "Post-copy: perform is the point of no return", NULL },
    { "pipelined", 0, 0, G_OPTION_ARG_NONE, &pipelined,
      "Send perform and finish at once, as a virt manager does at the source's STOP",
      NULL },
    VML_CLI_FENCE_ENTRIES (&pid, &fence,
                           "The destination's VM process, fenced if the lease is lost there"),
    VML_CLI_QMP_ENTRY (&qmp),
    { "wait", 0, 0, G_OPTION_ARG_STRING, &wait_s,
      "When undoing, how long the source may wait for a dead destination (0)", "SECONDS" },
    { "fail-at", 0, 0, G_OPTION_ARG_STRING, &fail_at,
      "Rehearse a failure just before STEP: prepare, perform or finish", "STEP" },
    G_OPTION_ENTRY_NULL
  };
  const VmlCliSpec spec = {
    .entries = entries, .description = migrate_help, .errors = migrate_errors,
    .min_args = 1, .max_args = 1,
  };
  Migration m = { .cli = cli, .blackout_ms = -1 };
  g_autoptr(GError) local_error = NULL;
  guint64 wait = 0;
  gboolean ok;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error))
    return FALSE;
  if (!check_fail_at (fail_at, postcopy, error) ||
      (wait_s != NULL && !vml_cli_parse_uint ("--wait", wait_s, G_MAXUINT32, &wait, error)))
    return FALSE;
  m.prepare_options = prepare_options (pid, fence, qmp, error);
  if (m.prepare_options == NULL)
    return FALSE;
  m.uuid = argv[1];
  m.postcopy = postcopy;
  m.pipelined = pipelined;
  m.fail_at = fail_at;
  m.wait = (guint32) wait;

  ok = side_init (&m.src, "source", "--from", from, &local_error) &&
       side_init (&m.dst, "destination", "--to", to, &local_error);
  if (ok && g_str_equal (m.src.cli->address, m.dst.cli->address))
    ok = vml_cli_usage_error (&local_error, "--from and --to are the same host (%s)",
                              m.src.cli->address);
  /* Both leases found before any step: a wrong destination changes nothing. */
  if (ok && (m.src.lease = vml_cli_find_lease (m.src.cli, m.uuid, &local_error)) == NULL)
    {
      migrate_side_error (&m.src, &local_error, "finding the lease on the source");
      ok = FALSE;
    }
  if (ok && (m.dst.lease = vml_cli_find_lease (m.dst.cli, m.uuid, &local_error)) == NULL)
    {
      migrate_side_error (&m.dst, &local_error, "finding the lease on the destination");
      ok = FALSE;
    }

  if (ok)
    {
      m.steps = json_builder_new ();
      json_builder_begin_array (m.steps);
      if (!cli->json)
        g_print ("Migrating %s from %s to %s (%s%s):\n", m.uuid, m.src.label,
                 m.dst.label, postcopy ? "post-copy" : "pre-copy",
                 pipelined ? ", pipelined" : "");
      m.started = g_get_monotonic_time ();
      ok = run_migration (&m, &local_error);
      print_result (&m, local_error);
    }

  g_clear_object (&m.steps);
  g_clear_object (&m.prepare_options);
  side_clear (&m.src);
  side_clear (&m.dst);
  if (!ok)
    g_propagate_error (error, g_steal_pointer (&local_error));
  return ok;
}
