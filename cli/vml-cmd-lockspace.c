/* vml-cmd-lockspace.c: "vmleasectl lockspace add|remove|list". */
#include "config.h"

#include "vml-cmd.h"

/* ---- the Lockspaces property ------------------------------------------- */

gboolean
vml_cmd_check_lockspaces (GVariant  *lockspaces,
                          GError   **error)
{
  if (g_variant_is_of_type (lockspaces, VML_CMD_LOCKSPACES_TYPE))
    return TRUE;

  g_set_error (error, VML_CLI_ERROR, VML_CLI_ERROR_REPLY,
               "vmleased describes lockspaces as %s, not %s: "
               "is vmleasectl older than vmleased?",
               g_variant_get_type_string (lockspaces),
               (const char *) VML_CMD_LOCKSPACES_TYPE);
  return FALSE;
}

GVariant *
vml_cmd_lockspace_details (GVariant *manager_props)
{
  return g_variant_lookup_value (manager_props, "LockspaceDetails",
                                 VML_CMD_LOCKSPACE_DETAILS_TYPE);
}

/* The sector size LockspaceDetails gives for @name; 0 if not known. */
static guint32
sector_size_of (GVariant   *details,
                const char *name)
{
  g_autoptr(GVariant) entry = NULL;
  guint32 sector_size = 0;

  if (details == NULL)
    return 0;
  entry = g_variant_lookup_value (details, name, G_VARIANT_TYPE_VARDICT);
  if (entry != NULL)
    g_variant_lookup (entry, "sector_size", "u", &sector_size);
  return sector_size;
}

void
vml_cmd_print_lockspaces (GVariant *lockspaces,
                          GVariant *details)
{
  g_autoptr(VmlCliTable) table = NULL;
  GVariantIter iter;
  const char *name, *path, *state;
  guint64 host_id, offset;
  guint32 io_timeout;

  if (g_variant_n_children (lockspaces) == 0)
    {
      g_print ("No lockspaces.\n");
      return;
    }

  table = vml_cli_table_new ("NAME", "HOST-ID", "STATE", "IO-TIMEOUT",
                             "SECTOR", "PATH", "OFFSET", NULL);
  g_variant_iter_init (&iter, lockspaces);
  while (g_variant_iter_next (&iter, "(&st&st&su)", &name, &host_id, &path,
                              &offset, &state, &io_timeout))
    {
      guint32 sector_size = sector_size_of (details, name);
      g_autofree char *host_s = g_strdup_printf ("%" G_GUINT64_FORMAT, host_id);
      g_autofree char *io_s = g_strdup_printf ("%u s", io_timeout);
      g_autofree char *sector_s = sector_size ? g_strdup_printf ("%u", sector_size)
                                              : g_strdup ("-");
      g_autofree char *offset_s = g_strdup_printf ("%" G_GUINT64_FORMAT, offset);

      vml_cli_table_add (table, name, host_s, state, io_s, sector_s, path, offset_s);
    }
  vml_cli_table_print (table);
}

/* [{"name", "host_id", "path", "offset", "state", "io_timeout",
 *   "sector_size" (0: not known)}, ...] */
JsonNode *
vml_cmd_lockspaces_json (GVariant *lockspaces,
                         GVariant *details)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  GVariantIter iter;
  const char *name, *path, *state;
  guint64 host_id, offset;
  guint32 io_timeout;

  json_builder_begin_array (builder);
  g_variant_iter_init (&iter, lockspaces);
  while (g_variant_iter_next (&iter, "(&st&st&su)", &name, &host_id, &path,
                              &offset, &state, &io_timeout))
    {
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, name);
      json_builder_set_member_name (builder, "host_id");
      json_builder_add_int_value (builder, (gint64) host_id);
      json_builder_set_member_name (builder, "path");
      json_builder_add_string_value (builder, path);
      json_builder_set_member_name (builder, "offset");
      json_builder_add_int_value (builder, (gint64) offset);
      json_builder_set_member_name (builder, "state");
      json_builder_add_string_value (builder, state);
      json_builder_set_member_name (builder, "io_timeout");
      json_builder_add_int_value (builder, io_timeout);
      json_builder_set_member_name (builder, "sector_size");
      json_builder_add_int_value (builder, sector_size_of (details, name));
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  return json_builder_get_root (builder);
}

/* ---- lockspace add ----------------------------------------------------- */

/* --io-timeout: libvmlease-1 reads 0 as "the default", vmleased refused it. */
static gboolean
parse_io_timeout (const char  *io_timeout_s,
                  guint       *io_timeout,
                  GError     **error)
{
  guint64 value = 0;

  *io_timeout = 0;
  if (io_timeout_s == NULL)
    return TRUE;
  if (!vml_cli_parse_uint ("--io-timeout", io_timeout_s, G_MAXUINT32, &value, error))
    return FALSE;
  if (value == 0)
    {
      g_set_error (error, VMLEASE_ERROR, VMLEASE_ERROR_INVALID_ARGUMENT,
                   "--io-timeout 0: the I/O timeout is 1..60 seconds");
      return FALSE;
    }
  *io_timeout = (guint) value;
  return TRUE;
}

static const char add_help[] =
  "Joins this host to the lockspace NAME on shared storage, and returns once\n"
  "the host lease is held: about twice the I/O timeout (3 s with\n"
  "--io-timeout 1, 21 s with the default 10). On a terminal, a spinner shows\n"
  "the time spent. vmleased remembers the lockspace and joins it again\n"
  "whenever it starts.\n"
  "\n"
  "Storage layout from OFFSET: the lockspace (1 MiB), the resource index\n"
  "(2 MiB), then 1 MiB per VM lease. --init formats the lockspace and an\n"
  "empty index first, destroying whatever is there: do it once, from one host.\n"
  "It uses the storage's sector size: 4096 bytes on a block device whose\n"
  "logical sectors are larger than 512 (host ids 1..250 then), else 512.\n"
  "BYTES is a whole number, optionally with K, M, G or T (powers of 1024).\n"
  "\n"
  "Examples:\n"
  "  # The first host formats new storage and joins:\n"
  "  vmleasectl lockspace add ls1 --host-id 1 --path /dev/mapper/vmleases --init\n"
  "  # Every other host only joins, with its own host id:\n"
  "  vmleasectl lockspace add ls1 --host-id 2 --path /dev/mapper/vmleases\n"
  "  vmleasectl lockspace add ls2 --host-id 7 --path /srv/leases.img --offset 64M --io-timeout 5";

static const VmleaseError add_errors[] = {
  VMLEASE_ERROR_NOT_AUTHORIZED, VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND,
  VMLEASE_ERROR_EXISTS, VMLEASE_ERROR_STORAGE_FAILURE, VML_CLI_ERRORS_END
};

static VML_CLI_HANDLER (lockspace_add)
{
  g_autofree char *host_id_s = NULL, *path = NULL, *offset_s = NULL, *io_timeout_s = NULL;
  gboolean init = FALSE;
  const GOptionEntry entries[] = {
    { "host-id", 0, 0, G_OPTION_ARG_STRING, &host_id_s,
      "This host's id in the lockspace, 1..2000 (1..250 with 4096-byte sectors), "
      "unique among its hosts (required)", "N" },
    { "path", 0, 0, G_OPTION_ARG_FILENAME, &path,
      "Shared storage holding the lockspace: block device or file (required)", "PATH" },
    { "offset", 0, 0, G_OPTION_ARG_STRING, &offset_s,
      "Where the lockspace starts in PATH, a multiple of 1 MiB (default 0)", "BYTES" },
    { "io-timeout", 0, 0, G_OPTION_ARG_STRING, &io_timeout_s,
      "Storage I/O timeout in seconds, 1..60 (default 10)", "S" },
    { "init", 0, 0, G_OPTION_ARG_NONE, &init,
      "Format the lockspace and an empty resource index first", NULL },
    G_OPTION_ENTRY_NULL
  };
  const VmlCliSpec spec = { entries, add_help, add_errors, 1, 1, TRUE };
  guint64 host_id, offset = 0;
  guint io_timeout;
  VmleaseClient *client;
  g_autoptr(VmlCliWait) wait = NULL;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error))
    return FALSE;
  if (host_id_s == NULL || path == NULL)
    return vml_cli_usage_error (error, "--host-id and --path are required");
  if (!vml_cli_parse_uint ("--host-id", host_id_s, G_MAXUINT64, &host_id, error) ||
      (offset_s != NULL && !vml_cli_parse_bytes ("--offset", offset_s, &offset, error)) ||
      !parse_io_timeout (io_timeout_s, &io_timeout, error) ||
      (client = vml_cli_client (cli, error)) == NULL)
    return FALSE;

  wait = vml_cli_wait_new (VML_CLI_TIMEOUT_LONG, "Joining lockspace %s as host %" G_GUINT64_FORMAT,
                           argv[1], host_id);
  vmlease_client_add_lockspace (client, argv[1], host_id, path, offset, io_timeout, init,
                                vml_cli_wait_cancellable (wait), vml_cli_wait_done, wait);
  return vml_cli_wait_end (wait, vmlease_client_add_lockspace_finish (client,
                                                                      vml_cli_wait_run (wait),
                                                                      error), error);
}

/* ---- lockspace remove -------------------------------------------------- */

static const char remove_help[] =
  "Leaves the lockspace NAME and forgets it, so vmleased does not join it\n"
  "again at its next start. Refused (Busy) while a lease in it is held on\n"
  "this host, unless --force: then those leases are lost, their VMs fenced.\n"
  "\n"
  "Examples:\n"
  "  vmleasectl lockspace remove ls1\n"
  "  vmleasectl lockspace remove ls1 --force";

static const VmleaseError remove_errors[] = {
  VMLEASE_ERROR_NOT_AUTHORIZED, VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND,
  VMLEASE_ERROR_BUSY, VMLEASE_ERROR_STORAGE_FAILURE, VML_CLI_ERRORS_END
};

static VML_CLI_HANDLER (lockspace_remove)
{
  gboolean force = FALSE;
  const GOptionEntry entries[] = {
    { "force", 0, 0, G_OPTION_ARG_NONE, &force,
      "Leave even while leases in it are held here (they are lost)", NULL },
    G_OPTION_ENTRY_NULL
  };
  const VmlCliSpec spec = { entries, remove_help, remove_errors, 1, 1, TRUE };
  VmleaseClient *client;
  g_autoptr(VmlCliWait) wait = NULL;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error) ||
      (client = vml_cli_client (cli, error)) == NULL)
    return FALSE;
  wait = vml_cli_wait_new (VML_CLI_TIMEOUT_CHANGE, "Leaving lockspace %s", argv[1]);
  vmlease_client_remove_lockspace (client, argv[1], force, vml_cli_wait_cancellable (wait),
                                   vml_cli_wait_done, wait);
  return vml_cli_wait_end (wait, vmlease_client_remove_lockspace_finish (client,
                                                                         vml_cli_wait_run (wait),
                                                                         error), error);
}

/* ---- lockspace list ---------------------------------------------------- */

/* (transfer full): the Lockspaces property, read fresh, and (*details,
 * transfer full, NULL from a vmleased without it) LockspaceDetails. */
static GVariant *
get_lockspaces (VmlCli    *cli,
                GVariant **details,
                GError   **error)
{
  g_autoptr(GVariant) props = vml_cli_get_manager_props (cli, error);
  g_autoptr(GVariant) lockspaces = NULL;

  if (props == NULL)
    return NULL;
  lockspaces = g_variant_lookup_value (props, "Lockspaces", NULL);
  if (lockspaces == NULL)
    {
      g_set_error (error, VML_CLI_ERROR, VML_CLI_ERROR_REPLY,
                   "vmleased has no Lockspaces property: is vmleasectl newer than vmleased?");
      return NULL;
    }
  if (!vml_cmd_check_lockspaces (lockspaces, error))
    return NULL;
  *details = vml_cmd_lockspace_details (props);
  return g_steal_pointer (&lockspaces);
}

static const char list_help[] =
  "Lists the lockspaces this host knows, with its host id in each, their\n"
  "state (joining, joined, failing, lost), I/O timeout, the sector size\n"
  "sanlock uses in them (512 or 4096 bytes, as formatted; - until joined)\n"
  "and where they are on storage.\n"
  "\n"
  "Examples:\n"
  "  vmleasectl lockspace list\n"
  "  vmleasectl lockspace list --json | jq -r '.lockspaces[] | select(.state != \"joined\") | .name'";

static const VmleaseError list_errors[] = { VML_CLI_ERRORS_END };

static VML_CLI_HANDLER (lockspace_list)
{
  gboolean quiet = FALSE;
  const GOptionEntry entries[] = {
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
      "Print only the names, one per line", NULL },
    G_OPTION_ENTRY_NULL
  };
  const VmlCliSpec spec = { entries, list_help, list_errors, 0, 0 };
  g_autoptr(GVariant) lockspaces = NULL;
  g_autoptr(GVariant) details = NULL;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error))
    return FALSE;
  lockspaces = get_lockspaces (cli, &details, error);
  if (lockspaces == NULL)
    return FALSE;

  if (cli->json)
    vml_cli_print_json_member ("lockspaces", vml_cmd_lockspaces_json (lockspaces, details));
  else if (quiet)
    {
      GVariantIter iter;
      const char *name;

      g_variant_iter_init (&iter, lockspaces);
      while (g_variant_iter_next (&iter, "(&ststsu)", &name, NULL, NULL, NULL, NULL, NULL))
        g_print ("%s\n", name);
    }
  else
    vml_cmd_print_lockspaces (lockspaces, details);
  return TRUE;
}

/* ---- the group --------------------------------------------------------- */

static const VmlCliCommand lockspace_commands[] = {
  { "add",    lockspace_add,    "Join this host to a lockspace (takes seconds)", "NAME" },
  { "remove", lockspace_remove, "Leave a lockspace and forget it",               "NAME" },
  { "list",   lockspace_list,   "List the lockspaces this host knows",           "" },
};

VML_CLI_HANDLER (vml_cmd_lockspace)
{
  return vml_cli_run_group (cli, cmd, lockspace_commands, G_N_ELEMENTS (lockspace_commands),
                            NULL, argc, argv, error);
}
