/* vml-cmd-lease.c: "vmleasectl create|delete|list|acquire|release|inquire".
 * UUIDs are not checked here: vmleased is the one judge of what it accepts. */
#include "config.h"

#include "vml-cmd.h"

static const VmleaseError lookup_errors[] = {
  VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND, VMLEASE_ERROR_STORAGE_FAILURE,
  VML_CLI_ERRORS_END
};

static const char *
prop_string (GVariant   *props,
             const char *name)
{
  const char *value = NULL;

  if (!g_variant_lookup (props, name, "&s", &value))
    return "";
  return value;
}

static char *
prop_host (GVariant   *props,
           const char *name)
{
  guint64 value = 0;

  if (!g_variant_lookup (props, name, "t", &value) || value == 0)
    return g_strdup ("-");
  return g_strdup_printf ("%" G_GUINT64_FORMAT, value);
}

/* ---- listings shared with status --------------------------------------- */

void
vml_cmd_print_leases (GPtrArray *leases)
{
  g_autoptr(VmlCliTable) table = NULL;

  if (leases->len == 0)
    {
      g_print ("No leases.\n");
      return;
    }

  table = vml_cli_table_new ("UUID", "NAME", "LOCKSPACE", "STATE", "MODE", "OWNER",
                             "STORAGE", "DISKS", NULL);
  for (guint i = 0; i < leases->len; i++)
    {
      g_autoptr(GVariant) props = NULL;
      g_autoptr(GVariant) disks = NULL;
      g_autofree char *owner = NULL;
      g_autofree char *n_disks = NULL;
      const char *storage;

      g_variant_get (g_ptr_array_index (leases, i), "(&o@a{sv})", NULL, &props);
      owner = prop_host (props, "Owner");
      storage = prop_string (props, "StorageState");
      disks = g_variant_lookup_value (props, "Disks", NULL);
      n_disks = vml_cmd_disks_count (disks);
      vml_cli_table_add (table, prop_string (props, "Uuid"), prop_string (props, "Name"),
                         prop_string (props, "Lockspace"), prop_string (props, "State"),
                         prop_string (props, "Mode"), owner, *storage ? storage : "-",
                         n_disks);
    }
  vml_cli_table_print (table);
}

/* [{"path": ..., "uuid": ..., "state": ..., every property in snake_case}];
 * "disks" as objects {"key", "mode"}, not pairs. */
JsonNode *
vml_cmd_leases_json (GPtrArray *leases)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_array (builder);
  for (guint i = 0; i < leases->len; i++)
    {
      g_autoptr(GVariant) props = NULL;
      g_autoptr(GVariant) disks = NULL;
      g_autoptr(GVariant) rest = NULL;
      GVariantDict others;
      const char *path;

      g_variant_get (g_ptr_array_index (leases, i), "(&o@a{sv})", &path, &props);
      g_variant_dict_init (&others, props);
      disks = g_variant_lookup_value (props, "Disks", G_VARIANT_TYPE ("a(ss)"));
      if (disks != NULL)
        g_variant_dict_remove (&others, "Disks");
      rest = g_variant_ref_sink (g_variant_dict_end (&others));
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "path");
      json_builder_add_string_value (builder, path);
      vml_cli_json_add_props (builder, rest);
      if (disks != NULL)
        {
          json_builder_set_member_name (builder, "disks");
          json_builder_add_value (builder, vml_cmd_disks_json (NULL, disks));
        }
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  return json_builder_get_root (builder);
}

/* ---- create ------------------------------------------------------------ */

static void
print_created (VmlCli     *cli,
               const char *uuid,
               const char *path)
{
  if (cli->json)
    vml_cli_print_json_strings (TRUE, "uuid", uuid, "path", path, NULL);
  else
    g_print ("%s\n", path);
}

static const char create_help[] =
  "Creates the lease of the VM with this UUID on shared storage, in a joined\n"
  "lockspace, and exports its object. Its 1 MiB area is allocated from the\n"
  "lockspace's resource index unless --path and --offset (together) place it.\n"
  "A lease already on storage (created from another host) is adopted, not\n"
  "overwritten. Prints the new lease's object path.\n"
  "\n"
  "Examples:\n"
  "  vmleasectl create 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --lockspace ls1 --name web1\n"
  "  vmleasectl create 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --lockspace ls1 \\\n"
  "      --path /dev/mapper/vmleases --offset 16M";

static const VmleaseError create_errors[] = {
  VMLEASE_ERROR_NOT_AUTHORIZED, VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND,
  VMLEASE_ERROR_EXISTS, VMLEASE_ERROR_LOCKSPACE_NOT_JOINED, VMLEASE_ERROR_STORAGE_FAILURE,
  VML_CLI_ERRORS_END
};

VML_CLI_HANDLER (vml_cmd_create)
{
  g_autofree char *lockspace = NULL, *name = NULL, *path = NULL, *offset_s = NULL;
  const GOptionEntry entries[] = {
    { "lockspace", 0, 0, G_OPTION_ARG_STRING, &lockspace,
      "The joined lockspace to create the lease in (required)", "NAME" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "The VM's name, for people", "VMNAME" },
    { "path", 0, 0, G_OPTION_ARG_FILENAME, &path,
      "Place the lease in PATH (with --offset) instead of the index", "PATH" },
    { "offset", 0, 0, G_OPTION_ARG_STRING, &offset_s,
      "Where in PATH, a multiple of 1 MiB (with --path)", "BYTES" },
    G_OPTION_ENTRY_NULL
  };
  const VmlCliSpec spec = { entries, create_help, create_errors, 1, 1 };
  VmleaseClient *client;
  g_autoptr(VmlCliWait) wait = NULL;
  g_autoptr(VmleaseLease) lease = NULL;
  guint64 offset = 0;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error))
    return FALSE;
  if (lockspace == NULL)
    return vml_cli_usage_error (error, "--lockspace is required");
  if ((path == NULL) != (offset_s == NULL))
    return vml_cli_usage_error (error, "--path and --offset go together");
  if (path != NULL && !vml_cli_parse_bytes ("--offset", offset_s, &offset, error))
    return FALSE;

  client = vml_cli_client (cli, error);
  if (client == NULL)
    return FALSE;
  wait = vml_cli_wait_new (VML_CLI_TIMEOUT_CHANGE, "Creating lease %s", argv[1]);
  vmlease_client_create_lease_full (client, argv[1], lockspace, name, path, offset,
                                    vml_cli_wait_cancellable (wait), vml_cli_wait_done, wait);
  lease = vmlease_client_create_lease_full_finish (client, vml_cli_wait_run (wait), error);
  if (!vml_cli_wait_end (wait, lease != NULL, error))
    return FALSE;
  print_created (cli, argv[1], vmlease_lease_get_object_path (lease));
  return TRUE;
}

/* ---- delete ------------------------------------------------------------ */

static const char delete_help[] =
  "Removes the VM's lease from shared storage and unexports its object.\n"
  "Refused (Busy) while any live host holds it, this one included.\n"
  "\n"
  "Example:\n"
  "  vmleasectl delete 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10";

static const VmleaseError delete_errors[] = {
  VMLEASE_ERROR_NOT_AUTHORIZED, VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND,
  VMLEASE_ERROR_BUSY, VMLEASE_ERROR_LOCKSPACE_NOT_JOINED, VMLEASE_ERROR_STORAGE_FAILURE,
  VML_CLI_ERRORS_END
};

VML_CLI_HANDLER (vml_cmd_delete)
{
  const VmlCliSpec spec = { NULL, delete_help, delete_errors, 1, 1, TRUE };
  VmleaseClient *client;
  g_autoptr(VmlCliWait) wait = NULL;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error) ||
      (client = vml_cli_client (cli, error)) == NULL)
    return FALSE;
  wait = vml_cli_wait_new (VML_CLI_TIMEOUT_CHANGE, "Deleting lease %s", argv[1]);
  vmlease_client_delete_lease (client, argv[1], vml_cli_wait_cancellable (wait),
                               vml_cli_wait_done, wait);
  return vml_cli_wait_end (wait, vmlease_client_delete_lease_finish (client,
                                                                     vml_cli_wait_run (wait),
                                                                     error), error);
}

/* ---- list -------------------------------------------------------------- */

static void
print_lease_list (VmlCli    *cli,
                  GPtrArray *leases,
                  gboolean   quiet)
{
  if (!cli->json && quiet)
    {
      for (guint i = 0; i < leases->len; i++)
        {
          g_autoptr(GVariant) props = NULL;

          g_variant_get (g_ptr_array_index (leases, i), "(&o@a{sv})", NULL, &props);
          g_print ("%s\n", prop_string (props, "Uuid"));
        }
      return;
    }
  if (cli->json)
    vml_cli_print_json_member ("leases", vml_cmd_leases_json (leases));
  else
    vml_cmd_print_leases (leases);
}

static const char list_help[] =
  "Lists the VM leases vmleased exports: their UUID, VM name, lockspace,\n"
  "state on this host (free, acquiring, held, held-shared, releasing, lost),\n"
  "mode, the host id that last held them exclusively (as last seen;\n"
  "'vmleasectl inquire' reads storage now), and their storage as this host\n"
  "sees it (ok, failing: the lockspace's device was removed or went\n"
  "read-only, the lease will be lost unless it comes back; lost; joining).\n"
  "\n"
  "Examples:\n"
  "  vmleasectl list\n"
  "  vmleasectl list --quiet | xargs -n1 vmleasectl inquire\n"
  "  vmleasectl list --json | jq -r '.leases[] | select(.state == \"held\") | .uuid'";

static const VmleaseError list_errors[] = { VML_CLI_ERRORS_END };

VML_CLI_HANDLER (vml_cmd_list)
{
  gboolean quiet = FALSE;
  const GOptionEntry entries[] = {
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print only the UUIDs, one per line", NULL },
    G_OPTION_ENTRY_NULL
  };
  const VmlCliSpec spec = { entries, list_help, list_errors, 0, 0 };
  g_autoptr(GPtrArray) leases = NULL;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error))
    return FALSE;
  leases = vml_cli_get_leases (cli, error);
  if (leases == NULL)
    return FALSE;
  print_lease_list (cli, leases, quiet);
  return TRUE;
}

/* ---- acquire ----------------------------------------------------------- */

static const char acquire_help[] =
  "Takes the VM's lease for this host: vmleased starts a vmlease-holder for\n"
  "it and returns once sanlock has granted the lease. If another host holds\n"
  "it, fails at once with Busy, or with --wait keeps trying for up to SECONDS\n"
  "(a spinner shows the time on a terminal). If the lease is lost later\n"
  "(storage trouble, revoked), the process --pid is fenced: killed (the\n"
  "default with --pid), paused (SIGSTOP; with --qmp SOCKET, a QEMU's guest is\n"
  "paused with QMP 'stop' on that socket instead, SIGSTOP if that fails), or\n"
  "left alone (none). --force seizes\n"
  "it from the host that holds it exclusively (that host fences its VM first;\n"
  "waits 120 s unless --wait says otherwise); --request asks that host to hand\n"
  "it over (it is told, and keeps it).\n"
  "\n"
  "--disk takes the VM's disk leases with it, all or nothing: KEY names the\n"
  "disk (a volume UUID or its path), KEY:shared a disk that other VMs may\n"
  "hold shared too. If one disk is busy nothing is held, and the error names\n"
  "the disk, the VM lease holding it and that lease's host.\n"
  "\n"
  "Examples:\n"
  "  vmleasectl acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --pid \"$(pgrep -f 'guest=web1')\"\n"
  "  vmleasectl acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --shared --fence none\n"
  "  vmleasectl acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --pid 4242 \\\n"
  "      --disk vol-7d2a91 --disk /dev/vg0/shared-data:shared\n"
  "  vmleasectl acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --wait 120 || echo \"busy: $?\"\n"
  "  vmleasectl acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --force --pid 4242\n"
  "  vmleasectl acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --pid 4242 --fence pause \\\n"
  "      --qmp /run/vm/web1-fence.qmp";

static const VmleaseError acquire_errors[] = {
  VMLEASE_ERROR_NOT_AUTHORIZED, VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND,
  VMLEASE_ERROR_EXISTS, VMLEASE_ERROR_BUSY, VMLEASE_ERROR_LOCKSPACE_NOT_JOINED,
  VMLEASE_ERROR_STORAGE_FAILURE, VML_CLI_ERRORS_END
};

typedef struct {
  gboolean  shared;
  char     *pid;
  char     *fence;
  char     *qmp;
  char     *wait;
  gboolean  force;
  gboolean  request;
  char    **disks;
} AcquireArgs;

static VmleaseAcquireOptions *
acquire_options (const AcquireArgs  *args,
                 guint64            *wait,
                 GError            **error)
{
  g_autoptr(VmleaseAcquireOptions) options = vmlease_acquire_options_new ();
  VmleaseFence fence;
  guint pid;

  *wait = 0;
  if (!vml_cli_fence_args (args->pid, args->fence, &pid, &fence, error) ||
      (args->wait != NULL && !vml_cli_parse_uint ("--wait", args->wait, G_MAXUINT32, wait, error)) ||
      !vml_cli_acquire_options_add_disks (options, args->disks, error))
    return NULL;
  vmlease_acquire_options_set_mode (options, args->shared ? VMLEASE_MODE_SHARED
                                                          : VMLEASE_MODE_EXCLUSIVE);
  vmlease_acquire_options_set_pid (options, pid);
  vmlease_acquire_options_set_fence (options, fence);
  vmlease_acquire_options_set_wait (options, (guint) *wait);
  vmlease_acquire_options_set_qmp (options, args->qmp);
  vmlease_acquire_options_set_force (options, args->force);
  vmlease_acquire_options_set_request (options, args->request);
  return g_steal_pointer (&options);
}

static void
acquire_args_clear (AcquireArgs *args)
{
  g_free (args->pid);
  g_free (args->fence);
  g_free (args->qmp);
  g_free (args->wait);
  g_strfreev (args->disks);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AcquireArgs, acquire_args_clear)

VML_CLI_HANDLER (vml_cmd_acquire)
{
  g_auto(AcquireArgs) args = { FALSE, NULL, NULL, NULL, NULL, FALSE, FALSE, NULL };
  const GOptionEntry entries[] = {
    VML_CLI_FENCE_ENTRIES (&args.pid, &args.fence,
                           "The VM process to fence if the lease is lost"),
    VML_CLI_QMP_ENTRY (&args.qmp),
    VML_CMD_ACQUIRE_ENTRIES (&args.shared, &args.wait, &args.force),
    { "request", 0, 0, G_OPTION_ARG_NONE, &args.request,
      "Ask the host that holds the lease to hand it over", NULL },
    VML_CLI_DISK_ENTRY (&args.disks,
                        "Also take this disk's lease (repeat for each disk; :shared for a shared disk)"),
    G_OPTION_ENTRY_NULL
  };
  const VmlCliSpec spec = { entries, acquire_help, acquire_errors, 1, 1, TRUE };
  g_autoptr(VmleaseAcquireOptions) options = NULL;
  g_autoptr(VmleaseLease) lease = NULL;
  g_autoptr(VmlCliWait) wait = NULL;
  g_autofree char *waiting = NULL;
  guint64 seconds = 0;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error) ||
      (options = acquire_options (&args, &seconds, error)) == NULL ||
      (lease = vml_cli_find_lease (cli, argv[1], error)) == NULL)
    return FALSE;
  waiting = vml_cli_progress_wait (seconds);
  wait = vml_cli_wait_new (seconds > 0 || args.force ? VML_CLI_TIMEOUT_LONG : VML_CLI_TIMEOUT_CHANGE,
                           "Acquiring lease %s%s", argv[1], waiting);
  vmlease_lease_acquire (lease, options, vml_cli_wait_cancellable (wait), vml_cli_wait_done, wait);
  return vml_cli_wait_end (wait, vmlease_lease_acquire_finish (lease, vml_cli_wait_run (wait),
                                                               error), error);
}

/* ---- release ----------------------------------------------------------- */

static const char release_help[] =
  "Gives the VM's lease up on this host and ends its holder process. The VM\n"
  "process named at acquire is not touched.\n"
  "\n"
  "Example:\n"
  "  vmleasectl release 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10";

static const VmleaseError release_errors[] = {
  VMLEASE_ERROR_NOT_AUTHORIZED, VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND,
  VMLEASE_ERROR_NOT_HELD, VMLEASE_ERROR_STORAGE_FAILURE, VML_CLI_ERRORS_END
};

VML_CLI_HANDLER (vml_cmd_release)
{
  const VmlCliSpec spec = { NULL, release_help, release_errors, 1, 1, TRUE };
  g_autoptr(VmleaseLease) lease = NULL;
  g_autoptr(VmlCliWait) wait = NULL;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error) ||
      (lease = vml_cli_find_lease (cli, argv[1], error)) == NULL)
    return FALSE;
  wait = vml_cli_wait_new (VML_CLI_TIMEOUT_CHANGE, "Releasing lease %s", argv[1]);
  vmlease_lease_release (lease, vml_cli_wait_cancellable (wait), vml_cli_wait_done, wait);
  return vml_cli_wait_end (wait, vmlease_lease_release_finish (lease, vml_cli_wait_run (wait),
                                                               error), error);
}

/* ---- inquire ----------------------------------------------------------- */

/* Inquire's keys in the contract's order, with labels for people. Keys a
 * newer vmleased adds are shown after these, under their own names. */
static const struct {
  const char *key;
  const char *label;
} inquire_labels[] = {
  { "uuid",             "UUID" },
  { "name",             "Name" },
  { "lockspace",        "Lockspace" },
  { "state",            "State" },
  { "mode",             "Mode" },
  { "held_here",        "Held here" },
  { "storage_state",    "Storage" },
  { "holder_pid",       "Holder PID" },
  { "fence_pid",        "Fence PID" },
  { "fence",            "Fence" },
  { "owner_uid",        "Acquired by uid" },
  { "host_id",          "This host's id" },
  { "path",             "Path" },
  { "offset",           "Offset" },
  { "sector_size",      "Sector size" },
  { "lver",             "Version (lver)" },
  { "owner",            "Owner" },
  { "owner_generation", "Owner generation" },
  { "shared_owners",    "Shared owners" },
  { "owners_live",      "Owner alive" },
  { "live_hosts",       "Live hosts" },
  { "storage_error",    "Storage error" },
  { "transfer",         "Hand-off" },
  { "disks",            NULL },       /* a table of its own, after the rest */
};

static gboolean
is_labelled (const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (inquire_labels); i++)
    if (g_str_equal (inquire_labels[i].key, key))
      return TRUE;
  return FALSE;
}

static void
print_info_line (GVariant   *info,
                 const char *key,
                 const char *label)
{
  g_autoptr(GVariant) value = g_variant_lookup_value (info, key, NULL);
  g_autofree char *text = NULL;

  if (value == NULL)
    return;
  text = vml_cli_format_value (value);
  g_print ("%-18s %s\n", label, text);
}

/* Inquire's "disks": one row per disk, what this host holds and what the
 * storage says. */
static const char *const disk_columns[] = {
  "key", "mode", "owner", "shared_owners", "lver", "holder_pid", "resource", "offset",
};

static void
print_info_disks (GVariant *info)
{
  g_autoptr(GVariant) disks = g_variant_lookup_value (info, "disks", G_VARIANT_TYPE ("aa{sv}"));
  g_autoptr(VmlCliTable) table = NULL;
  gsize n;

  if (disks == NULL)
    return;
  n = g_variant_n_children (disks);
  g_print ("%-18s %s\n", "Disks", n == 0 ? "-" : "");
  if (n == 0)
    return;
  table = vml_cli_table_new ("  KEY", "MODE", "OWNER", "SHARED-OWNERS", "LVER", "HOLDER",
                             "RESOURCE", "OFFSET", NULL);
  G_STATIC_ASSERT (G_N_ELEMENTS (disk_columns) == 8);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) disk = g_variant_get_child_value (disks, i);
      char *cells[G_N_ELEMENTS (disk_columns)];

      for (gsize c = 0; c < G_N_ELEMENTS (disk_columns); c++)
        {
          g_autoptr(GVariant) value = g_variant_lookup_value (disk, disk_columns[c], NULL);
          g_autofree char *text = value ? vml_cli_format_value (value) : g_strdup ("-");

          cells[c] = c == 0 ? g_strconcat ("  ", text, NULL) : g_steal_pointer (&text);
        }
      vml_cli_table_add (table, cells[0], cells[1], cells[2], cells[3], cells[4], cells[5],
                         cells[6], cells[7]);
      for (gsize c = 0; c < G_N_ELEMENTS (disk_columns); c++)
        g_free (cells[c]);
    }
  vml_cli_table_print (table);
}

static void
print_info (VmlCli   *cli,
            GVariant *info)
{
  GVariantIter iter;
  const char *key;

  if (cli->json)
    {
      g_autoptr(JsonNode) root = json_gvariant_serialize (info);

      vml_cli_print_json (root, TRUE);
      return;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (inquire_labels); i++)
    if (inquire_labels[i].label != NULL)
      print_info_line (info, inquire_labels[i].key, inquire_labels[i].label);
  g_variant_iter_init (&iter, info);
  while (g_variant_iter_next (&iter, "{&sv}", &key, NULL))
    if (!is_labelled (key))
      print_info_line (info, key, key);
  print_info_disks (info);
}

static const char inquire_help[] =
  "Reads the VM's lease from storage now and shows what this host and the\n"
  "storage say: local state, the storage's state as this host sees it (ok,\n"
  "failing, lost, joining), holder and fence processes, where the lease is\n"
  "and the sector size sanlock uses there, its version (lver), the\n"
  "exclusive owner and its generation, shared owners, whether an owner is\n"
  "alive (then another host's acquire would fail), and the live hosts of\n"
  "the lockspace. Changes nothing.\n"
  "\n"
  "Examples:\n"
  "  vmleasectl inquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10\n"
  "  vmleasectl inquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --json | jq .owner";

VML_CLI_HANDLER (vml_cmd_inquire)
{
  const VmlCliSpec spec = { NULL, inquire_help, lookup_errors, 1, 1 };
  g_autoptr(VmleaseLease) lease = NULL;
  g_autoptr(VmlCliWait) wait = NULL;
  g_autoptr(GVariant) info = NULL;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error) ||
      (lease = vml_cli_find_lease (cli, argv[1], error)) == NULL)
    return FALSE;
  /* Reads storage: allow for slow I/O (the library never prompts for it). */
  wait = vml_cli_wait_new (VML_CLI_TIMEOUT_CHANGE, "Reading lease %s", argv[1]);
  vmlease_lease_inquire (lease, vml_cli_wait_cancellable (wait), vml_cli_wait_done, wait);
  info = vmlease_lease_inquire_finish (lease, vml_cli_wait_run (wait), error);
  if (!vml_cli_wait_end (wait, info != NULL, error))
    return FALSE;
  print_info (cli, info);
  return TRUE;
}
