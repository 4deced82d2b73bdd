/* vml-cmd-transfer.c: "vmleasectl transfer begin|prepare|perform|finish|
 * confirm|cancel", one Transfer step of a migration hand-off each.
 *
 * Every step but begin takes the token the other host's previous step
 * printed: as an argument, or on standard input ('-', or no argument when
 * standard input is not a terminal), so that steps can be piped between
 * hosts:
 *
 *   vmleasectl transfer begin U | ssh dst vmleasectl transfer prepare U | ...
 *
 * Each step prints the token for the other host's next step, one line (none
 * after confirm and cancel). Which options a step takes is the contract's
 * (dbus/org.example.VMLease.xml, Transfer); anything else is a usage error. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "vml-cmd.h"

/* A token is a few hundred bytes; anything much longer is not one. */
#define TOKEN_INPUT_MAX (64 * 1024)

/* The options a step takes. */
typedef enum {
  STEP_OPT_PID      = 1 << 0,   /* --pid, --fence */
  STEP_OPT_POSTCOPY = 1 << 1,   /* --postcopy */
  STEP_OPT_SUCCESS  = 1 << 2,   /* --success, --failure */
  STEP_OPT_WAIT     = 1 << 3,   /* --wait */
  STEP_OPT_DISKS    = 1 << 4,   /* --disk */
  STEP_OPT_QMP      = 1 << 5,   /* --qmp */
  STEP_OPT_RESUME   = 1 << 6,   /* --resume */
} StepOpts;

/* One step: its row in the group's command list, and its options. */
typedef struct {
  const char *name;
  VmleaseTransferStep step;
  const char *summary;     /* for the group's list of steps */
  StepOpts    opts;
  gboolean    takes_token;
  const char *help;
} StepInfo;

static const StepInfo steps[] = {
  { "begin", VMLEASE_TRANSFER_STEP_BEGIN,
    "Source: start a hand-off (exclusive to shared); prints T1",
    0, FALSE,
    "On the source host, when a migration starts: the lease, held here\n"
    "exclusively, is converted to shared, so that the destination can take\n"
    "it shared too. The lease is then in state migrating-out. Prints the\n"
    "token T1 for the destination's 'prepare'.\n"
    "\n"
    "Examples:\n"
    "  vmleasectl transfer begin 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 > t1\n"
    "  vmleasectl transfer begin \"$uuid\" | ssh dst vmleasectl transfer prepare \"$uuid\"" },
  { "prepare", VMLEASE_TRANSFER_STEP_PREPARE,
    "Destination: check T1, take the lease shared; prints T2",
    STEP_OPT_PID | STEP_OPT_QMP | STEP_OPT_DISKS | STEP_OPT_RESUME, TRUE,
    "On the destination host, before the incoming VM touches its disks:\n"
    "checks the source's token T1 against storage (the source still holds\n"
    "the lease shared) and takes the lease shared here (state migrating-in).\n"
    "--pid names the destination's VM process, to be fenced if the lease is\n"
    "lost, as with 'acquire' (--fence pause --qmp SOCKET: pause its guest\n"
    "with QMP 'stop'). Prints the token T2 for the source's 'perform' (and\n"
    "for this host's 'finish', when it runs side by side with perform).\n"
    "--resume (with --pid and --qmp: a QEMU monitor of its own for vmleased)\n"
    "connects to that monitor now, while QEMU only waits, for 'finish\n"
    "--resume'; it fails, with nothing taken, if the monitor cannot be\n"
    "reached.\n"
    "--disk (repeatable) gives the destination's own disk set, when the\n"
    "migration copies the disks to new volumes: disks only it names are taken\n"
    "here now, disks only the source held are released at its confirm, disks\n"
    "both name move with the lease. Without --disk, the source's disks move.\n"
    "\n"
    "Examples:\n"
    "  vmleasectl transfer prepare 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 \"$t1\" --pid 4242\n"
    "  ssh src vmleasectl transfer begin \"$uuid\" | vmleasectl transfer prepare \"$uuid\" > t2\n"
    "  vmleasectl transfer prepare \"$uuid\" - < t1 --disk vol-new-1 --disk vol-shared:shared\n"
    "  vmleasectl transfer prepare \"$uuid\" \"$t1\" --pid 4242 --qmp /run/vm/lease.qmp --resume" },
  { "perform", VMLEASE_TRANSFER_STEP_PERFORM,
    "Source, at switchover: give the shared hold up; prints T3",
    STEP_OPT_POSTCOPY, TRUE,
    "On the source host at switchover, the guest paused here: gives up this\n"
    "host's shared hold, so the destination can take the lease exclusively.\n"
    "With --postcopy this is the point of no return: the source can never\n"
    "take the lease back through this transfer (cancel, and confirm of a\n"
    "failure, then end with Committed). Prints the token T3 for the\n"
    "destination's 'finish'.\n"
    "\n"
    "Examples:\n"
    "  vmleasectl transfer perform 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 - < t2\n"
    "  vmleasectl transfer perform \"$uuid\" \"$t2\" --postcopy" },
  { "finish", VMLEASE_TRANSFER_STEP_FINISH,
    "Destination: shared to exclusive (or give up); prints T4",
    STEP_OPT_SUCCESS | STEP_OPT_PID | STEP_OPT_QMP | STEP_OPT_WAIT | STEP_OPT_RESUME, TRUE,
    "On the destination host: with success (the default), returns once the\n"
    "source's share is gone and this host holds the lease alone; the guest\n"
    "may resume here then. The lease becomes exclusive in the background\n"
    "(state converting, then held). With --failure, gives the shared hold up\n"
    "instead. --pid, --fence and --qmp name this host's VM process and its\n"
    "fence as at prepare, replacing prepare's (for a VM process that exists\n"
    "only now). Prints the token T4 for the source's 'confirm'.\n"
    "\n"
    "The token is the source's T3, or this host's own T2: then finish can be\n"
    "started together with the source's 'perform', at the guest's stop, and\n"
    "--wait SECONDS lets it wait that long for perform to let go (without\n"
    "it: Busy until perform ran). --resume: once the guest may run, vmleased\n"
    "sends QMP 'cont' to the destination's QEMU itself (through prepare's\n"
    "--qmp, connected by 'prepare --resume'), and finish returns once the\n"
    "guest runs. Both take the virt manager's round trips out of the\n"
    "guest's pause.\n"
    "\n"
    "Examples:\n"
    "  vmleasectl transfer finish 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 \"$t3\"\n"
    "  vmleasectl transfer finish \"$uuid\" \"$t3\" --failure\n"
    "  vmleasectl transfer finish \"$uuid\" \"$t2\" --wait 10 --resume" },
  { "confirm", VMLEASE_TRANSFER_STEP_CONFIRM,
    "Source: end the hand-off (or take the lease back)",
    STEP_OPT_SUCCESS | STEP_OPT_WAIT, TRUE,
    "On the source host, last: with success, once the destination holds the\n"
    "lease exclusively (it waits for that), the hand-off is done and this\n"
    "host forgets it. With --failure (pre-copy only), takes the lease back\n"
    "exclusively, refused if any other host took it meanwhile. Without\n"
    "either, what the token T4 says. If the destination host died after\n"
    "'prepare', give an empty token ('') with --failure and --wait: sanlock\n"
    "must first see that host dead (about 8 x io_timeout + 60 s). If\n"
    "finish never answered (the destination's vmleased died after recording\n"
    "it) and the lease is held there now, confirm with perform's token T3\n"
    "instead: storage must show the destination holding it exclusively.\n"
    "Prints nothing.\n"
    "\n"
    "Examples:\n"
    "  vmleasectl transfer confirm 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 \"$t4\"\n"
    "  vmleasectl transfer confirm \"$uuid\" '' --failure --wait 120\n"
    "  vmleasectl transfer confirm \"$uuid\" \"$t3\"   # finish's answer was lost" },
  { "cancel", VMLEASE_TRANSFER_STEP_CANCEL,
    "Either side: undo this side before the point of no return",
    STEP_OPT_WAIT, TRUE,
    "On either host, before the point of no return: undoes this host's part\n"
    "of the hand-off (the source takes the lease back exclusively, the\n"
    "destination gives its shared hold up). Cancel the destination first.\n"
    "The token may be empty (''). --wait: how long the source may wait for\n"
    "a dead destination to be seen dead by sanlock. Prints nothing.\n"
    "\n"
    "Examples:\n"
    "  vmleasectl transfer cancel 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 ''\n"
    "  ssh dst vmleasectl transfer cancel \"$uuid\" '' && vmleasectl transfer cancel \"$uuid\" ''" },
};

static const VmleaseError transfer_errors[] = {
  VMLEASE_ERROR_NOT_AUTHORIZED, VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND,
  VMLEASE_ERROR_BUSY, VMLEASE_ERROR_NOT_HELD, VMLEASE_ERROR_WRONG_STEP, VMLEASE_ERROR_COMMITTED,
  VMLEASE_ERROR_STALE_TOKEN, VMLEASE_ERROR_LOCKSPACE_NOT_JOINED, VMLEASE_ERROR_STORAGE_FAILURE,
  VML_CLI_ERRORS_END
};

static const StepInfo *
find_step (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (steps); i++)
    if (g_str_equal (steps[i].name, name))
      return &steps[i];
  g_assert_not_reached ();
}

/* ---- the token ----------------------------------------------------------- */

/* A token as a previous step printed it: the line, or --json's object. */
static char *
token_from_text (const char *text,
                 GError    **error)
{
  g_autofree char *stripped = g_strstrip (g_strdup (text));
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *object;
  JsonNode *member;

  if (stripped[0] != '{')
    {
      if (strpbrk (stripped, " \t\r\n") != NULL)
        {
          vml_cli_usage_error (error, "standard input holds more than one "
                               "line or word; expected one token");
          return NULL;
        }
      return g_steal_pointer (&stripped);
    }

  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, stripped, -1, &local_error))
    {
      vml_cli_usage_error (error, "standard input is not a token, nor JSON "
                           "with one: %s", local_error->message);
      return NULL;
    }
  object = JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))
    ? json_node_get_object (json_parser_get_root (parser)) : NULL;
  member = object ? json_object_get_member (object, "token") : NULL;
  if (member == NULL || !JSON_NODE_HOLDS_VALUE (member) ||
      json_node_get_value_type (member) != G_TYPE_STRING)
    {
      vml_cli_usage_error (error, "the JSON on standard input has no \"token\" string");
      return NULL;
    }
  return g_strdup (json_node_get_string (member));
}

static char *
read_token_stdin (GError **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  char buf[4096];

  for (;;)
    {
      ssize_t n = read (STDIN_FILENO, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       "cannot read the token from standard input: %s",
                       g_strerror (saved));
          return NULL;
        }
      if (n == 0)
        break;
      g_string_append_len (text, buf, n);
      if (text->len > TOKEN_INPUT_MAX)
        {
          vml_cli_usage_error (error, "standard input holds more than %d KiB: "
                               "that is not a token", TOKEN_INPUT_MAX / 1024);
          return NULL;
        }
    }
  if (memchr (text->str, '\0', text->len) != NULL)
    {
      vml_cli_usage_error (error, "standard input holds a NUL byte: that is not a token");
      return NULL;
    }
  return token_from_text (text->str, error);
}

/* The token argument: TOKEN, or '-' / none for standard input. */
static char *
get_token (const StepInfo *info,
           int             argc,
           char          **argv,
           GError        **error)
{
  const char *arg = argc > 2 ? argv[2] : NULL;

  if (!info->takes_token)
    return g_strdup ("");
  if (arg != NULL && !g_str_equal (arg, "-"))
    {
      if (strpbrk (arg, " \t\r\n") != NULL)
        {
          vml_cli_usage_error (error, "TOKEN has blanks in it: quote one token, "
                               "or give '-' to read it from standard input");
          return NULL;
        }
      return g_strdup (arg);
    }
  if (arg == NULL && isatty (STDIN_FILENO))
    {
      vml_cli_usage_error (error, "no token: give TOKEN (the other host's "
                           "previous step printed it), '' for none, or '-' "
                           "to read it from standard input");
      return NULL;
    }
  return read_token_stdin (error);
}

/* ---- one step -------------------------------------------------------------- */

typedef struct {
  char     *pid;
  char     *fence;
  char     *qmp;
  gboolean  postcopy;
  gboolean  success;
  gboolean  failure;
  char     *wait;
  char    **disks;
  gboolean  resume;
} StepArgs;

static void
step_args_clear (StepArgs *args)
{
  g_free (args->pid);
  g_free (args->fence);
  g_free (args->qmp);
  g_free (args->wait);
  g_strfreev (args->disks);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (StepArgs, step_args_clear)

static VmleaseTransferOptions *
step_options (const StepArgs  *args,
              guint64         *wait,
              GError         **error)
{
  g_autoptr(VmleaseTransferOptions) options = vmlease_transfer_options_new ();
  VmleaseFence fence;
  guint pid;

  *wait = 0;
  if (args->success && args->failure)
    {
      vml_cli_usage_error (error, "--success and --failure exclude each other");
      return NULL;
    }
  if (!vml_cli_fence_args (args->pid, args->fence, &pid, &fence, error) ||
      (args->wait != NULL && !vml_cli_parse_uint ("--wait", args->wait, G_MAXUINT32, wait, error)) ||
      !vml_cli_transfer_options_add_disks (options, args->disks, error))
    return NULL;
  vmlease_transfer_options_set_pid (options, pid);
  vmlease_transfer_options_set_fence (options, fence);
  vmlease_transfer_options_set_qmp (options, args->qmp);
  vmlease_transfer_options_set_postcopy (options, args->postcopy);
  vmlease_transfer_options_set_success (options, args->success);
  vmlease_transfer_options_set_failure (options, args->failure);
  vmlease_transfer_options_set_wait (options, (guint) *wait);
  vmlease_transfer_options_set_resume (options, args->resume);
  return g_steal_pointer (&options);
}

static void
print_token (VmlCli     *cli,
             const char *token)
{
  /* JSON on one line, like the plain token, so it pipes the same way. */
  if (cli->json)
    vml_cli_print_json_strings (FALSE, "token", token, NULL);
  else if (*token != '\0')
    g_print ("%s\n", token);
}

static VML_CLI_HANDLER (transfer_step)
{
  const StepInfo *info = find_step (cmd->name);
  g_auto(StepArgs) args = { NULL, NULL, NULL, FALSE, FALSE, FALSE, NULL, NULL, FALSE };
  GOptionEntry entries[10];
  guint n = 0;
  g_autoptr(VmleaseLease) lease = NULL;
  g_autoptr(VmleaseTransferOptions) options = NULL;
  g_autoptr(VmlCliWait) wait = NULL;
  g_autofree char *token = NULL;
  g_autofree char *next = NULL;
  g_autofree char *waiting = NULL;
  guint64 seconds = 0;

  memset (entries, 0, sizeof entries);
  if (info->opts & STEP_OPT_PID)
    {
      const GOptionEntry fence_entries[] = {
        VML_CLI_FENCE_ENTRIES (&args.pid, &args.fence,
                               "The destination's VM process, fenced if the lease is lost"),
      };

      entries[n++] = fence_entries[0];
      entries[n++] = fence_entries[1];
    }
  if (info->opts & STEP_OPT_QMP)
    entries[n++] = (GOptionEntry) { "qmp", 0, 0, G_OPTION_ARG_FILENAME, &args.qmp,
      "A QMP socket of PID's QEMU: --fence pause pauses the guest through it, --resume "
      "resumes it", "SOCKET" };
  if (info->opts & STEP_OPT_DISKS)
    entries[n++] = (GOptionEntry) VML_CLI_DISK_ENTRY (&args.disks,
      "The destination's own disk set: one disk each (repeat; :shared for a shared disk)");
  if (info->opts & STEP_OPT_POSTCOPY)
    entries[n++] = (GOptionEntry) { "postcopy", 0, 0, G_OPTION_ARG_NONE, &args.postcopy,
      "Post-copy switchover: the point of no return for the source", NULL };
  if (info->opts & STEP_OPT_SUCCESS)
    {
      entries[n++] = (GOptionEntry) { "success", 0, 0, G_OPTION_ARG_NONE, &args.success,
        "The migration succeeded", NULL };
      entries[n++] = (GOptionEntry) { "failure", 0, 0, G_OPTION_ARG_NONE, &args.failure,
        "The migration failed", NULL };
    }
  if (info->opts & STEP_OPT_WAIT)
    entries[n++] = (GOptionEntry) { "wait", 0, 0, G_OPTION_ARG_STRING, &args.wait,
      info->step == VMLEASE_TRANSFER_STEP_FINISH
        ? "With this host's T2: wait this long for the source's perform (default 0)"
        : "Wait this long for a dead destination to be seen dead (default 0)", "SECONDS" };
  if (info->opts & STEP_OPT_RESUME)
    entries[n++] = (GOptionEntry) { "resume", 0, 0, G_OPTION_ARG_NONE, &args.resume,
      "vmleased resumes the guest through --qmp (QMP cont) once it may run", NULL };

  {
    const VmlCliSpec spec = { entries, info->help, transfer_errors, 1,
                              info->takes_token ? 2 : 1 };

    if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error))
      return FALSE;
  }
  options = step_options (&args, &seconds, error);
  if (options == NULL)
    return FALSE;
  /* Before the bus: a usage error must not leave a step half done. */
  token = get_token (info, argc, argv, error);
  if (token == NULL)
    return FALSE;

  lease = vml_cli_find_lease (cli, argv[1], error);
  if (lease == NULL)
    return FALSE;
  waiting = vml_cli_progress_wait (seconds);
  wait = vml_cli_wait_new (seconds > 0 ? VML_CLI_TIMEOUT_LONG : VML_CLI_TIMEOUT_CHANGE,
                           "Transfer %s of %s%s", info->name, argv[1], waiting);
  vmlease_lease_transfer (lease, info->step, token, options, vml_cli_wait_cancellable (wait),
                          vml_cli_wait_done, wait);
  next = vmlease_lease_transfer_finish (lease, vml_cli_wait_run (wait), error);
  if (!vml_cli_wait_end (wait, next != NULL, error))
    return FALSE;
  print_token (cli, next);
  return TRUE;
}

/* ---- the group --------------------------------------------------------------- */


static const char transfer_help_tail[] =
  "A hand-off moves a VM's lease from the source host to the destination\n"
  "during a live migration, with no moment when no host holds it:\n"
  "\n"
  "  source$      vmleasectl transfer begin   UUID        > t1\n"
  "  destination$ vmleasectl transfer prepare UUID - < t1 > t2\n"
  "  source$      vmleasectl transfer perform UUID - < t2 > t3\n"
  "  destination$ vmleasectl transfer finish  UUID - < t3 > t4\n"
  "  source$      vmleasectl transfer confirm UUID - < t4\n"
  "\n"
  "Each step prints the token for the other host's next step (one line; with\n"
  "--json, {\"token\": ...}) and reads the previous one from its argument or\n"
  "from standard input. 'vmleasectl migrate' runs all steps on two hosts.";

VML_CLI_HANDLER (vml_cmd_transfer)
{
  VmlCliCommand commands[G_N_ELEMENTS (steps)];

  for (gsize i = 0; i < G_N_ELEMENTS (steps); i++)
    commands[i] = (VmlCliCommand) {
      steps[i].name, transfer_step, steps[i].summary,
      steps[i].takes_token ? "UUID [TOKEN|-]" : "UUID",
    };
  return vml_cli_run_group (cli, cmd, commands, G_N_ELEMENTS (commands), transfer_help_tail,
                            argc, argv, error);
}
