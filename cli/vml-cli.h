/* vml-cli.h: what every vmleasectl command shares: the command table's row
 * type, option parsing, vmleased through libvmlease-1 (its async calls
 * waited for with a progress spinner on a terminal), human and JSON output,
 * and the mapping of errors to exit codes.
 *
 * Nothing here talks to the bus before a command has parsed its options, so
 * every --help works without vmleased (or any bus) around. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include <vmlease.h>

G_BEGIN_DECLS

/* Exit codes; docs/vmleasectl.md "EXIT STATUS" and `vmleasectl --help` show
 * the same table (from vml-cli.c). Scripts depend on them: never renumber. */
typedef enum {
  VML_EXIT_OK                   = 0,
  VML_EXIT_FAILURE              = 1,
  VML_EXIT_USAGE                = 2,
  VML_EXIT_UNREACHABLE          = 3,
  VML_EXIT_NOT_AUTHORIZED       = 4,
  VML_EXIT_INVALID_ARGUMENT     = 5,
  VML_EXIT_NOT_FOUND            = 6,
  VML_EXIT_EXISTS               = 7,
  VML_EXIT_BUSY                 = 8,
  VML_EXIT_NOT_HELD             = 9,
  VML_EXIT_WRONG_STEP           = 10,
  VML_EXIT_COMMITTED            = 11,
  VML_EXIT_STALE_TOKEN          = 12,
  VML_EXIT_LOCKSPACE_NOT_JOINED = 13,
  VML_EXIT_STORAGE_FAILURE      = 14,
  VML_EXIT_TIMED_OUT            = 15,
  VML_EXIT_INTERRUPTED          = 130,
} VmlExit;

/* vmleased's bus name and its manager's object path. */
#define VML_CLI_BUS_NAME     "org.example.VMLease"
#define VML_CLI_MANAGER_PATH "/org/example/VMLease"
#define VML_CLI_LEASE_IFACE  "org.example.VMLease"

/* Ends a command's list of the VMLEASE_ERROR codes it may end with. */
#define VML_CLI_ERRORS_END ((VmleaseError) -1)

/* Errors raised by vmleasectl itself (not by vmleased). */
#define VML_CLI_ERROR (vml_cli_error_quark ())
typedef enum {
  VML_CLI_ERROR_USAGE,        /* bad command line                    → 2 */
  VML_CLI_ERROR_UNREACHABLE,  /* no bus, or vmleased not on it       → 3 */
  VML_CLI_ERROR_REPLY,        /* a reply not shaped like the contract → 1 */
  VML_CLI_ERROR_INTERRUPTED,  /* Ctrl-C while waiting for a reply    → 130 */
} VmlCliError;

/* How long vml_cli_wait_run() waits, in milliseconds: calls that touch
 * storage or may wait for a polkit agent get minutes; calls that wait by
 * design (AddLockspace, Acquire with "wait") get no limit. Reads of what
 * the library follows are not calls. */
#define VML_CLI_TIMEOUT_CHANGE (5 * 60 * 1000)
#define VML_CLI_TIMEOUT_LONG   G_MAXINT

typedef struct _VmlCli VmlCli;
typedef struct _VmlCliCommand VmlCliCommand;

typedef gboolean (*VmlCliHandler) (VmlCli               *cli,
                                   const VmlCliCommand  *cmd,
                                   int                   argc,
                                   char                **argv,
                                   GError              **error);

/* Declares or defines the handler @fn, a VmlCliHandler: every command has
 * these five parameters under these names. */
#define VML_CLI_HANDLER(fn) \
  gboolean fn (VmlCli *cli, const VmlCliCommand *cmd, int argc, char **argv, GError **error)

/* One row of a command table (vmleasectl.c, vml-cmd-lockspace.c). */
struct _VmlCliCommand {
  const char    *name;     /* "acquire" */
  VmlCliHandler  handler;
  const char    *summary;  /* one line, for the command list */
  const char    *usage;    /* positional arguments, e.g. "UUID" */
};

struct _VmlCli {
  gboolean               json;        /* --json, before or after the command */
  char                  *address;     /* --address, or NULL: the system bus */
  char                  *command;     /* "lockspace add", for help and hints */
  VmleaseClient         *client;      /* connected on first use */
};

/* How a command parses its own arguments. */
typedef struct {
  const GOptionEntry *entries;      /* NULL-terminated; may be NULL */
  const char         *description;  /* what it does, examples */
  const VmleaseError     *errors;       /* errors it may end with, ended by VML_CLI_ERRORS_END */
  guint               min_args;     /* positional arguments */
  guint               max_args;
  gboolean            silent;       /* prints nothing on success */
} VmlCliSpec;

GQuark    vml_cli_error_quark     (void);

VmlCli   *vml_cli_new             (void);
void      vml_cli_free            (VmlCli *cli);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmlCli, vml_cli_free)

/* Command tables. */
gboolean  vml_cli_dispatch        (VmlCli               *cli,
                                   const VmlCliCommand  *commands,
                                   gsize                 n_commands,
                                   int                   argc,
                                   char                **argv,
                                   GError              **error);
char     *vml_cli_commands_help   (const VmlCliCommand  *commands,
                                   gsize                 n_commands,
                                   const char           *prefix);
char     *vml_cli_exit_help       (const VmleaseError       *errors);
/* A group of commands ("lockspace", "transfer"): its --help lists
 * @commands (then @help_tail, if not NULL), and argv[1] picks one. */
gboolean  vml_cli_run_group (VmlCli *cli, const VmlCliCommand *cmd,
                             const VmlCliCommand *commands, gsize n_commands,
                             const char *help_tail, int argc, char **argv, GError **error);

/* Options and arguments. */
gboolean  vml_cli_parse           (VmlCli               *cli,
                                   const VmlCliCommand  *cmd,
                                   const VmlCliSpec     *spec,
                                   int                  *argc,
                                   char               ***argv,
                                   GError              **error);
gboolean  vml_cli_usage_error     (GError              **error,
                                   const char           *format,
                                   ...) G_GNUC_PRINTF (2, 3);
gboolean  vml_cli_parse_uint      (const char           *option,
                                   const char           *text,
                                   guint64               max,
                                   guint64              *out,
                                   GError              **error);
gboolean  vml_cli_parse_bytes     (const char           *option,
                                   const char           *text,
                                   guint64              *out,
                                   GError              **error);
/* The fence options of Acquire and Transfer's prepare, two GOptionEntry
 * rows: --pid PID (described by @pid_help) into
 * @pid_arg and --fence ACTION into @fence_arg (both char **). */
#define VML_CLI_FENCE_ENTRIES(pid_arg, fence_arg, pid_help)                 \
  { "pid", 0, 0, G_OPTION_ARG_STRING, (pid_arg), (pid_help), "PID" },      \
  { "fence", 0, 0, G_OPTION_ARG_STRING, (fence_arg),                       \
    "What to do to PID then: kill (default with --pid), pause or none", "ACTION" }

/* Disks on the command line: each word KEY[:shared]. A last ":shared" or
 * ":exclusive" is the mode (default exclusive), so a key that itself ends
 * in one of those is followed by its mode ("vol:shared:exclusive"). Nothing else about the
 * key is checked here: vmleased judges keys. */
#define VML_CLI_DISK_WORD "KEY[:shared]"
/* --pid and --fence (NULL: not given) as libvmlease-1 takes them: *pid_out
 * 0 and *fence_out VMLEASE_FENCE_DEFAULT when not given. */
gboolean  vml_cli_fence_args      (const char *pid, const char *fence, guint *pid_out,
                                   VmleaseFence *fence_out, GError **error);
/* Adds the disks of @words (NULL: none) to @options. */
gboolean  vml_cli_acquire_options_add_disks (VmleaseAcquireOptions *options,
                                             char *const *words, GError **error);
gboolean  vml_cli_transfer_options_add_disks (VmleaseTransferOptions *options,
                                              char *const *words, GError **error);
/* The --qmp SOCKET option into @qmp_arg (char **): acquire, transfer
 * prepare and finish, migrate. */
#define VML_CLI_QMP_ENTRY(qmp_arg)                                          \
  { "qmp", 0, 0, G_OPTION_ARG_FILENAME, (qmp_arg),                          \
    "With --fence pause: pause the guest with QMP 'stop' on this socket of PID's QEMU", \
    "SOCKET" }
/* Splits @word: *key (transfer full) and *mode, "exclusive" or "shared". */
void      vml_cli_disk_word_split (const char *word, char **key, const char **mode);
/* The word that vml_cli_disk_word_split() reads back as @key, @mode. */
char     *vml_cli_disk_word       (const char *key, const char *mode);
/* The --disk KEY[:shared] option (repeatable) into @words_arg (char ***). */
#define VML_CLI_DISK_ENTRY(words_arg, help) \
  { "disk", 0, 0, G_OPTION_ARG_STRING_ARRAY, (words_arg), (help), VML_CLI_DISK_WORD }

/* The bus, through libvmlease-1. The client (and its connection) belong to
 * @cli (transfer none): connected on first use, so that --help needs no
 * bus; vml_cli_find_lease() returns (transfer full) the lease of @uuid,
 * found with GetLease. */
VmleaseClient   *vml_cli_client      (VmlCli              *cli,
                                      GError             **error);
VmleaseLease    *vml_cli_find_lease  (VmlCli              *cli,
                                      const char          *uuid,
                                      GError             **error);
GDBusConnection *vml_cli_connection  (VmlCli              *cli,
                                      GError             **error);

/* Waiting for one of the library's async calls in a main loop, with a
 * spinner saying what it waits for (from @progress_format) on a terminal,
 * Ctrl-C ending the wait (exit 130) and @timeout_ms (VML_CLI_TIMEOUT_*)
 * ending it (exit 15):
 *
 *   g_autoptr(VmlCliWait) wait = vml_cli_wait_new (VML_CLI_TIMEOUT_CHANGE, "Releasing %s", uuid);
 *   vmlease_lease_release (lease, vml_cli_wait_cancellable (wait), vml_cli_wait_done, wait);
 *   ok = vml_cli_wait_end (wait, vmlease_lease_release_finish (lease, vml_cli_wait_run (wait),
 *                                                              error), error);
 *
 * vml_cli_wait_run() returns the call's result (transfer none) for its
 * _finish(); vml_cli_wait_end() turns the error of a wait ended by Ctrl-C
 * or the timeout into theirs, and returns @ok. */
typedef struct _VmlCliWait VmlCliWait;
VmlCliWait      *vml_cli_wait_new    (int                  timeout_ms,
                                      const char          *progress_format,
                                      ...) G_GNUC_PRINTF (2, 3);
GCancellable    *vml_cli_wait_cancellable (VmlCliWait     *wait);
void             vml_cli_wait_done   (GObject             *source,
                                      GAsyncResult        *result,
                                      gpointer             wait);
GAsyncResult    *vml_cli_wait_run    (VmlCliWait          *wait);
gboolean         vml_cli_wait_end    (VmlCliWait          *wait,
                                      gboolean             ok,
                                      GError             **error);
void             vml_cli_wait_free   (VmlCliWait          *wait);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmlCliWait, vml_cli_wait_free)

/* What vmleased exports, as the library follows it (read when the client
 * connects, so fresh for a command). An error (exit 3) if vmleased is not
 * on the bus, as a call would fail. */
gboolean         vml_cli_check_service (VmlCli            *cli,
                                        GError           **error);
/* (transfer full) a{sv}: the Manager's Version, Lockspaces and
 * LockspaceDetails. */
GVariant        *vml_cli_get_manager_props (VmlCli        *cli,
                                            GError       **error);
/* GPtrArray of GVariant (oa{sv}): the path and org.example.VMLease
 * properties of every lease the manager exports, sorted by path. */
GPtrArray       *vml_cli_get_leases  (VmlCli              *cli,
                                      GError             **error);
/* What a spinner adds for a call that waits up to @wait seconds (" (waiting
 * up to N s)"), or "" for one that does not wait. */
char            *vml_cli_progress_wait (guint64            wait);
char            *vml_cli_bus_name_for_humans (VmlCli      *cli);

/* Output. */
void      vml_cli_print_json      (JsonNode             *node,
                                   gboolean              pretty);
/* Prints {"@key": @value} (pretty), taking @value. */
void      vml_cli_print_json_member (const char *key, JsonNode *value);
/* Prints an object of string members: @first_key, its value, then more
 * key/value pairs, ended by NULL. */
void      vml_cli_print_json_strings (gboolean pretty, const char *first_key,
                                      ...) G_GNUC_NULL_TERMINATED;
/* Adds "@key": @value to the object being built, unless @value is NULL. */
void      vml_cli_json_add_string (JsonBuilder *builder, const char *key,
                                   const char *value);
char     *vml_cli_snake_case      (const char           *camel);
void      vml_cli_json_add_props  (JsonBuilder          *builder,
                                   GVariant             *props);
GVariant *vml_cli_snake_props     (GVariant             *props);
char     *vml_cli_format_value    (GVariant             *value);
char     *vml_cli_format_details  (GVariant             *asv);
char     *vml_cli_uuid_from_path  (const char           *object_path);

typedef struct _VmlCliTable VmlCliTable;
VmlCliTable *vml_cli_table_new    (const char *first_header,
                                   ...) G_GNUC_NULL_TERMINATED;
void      vml_cli_table_add       (VmlCliTable *table,
                                   const char  *first_cell,
                                   ...);
void      vml_cli_table_print     (VmlCliTable *table);
void      vml_cli_table_free      (VmlCliTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmlCliTable, vml_cli_table_free)

/* Errors: print "vmleasectl: <message>" (plus a hint) and say the exit code. */
int       vml_cli_report_error    (VmlCli               *cli,
                                   GError               *error);
int       vml_cli_exit_code       (const GError         *error);
/* (nullable) The D-Bus error name @error stands for: a VMLEASE_ERROR's
 * (libvmlease-1 strips it from the message), or a remote error's. */
char     *vml_cli_error_dbus_name (const GError         *error);

G_END_DECLS
