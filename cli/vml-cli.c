/* vml-cli.c: command tables, option parsing, and errors → exit codes. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vml-cli.h"

G_DEFINE_QUARK (vml-cli-error-quark, vml_cli_error)

/* The exit code table: the single source for vml_cli_exit_code(), every
 * --help and (by hand, checked by the cli-help test) docs/vmleasectl.md. */
typedef struct {
  VmlExit     code;
  int         error;    /* the VmleaseError it stands for, or -1 */
  const char *meaning;
} VmlCliExitInfo;

static const VmlCliExitInfo exit_infos[] = {
  { VML_EXIT_OK,                   -1, "success" },
  { VML_EXIT_FAILURE,              VMLEASE_ERROR_FAILED,
    "failure not listed below (also a local error or an unexpected reply)" },
  { VML_EXIT_USAGE,                -1,
    "bad command line: unknown command or option, missing argument, not a number" },
  { VML_EXIT_UNREACHABLE,          -1,
    "the bus cannot be reached, or vmleased is not running on it" },
  { VML_EXIT_NOT_AUTHORIZED,       VMLEASE_ERROR_NOT_AUTHORIZED,
    "polkit or the bus policy refused the call" },
  { VML_EXIT_INVALID_ARGUMENT,     VMLEASE_ERROR_INVALID_ARGUMENT,
    "vmleased rejected an argument (UUID, name, range, option)" },
  { VML_EXIT_NOT_FOUND,            VMLEASE_ERROR_NOT_FOUND,
    "no such lease, lockspace or storage path" },
  { VML_EXIT_EXISTS,               VMLEASE_ERROR_EXISTS,
    "already exists, joined or held here" },
  { VML_EXIT_BUSY,                 VMLEASE_ERROR_BUSY,
    "held by another host (a disk: by another VM), or leases in it still held" },
  { VML_EXIT_NOT_HELD,             VMLEASE_ERROR_NOT_HELD,
    "the lease is not held on this host" },
  { VML_EXIT_WRONG_STEP,           VMLEASE_ERROR_WRONG_STEP,
    "a migration step out of order" },
  { VML_EXIT_COMMITTED,            VMLEASE_ERROR_COMMITTED,
    "the migration is past its point of no return" },
  { VML_EXIT_STALE_TOKEN,          VMLEASE_ERROR_STALE_TOKEN,
    "a migration token for another or an older transfer" },
  { VML_EXIT_LOCKSPACE_NOT_JOINED, VMLEASE_ERROR_LOCKSPACE_NOT_JOINED,
    "the lockspace is not joined on this host" },
  { VML_EXIT_STORAGE_FAILURE,      VMLEASE_ERROR_STORAGE_FAILURE,
    "shared storage could not be read or written" },
  { VML_EXIT_TIMED_OUT,            -1,
    "no reply from vmleased in time" },
  { VML_EXIT_INTERRUPTED,          -1,
    "interrupted (Ctrl-C) while waiting; vmleased may still finish the request" },
};

/* One row per VmleaseError, plus the five codes that stand for no D-Bus error. */
G_STATIC_ASSERT (G_N_ELEMENTS (exit_infos) == VMLEASE_ERROR_STORAGE_FAILURE + 1 + 5);

VmlCli *
vml_cli_new (void)
{
  /* Registers org.example.VMLease.Error.* so replies arrive as VMLEASE_ERROR. */
  (void) VMLEASE_ERROR;
  return g_new0 (VmlCli, 1);
}

void
vml_cli_free (VmlCli *cli)
{
  g_clear_object (&cli->client);
  g_free (cli->address);
  g_free (cli->command);
  g_free (cli);
}

/* ---- command tables ---------------------------------------------------- */

static const VmlCliCommand *
find_command (const VmlCliCommand *commands,
              gsize                n_commands,
              const char          *name)
{
  for (gsize i = 0; i < n_commands; i++)
    if (g_str_equal (commands[i].name, name))
      return &commands[i];
  return NULL;
}

static void
enter_command (VmlCli     *cli,
               const char *name)
{
  char *full = cli->command ? g_strdup_printf ("%s %s", cli->command, name)
                            : g_strdup (name);

  g_free (cli->command);
  cli->command = full;
}

/* argv[0] is the program or the group ("lockspace"); argv[1] the command. */
gboolean
vml_cli_dispatch (VmlCli               *cli,
                  const VmlCliCommand  *commands,
                  gsize                 n_commands,
                  int                   argc,
                  char                **argv,
                  GError              **error)
{
  const VmlCliCommand *cmd;

  if (argc < 2)
    return vml_cli_usage_error (error, "no command given");

  cmd = find_command (commands, n_commands, argv[1]);
  if (cmd == NULL)
    return vml_cli_usage_error (error, "unknown command '%s'", argv[1]);

  enter_command (cli, cmd->name);
  return cmd->handler (cli, cmd, argc - 1, argv + 1, error);
}

char *
vml_cli_commands_help (const VmlCliCommand *commands,
                       gsize                n_commands,
                       const char          *prefix)
{
  GString *text = g_string_new ("Commands:\n");

  for (gsize i = 0; i < n_commands; i++)
    g_string_append_printf (text, "  %-12s %s\n",
                            commands[i].name, commands[i].summary);
  g_string_append_printf (text,
                          "\nRun 'vmleasectl %sCOMMAND --help' for a command's "
                          "options and examples.",
                          prefix);
  return g_string_free (text, FALSE);
}

gboolean
vml_cli_run_group (VmlCli               *cli,
                   const VmlCliCommand  *cmd,
                   const VmlCliCommand  *commands,
                   gsize                 n_commands,
                   const char           *help_tail,
                   int                   argc,
                   char                **argv,
                   GError              **error)
{
  g_autofree char *prefix = g_strconcat (cmd->name, " ", NULL);
  g_autofree char *list = vml_cli_commands_help (commands, n_commands, prefix);
  g_autofree char *help = help_tail ? g_strdup_printf ("%s\n\n%s", list, help_tail)
                                    : g_strdup (list);
  const VmlCliSpec spec = { NULL, help, NULL, 0, G_MAXUINT };

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error))
    return FALSE;
  return vml_cli_dispatch (cli, commands, n_commands, argc, argv, error);
}

/* ---- exit codes -------------------------------------------------------- */

static gboolean
error_listed (const VmleaseError *errors,
              int             error)
{
  for (gsize i = 0; errors[i] != VML_CLI_ERRORS_END; i++)
    if ((int) errors[i] == error)
      return TRUE;
  return FALSE;
}

/* "Busy" for org.example.VMLease.Error.Busy. */
static const char *
error_short_name (VmleaseError code)
{
  const char *name = vmlease_error_get_dbus_name (code);

  return strrchr (name, '.') + 1;
}

/* errors NULL: the whole table; else the generic codes plus these errors. */
char *
vml_cli_exit_help (const VmleaseError *errors)
{
  GString *text = g_string_new ("Exit status:\n");

  for (gsize i = 0; i < G_N_ELEMENTS (exit_infos); i++)
    {
      const VmlCliExitInfo *info = &exit_infos[i];
      const char *name = info->error >= 0 ? error_short_name (info->error) : "";

      if (errors != NULL && info->error > 0 && !error_listed (errors, info->error))
        continue;
      if (errors != NULL && info->code > VML_EXIT_UNREACHABLE && info->error < 0)
        continue;
      g_string_append_printf (text, "  %3d  %-19s %s\n",
                              info->code, name, info->meaning);
    }
  g_string_truncate (text, text->len - 1);
  return g_string_free (text, FALSE);
}

static int
exit_for_vmlease_error (int code)
{
  for (gsize i = 0; i < G_N_ELEMENTS (exit_infos); i++)
    if (exit_infos[i].error == code)
      return exit_infos[i].code;
  return VML_EXIT_FAILURE;
}

static int
exit_for_dbus_error (int code)
{
  switch (code)
    {
    case G_DBUS_ERROR_SERVICE_UNKNOWN:
    case G_DBUS_ERROR_NAME_HAS_NO_OWNER:
    case G_DBUS_ERROR_SPAWN_EXEC_FAILED:
    case G_DBUS_ERROR_SPAWN_FORK_FAILED:
    case G_DBUS_ERROR_SPAWN_CHILD_EXITED:
    case G_DBUS_ERROR_SPAWN_CHILD_SIGNALED:
    case G_DBUS_ERROR_SPAWN_FAILED:
    case G_DBUS_ERROR_SPAWN_SETUP_FAILED:
    case G_DBUS_ERROR_SPAWN_CONFIG_INVALID:
    case G_DBUS_ERROR_SPAWN_SERVICE_INVALID:
    case G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND:
    case G_DBUS_ERROR_SPAWN_PERMISSIONS_INVALID:
    case G_DBUS_ERROR_SPAWN_FILE_INVALID:
    case G_DBUS_ERROR_SPAWN_NO_MEMORY:
      return VML_EXIT_UNREACHABLE;
    case G_DBUS_ERROR_ACCESS_DENIED:
    case G_DBUS_ERROR_AUTH_FAILED:
      return VML_EXIT_NOT_AUTHORIZED;
    case G_DBUS_ERROR_TIMEOUT:
    case G_DBUS_ERROR_TIMED_OUT:
      return VML_EXIT_TIMED_OUT;
    default:
      return VML_EXIT_FAILURE;
    }
}

static int
exit_for_cli_error (int code)
{
  switch ((VmlCliError) code)
    {
    case VML_CLI_ERROR_USAGE:       return VML_EXIT_USAGE;
    case VML_CLI_ERROR_UNREACHABLE: return VML_EXIT_UNREACHABLE;
    case VML_CLI_ERROR_INTERRUPTED: return VML_EXIT_INTERRUPTED;
    case VML_CLI_ERROR_REPLY:
    default:                        return VML_EXIT_FAILURE;
    }
}

/* D-Bus error names GLib has no GError code for. */
static gboolean
is_remote_error (const GError *error,
                 const char   *name)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);

  return g_strcmp0 (remote, name) == 0;
}

int
vml_cli_exit_code (const GError *error)
{
  if (error->domain == VML_CLI_ERROR)
    return exit_for_cli_error (error->code);
  if (error->domain == G_OPTION_ERROR)
    return VML_EXIT_USAGE;
  if (error->domain == VMLEASE_ERROR)
    return exit_for_vmlease_error (error->code);
  if (error->domain == G_DBUS_ERROR)
    return exit_for_dbus_error (error->code);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return VML_EXIT_TIMED_OUT;
  /* libvmlease-1 checks a UUID before it calls vmleased, which would have
   * refused it with InvalidArgument. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
    return VML_EXIT_INVALID_ARGUMENT;
  if (is_remote_error (error, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"))
    return VML_EXIT_NOT_AUTHORIZED;
  return VML_EXIT_FAILURE;
}

int
vml_cli_report_error (VmlCli *cli,
                      GError *error)
{
  int code = vml_cli_exit_code (error);

  g_dbus_error_strip_remote_error (error);

  if (code == VML_EXIT_UNREACHABLE && error->domain == G_DBUS_ERROR)
    {
      g_autofree char *bus = vml_cli_bus_name_for_humans (cli);
      g_printerr ("vmleasectl: vmleased is not running on %s (%s)\n",
                  bus, error->message);
    }
  else
    g_printerr ("vmleasectl: %s\n", error->message);

  if (code == VML_EXIT_USAGE)
    g_printerr ("Try 'vmleasectl %s%s--help' for more information.\n",
                cli->command ? cli->command : "", cli->command ? " " : "");
  return code;
}

/* ---- options and arguments --------------------------------------------- */

gboolean
vml_cli_usage_error (GError    **error,
                     const char *format,
                     ...)
{
  va_list args;

  va_start (args, format);
  g_propagate_error (error, g_error_new_valist (VML_CLI_ERROR,
                                                VML_CLI_ERROR_USAGE,
                                                format, args));
  va_end (args);
  return FALSE;
}

static char *
build_description (const VmlCliSpec *spec)
{
  g_autofree char *exits = NULL;

  if (spec->errors == NULL)
    return g_strdup (spec->description);
  exits = vml_cli_exit_help (spec->errors);
  return g_strdup_printf ("%s\n\n%s\n\nSee 'vmleasectl --help' for every exit code.",
                          spec->description, exits);
}

static gboolean
check_positional (const VmlCliCommand *cmd,
                  const VmlCliSpec    *spec,
                  int                  argc,
                  char               **argv,
                  GError             **error)
{
  guint n_args = argc > 0 ? (guint) argc - 1 : 0;

  if (n_args < spec->min_args)
    return vml_cli_usage_error (error, "missing argument: %s %s",
                                cmd->name, cmd->usage);
  if (n_args > spec->max_args)
    return vml_cli_usage_error (error, "unexpected argument '%s'",
                                argv[spec->max_args + 1]);
  return TRUE;
}

/* Parses a command's options. A group ("lockspace") passes max_args
 * G_MAXUINT: its parser stops at the subcommand and leaves the rest. */
gboolean
vml_cli_parse (VmlCli               *cli,
               const VmlCliCommand  *cmd,
               const VmlCliSpec     *spec,
               int                  *argc,
               char               ***argv,
               GError              **error)
{
  gboolean group = spec->max_args == G_MAXUINT;
  g_autoptr(GOptionContext) context = g_option_context_new (cmd->usage);
  g_autofree char *prgname = cli->command ? g_strdup_printf ("vmleasectl %s", cli->command)
                                          : g_strdup ("vmleasectl");
  g_autofree char *description = build_description (spec);
  const GOptionEntry common[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &cli->json,
      spec->silent ? "Accepted for symmetry: prints nothing on success"
                   : "Print JSON, a stable format for scripts", NULL },
    G_OPTION_ENTRY_NULL
  };

  g_option_context_set_summary (context, cmd->summary);
  g_option_context_set_description (context, description);
  g_option_context_set_strict_posix (context, group);
  if (spec->entries != NULL)
    g_option_context_add_main_entries (context, spec->entries, NULL);
  if (!group)
    g_option_context_add_main_entries (context, common, NULL);

  /* GOption prints "Usage: <prgname> [OPTION…] <usage>". */
  g_set_prgname (prgname);
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  return group || check_positional (cmd, spec, *argc, *argv, error);
}

gboolean
vml_cli_parse_uint (const char *option,
                    const char *text,
                    guint64     max,
                    guint64    *out,
                    GError    **error)
{
  if (!g_ascii_string_to_unsigned (text, 10, 0, max, out, NULL))
    return vml_cli_usage_error (error,
                                "%s: '%s' is not a whole number from 0 to %" G_GUINT64_FORMAT,
                                option, text, max);
  return TRUE;
}

static const struct {
  const char *suffix;
  guint       shift;
} byte_suffixes[] = {
  { "",  0 },
  { "K", 10 }, { "KiB", 10 },
  { "M", 20 }, { "MiB", 20 },
  { "G", 30 }, { "GiB", 30 },
  { "T", 40 }, { "TiB", 40 },
};

/* BYTES: a whole number, optionally followed by K, M, G or T (powers of
 * 1024; KiB, MiB, GiB, TiB are the same). */
gboolean
vml_cli_parse_bytes (const char *option,
                     const char *text,
                     guint64    *out,
                     GError    **error)
{
  gsize n_digits = strspn (text, "0123456789");
  g_autofree char *digits = g_strndup (text, n_digits);
  guint64 value;

  if (n_digits == 0 || !g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT64, &value, NULL))
    goto bad;

  for (gsize i = 0; i < G_N_ELEMENTS (byte_suffixes); i++)
    {
      guint shift = byte_suffixes[i].shift;

      if (g_ascii_strcasecmp (text + n_digits, byte_suffixes[i].suffix) != 0)
        continue;
      if (shift > 0 && value > (G_MAXUINT64 >> shift))
        goto bad;
      *out = value << shift;
      return TRUE;
    }

bad:
  return vml_cli_usage_error (error,
                              "%s: '%s' is not a byte count (a whole number, "
                              "optionally with K, M, G or T)",
                              option, text);
}

/* ---- disks ------------------------------------------------------------- */

static const char *const disk_modes[] = { "shared", "exclusive" };

void
vml_cli_disk_word_split (const char  *word,
                         char       **key,
                         const char **mode)
{
  const char *colon = strrchr (word, ':');

  *mode = "exclusive";
  for (gsize i = 0; colon != NULL && i < G_N_ELEMENTS (disk_modes); i++)
    if (g_str_equal (colon + 1, disk_modes[i]))
      {
        *mode = disk_modes[i];
        *key = g_strndup (word, colon - word);
        return;
      }
  *key = g_strdup (word);
}

char *
vml_cli_disk_word (const char *key,
                   const char *mode)
{
  const char *colon = strrchr (key, ':');
  gboolean ambiguous = FALSE;

  for (gsize i = 0; colon != NULL && i < G_N_ELEMENTS (disk_modes); i++)
    ambiguous |= g_str_equal (colon + 1, disk_modes[i]);
  if (g_str_equal (mode, "shared") || ambiguous)
    return g_strdup_printf ("%s:%s", key, g_str_equal (mode, "shared") ? "shared" : "exclusive");
  return g_strdup (key);
}

/* ---- typed options for libvmlease-1 ------------------------------------ */

gboolean
vml_cli_fence_args (const char    *pid,
                    const char    *fence,
                    guint         *pid_out,
                    VmleaseFence  *fence_out,
                    GError       **error)
{
  g_autoptr(GEnumClass) fences = g_type_class_ref (VMLEASE_TYPE_FENCE);
  const GEnumValue *value = NULL;
  guint64 number = 0;

  *pid_out = 0;
  *fence_out = VMLEASE_FENCE_DEFAULT;
  if (pid != NULL && !vml_cli_parse_uint ("--pid", pid, G_MAXUINT32, &number, error))
    return FALSE;
  /* The library reads 0 as "no pid"; vmleased refused it as a pid. */
  if (pid != NULL && number == 0)
    {
      g_set_error (error, VMLEASE_ERROR, VMLEASE_ERROR_INVALID_ARGUMENT,
                   "--pid 0 is not a process");
      return FALSE;
    }
  *pid_out = (guint) number;
  if (fence == NULL)
    return TRUE;
  value = g_enum_get_value_by_nick (fences, fence);
  if (value == NULL || value->value == VMLEASE_FENCE_DEFAULT)
    {
      g_set_error (error, VMLEASE_ERROR, VMLEASE_ERROR_INVALID_ARGUMENT,
                   "unknown fence action '%s' (one of: kill, pause, none)", fence);
      return FALSE;
    }
  *fence_out = value->value;
  return TRUE;
}

/* A key twice is refused here, as vmleased refuses it: the library would
 * keep the last mode given. */
static gboolean
disk_words_check (char *const  *words,
                  GError      **error)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (gsize i = 0; words != NULL && words[i] != NULL; i++)
    {
      char *key;
      const char *mode;

      vml_cli_disk_word_split (words[i], &key, &mode);
      if (!g_hash_table_add (seen, key))
        {
          g_set_error (error, VMLEASE_ERROR, VMLEASE_ERROR_INVALID_ARGUMENT,
                       "disk key '%s' given twice", key);
          return FALSE;
        }
    }
  return TRUE;
}

static VmleaseMode
disk_mode (const char *mode)
{
  return g_str_equal (mode, "shared") ? VMLEASE_MODE_SHARED : VMLEASE_MODE_EXCLUSIVE;
}

typedef void (*AddDisk) (gpointer options, const char *key, VmleaseMode mode);

static gboolean
add_disk_words (gpointer      options,
                AddDisk       add,
                char *const  *words,
                GError      **error)
{
  if (!disk_words_check (words, error))
    return FALSE;
  for (gsize i = 0; words != NULL && words[i] != NULL; i++)
    {
      g_autofree char *key = NULL;
      const char *mode;

      vml_cli_disk_word_split (words[i], &key, &mode);
      add (options, key, disk_mode (mode));
    }
  return TRUE;
}

static void
add_acquire_disk (gpointer options, const char *key, VmleaseMode mode)
{
  vmlease_acquire_options_add_disk (options, key, mode);
}

static void
add_transfer_disk (gpointer options, const char *key, VmleaseMode mode)
{
  vmlease_transfer_options_add_disk (options, key, mode);
}

gboolean
vml_cli_acquire_options_add_disks (VmleaseAcquireOptions  *options,
                                   char *const            *words,
                                   GError                **error)
{
  return add_disk_words (options, add_acquire_disk, words, error);
}

gboolean
vml_cli_transfer_options_add_disks (VmleaseTransferOptions  *options,
                                    char *const             *words,
                                    GError                 **error)
{
  return add_disk_words (options, add_transfer_disk, words, error);
}

char *
vml_cli_error_dbus_name (const GError *error)
{
  if (error->domain == VMLEASE_ERROR)
    return g_strdup (vmlease_error_get_dbus_name (error->code));
  return g_dbus_error_get_remote_error (error);
}
