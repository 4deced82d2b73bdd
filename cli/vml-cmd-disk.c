/* vml-cmd-disk.c: "vmleasectl disk attach|detach|list", a VM's disk leases:
 * taken before a disk is hot-plugged (AttachDisks), given up after it is
 * hot-unplugged (DetachDisks), and listed (the lease's Disks property).
 * Keys are not checked here: vmleased is the one judge of what it accepts. */
#include "config.h"

#include "vml-cmd.h"

#define DISKS_TYPE ((const GVariantType *) "a(ss)")

/* ---- shared with list, status and inquire -------------------------------- */

JsonNode *
vml_cmd_disks_json (const char *uuid,
                    GVariant   *disks)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_array (builder);
  vml_cmd_disks_json_add (builder, uuid, disks);
  json_builder_end_array (builder);
  return json_builder_get_root (builder);
}

void
vml_cmd_disks_json_add (JsonBuilder *builder,
                        const char  *uuid,
                        GVariant    *disks)
{
  GVariantIter iter;
  const char *key, *mode;

  g_variant_iter_init (&iter, disks);
  while (g_variant_iter_next (&iter, "(&s&s)", &key, &mode))
    {
      json_builder_begin_object (builder);
      vml_cli_json_add_string (builder, "uuid", uuid);
      vml_cli_json_add_string (builder, "key", key);
      vml_cli_json_add_string (builder, "mode", mode);
      json_builder_end_object (builder);
    }
}

char *
vml_cmd_disks_count (GVariant *disks)
{
  GVariantIter iter;
  const char *mode;
  guint n = 0, shared = 0;

  if (disks == NULL || !g_variant_is_of_type (disks, DISKS_TYPE))
    return g_strdup ("-");
  g_variant_iter_init (&iter, disks);
  while (g_variant_iter_next (&iter, "(s&s)", NULL, &mode))
    {
      n++;
      shared += g_str_equal (mode, "shared");
    }
  if (n == 0)
    return g_strdup ("-");
  if (shared == 0)
    return g_strdup_printf ("%u", n);
  return g_strdup_printf ("%u (%u shared)", n, shared);
}

/* ---- the Disks property ---------------------------------------------------- */

/* (transfer full) the Disks of @lease, as the library keeps them current. */
static GVariant *
get_disks (VmleaseLease  *lease,
           GError       **error)
{
  GVariant *disks = vmlease_lease_dup_disks (lease);

  if (disks == NULL)
    g_set_error (error, VML_CLI_ERROR, VML_CLI_ERROR_REPLY,
                 "the lease has no Disks property of type a(ss): is vmleased older "
                 "than vmleasectl (without disk leases)?");
  return disks;
}

/* Each row: (uuid, a(ss) disks). */
typedef struct {
  char     *uuid;
  GVariant *disks;
} DiskRow;

static void
disk_row_free (gpointer data)
{
  DiskRow *row = data;

  g_free (row->uuid);
  g_variant_unref (row->disks);
  g_free (row);
}

static void
add_row (GPtrArray  *rows,
         const char *uuid,
         GVariant   *disks)
{
  DiskRow *row = g_new0 (DiskRow, 1);

  row->uuid = g_strdup (uuid);
  row->disks = g_variant_ref (disks);
  g_ptr_array_add (rows, row);
}

/* The disks of the lease @uuid, or (@uuid NULL) of every exported lease. */
static GPtrArray *
get_rows (VmlCli     *cli,
          const char *uuid,
          GError    **error)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func (disk_row_free);
  g_autoptr(GPtrArray) leases = NULL;

  if (uuid != NULL)
    {
      g_autoptr(VmleaseLease) lease = vml_cli_find_lease (cli, uuid, error);
      g_autoptr(GVariant) disks = NULL;

      if (lease == NULL)
        return NULL;
      disks = get_disks (lease, error);
      if (disks == NULL)
        return NULL;
      add_row (rows, uuid, disks);
      return g_steal_pointer (&rows);
    }

  leases = vml_cli_get_leases (cli, error);
  if (leases == NULL)
    return NULL;
  for (guint i = 0; i < leases->len; i++)
    {
      g_autoptr(GVariant) props = NULL;
      g_autoptr(GVariant) disks = NULL;
      const char *lease_uuid = "";

      g_variant_get (g_ptr_array_index (leases, i), "(&o@a{sv})", NULL, &props);
      g_variant_lookup (props, "Uuid", "&s", &lease_uuid);
      disks = g_variant_lookup_value (props, "Disks", DISKS_TYPE);
      if (disks != NULL && g_variant_n_children (disks) > 0)
        add_row (rows, lease_uuid, disks);
    }
  return g_steal_pointer (&rows);
}

static void
print_rows (VmlCli    *cli,
            GPtrArray *rows,
            gboolean   quiet,
            gboolean   all)
{
  g_autoptr(VmlCliTable) table = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  guint n = 0;

  if (cli->json)
    {
      builder = json_builder_new ();
      json_builder_begin_array (builder);
      for (guint i = 0; i < rows->len; i++)
        {
          DiskRow *row = g_ptr_array_index (rows, i);
          vml_cmd_disks_json_add (builder, row->uuid, row->disks);
        }
      json_builder_end_array (builder);
      vml_cli_print_json_member ("disks", json_builder_get_root (builder));
      return;
    }

  table = all ? vml_cli_table_new ("UUID", "KEY", "MODE", NULL)
              : vml_cli_table_new ("KEY", "MODE", NULL);
  for (guint i = 0; i < rows->len; i++)
    {
      DiskRow *row = g_ptr_array_index (rows, i);
      GVariantIter iter;
      const char *key, *mode;

      g_variant_iter_init (&iter, row->disks);
      while (g_variant_iter_next (&iter, "(&s&s)", &key, &mode))
        {
          n++;
          if (quiet)
            {
              g_autofree char *word = vml_cli_disk_word (key, mode);
              g_print ("%s\n", word);
            }
          else if (all)
            vml_cli_table_add (table, row->uuid, key, mode);
          else
            vml_cli_table_add (table, key, mode);
        }
    }
  if (quiet)
    return;
  if (n == 0)
    g_print (all ? "No disk leases held here.\n"
                 : "No disk leases held here with this VM lease.\n");
  else
    vml_cli_table_print (table);
}

/* ---- disk attach ---------------------------------------------------------- */

static const char attach_help[] =
  "For hotplug, before the disk is added to the VM: takes the disk leases\n"
  "named by the KEY words for the VM lease UUID, which must be held here\n"
  "exclusively. KEY names the disk (a volume UUID, or the disk's path);\n"
  "KEY:shared is a shareable disk, which any number of VMs may hold shared\n"
  "(and none exclusively meanwhile). All or nothing: if one disk is busy,\n"
  "none of these is held afterwards (the disks held before stay), and the\n"
  "error names the disk, the VM lease holding it and that lease's host; do\n"
  "not add the device then. With --wait, keeps trying while a disk is busy.\n"
  "A disk already held here in the same mode is left as it is.\n"
  "\n"
  "Examples:\n"
  "  vmleasectl disk attach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vol-7d2a91 || exit\n"
  "  vmleasectl disk attach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 \\\n"
  "      /dev/vg0/data /dev/vg0/shared-iso:shared --wait 30";

static const VmleaseError attach_errors[] = {
  VMLEASE_ERROR_NOT_AUTHORIZED, VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND,
  VMLEASE_ERROR_BUSY, VMLEASE_ERROR_NOT_HELD, VMLEASE_ERROR_WRONG_STEP, VMLEASE_ERROR_STORAGE_FAILURE,
  VML_CLI_ERRORS_END
};

static VML_CLI_HANDLER (disk_attach)
{
  g_autofree char *wait_s = NULL;
  const GOptionEntry entries[] = {
    { "wait", 0, 0, G_OPTION_ARG_STRING, &wait_s,
      "While another VM lease holds a disk, keep trying this long (default 0)", "SECONDS" },
    G_OPTION_ENTRY_NULL
  };
  const VmlCliSpec spec = { entries, attach_help, attach_errors, 2, G_MAXINT, TRUE };
  g_autoptr(VmleaseAcquireOptions) options = vmlease_acquire_options_new ();
  g_autoptr(VmleaseLease) lease = NULL;
  g_autoptr(VmlCliWait) wait = NULL;
  g_autofree char *waiting = NULL;
  guint64 seconds = 0;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error) ||
      (wait_s != NULL && !vml_cli_parse_uint ("--wait", wait_s, G_MAXUINT32, &seconds, error)) ||
      !vml_cli_acquire_options_add_disks (options, argv + 2, error) ||
      (lease = vml_cli_find_lease (cli, argv[1], error)) == NULL)
    return FALSE;
  vmlease_acquire_options_set_wait (options, (guint) seconds);
  waiting = vml_cli_progress_wait (seconds);
  wait = vml_cli_wait_new (seconds > 0 ? VML_CLI_TIMEOUT_LONG : VML_CLI_TIMEOUT_CHANGE,
                           "Attaching %d disk(s) to %s%s", argc - 2, argv[1], waiting);
  vmlease_lease_attach_disks (lease, options, vml_cli_wait_cancellable (wait),
                              vml_cli_wait_done, wait);
  return vml_cli_wait_end (wait, vmlease_lease_attach_disks_finish (lease,
                                                                    vml_cli_wait_run (wait),
                                                                    error), error);
}

/* ---- disk detach ---------------------------------------------------------- */

static const char detach_help[] =
  "For hot-unplug, after the disk is gone from the VM: gives up the disk\n"
  "leases named by the KEY words (a :shared or :exclusive suffix is\n"
  "accepted and ignored, so the words of 'disk attach' and 'disk list\n"
  "--quiet' work here). The VM lease and its other disks stay held. A key\n"
  "not held here with this VM lease is InvalidArgument, and then nothing is\n"
  "released.\n"
  "\n"
  "Examples:\n"
  "  vmleasectl disk detach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vol-7d2a91\n"
  "  vmleasectl disk list 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --quiet |\n"
  "      xargs vmleasectl disk detach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10";

static const VmleaseError detach_errors[] = {
  VMLEASE_ERROR_NOT_AUTHORIZED, VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND,
  VMLEASE_ERROR_NOT_HELD, VMLEASE_ERROR_WRONG_STEP, VMLEASE_ERROR_STORAGE_FAILURE,
  VML_CLI_ERRORS_END
};

static VML_CLI_HANDLER (disk_detach)
{
  const VmlCliSpec spec = { NULL, detach_help, detach_errors, 2, G_MAXINT, TRUE };
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(VmleaseLease) lease = NULL;
  g_autoptr(VmlCliWait) wait = NULL;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error) ||
      (lease = vml_cli_find_lease (cli, argv[1], error)) == NULL)
    return FALSE;
  for (int i = 2; i < argc; i++)
    {
      char *key;
      const char *mode;

      vml_cli_disk_word_split (argv[i], &key, &mode);
      g_ptr_array_add (keys, key);
    }
  g_ptr_array_add (keys, NULL);
  wait = vml_cli_wait_new (VML_CLI_TIMEOUT_CHANGE, "Detaching %d disk(s) from %s",
                           argc - 2, argv[1]);
  vmlease_lease_detach_disks (lease, (const char * const *) keys->pdata,
                              vml_cli_wait_cancellable (wait), vml_cli_wait_done, wait);
  return vml_cli_wait_end (wait, vmlease_lease_detach_disks_finish (lease,
                                                                    vml_cli_wait_run (wait),
                                                                    error), error);
}

/* ---- disk list ------------------------------------------------------------ */

static const char list_help[] =
  "Lists the disk leases held here with the VM lease UUID (its Disks\n"
  "property): each disk's key and mode (exclusive or shared). Without UUID,\n"
  "those of every VM lease held here. --quiet prints one KEY[:shared] word\n"
  "per disk, as 'disk attach', 'disk detach' and 'acquire --disk' take them.\n"
  "'vmleasectl inquire' shows each disk's owners on storage.\n"
  "\n"
  "Examples:\n"
  "  vmleasectl disk list 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10\n"
  "  vmleasectl disk list --json | jq -r '.disks[] | select(.mode == \"shared\") | .key'";

static const VmleaseError list_errors[] = {
  VMLEASE_ERROR_INVALID_ARGUMENT, VMLEASE_ERROR_NOT_FOUND, VML_CLI_ERRORS_END
};

static VML_CLI_HANDLER (disk_list)
{
  gboolean quiet = FALSE;
  const GOptionEntry entries[] = {
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
      "Print only one KEY[:shared] word per disk", NULL },
    G_OPTION_ENTRY_NULL
  };
  const VmlCliSpec spec = { entries, list_help, list_errors, 0, 1 };
  g_autoptr(GPtrArray) rows = NULL;

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error))
    return FALSE;
  rows = get_rows (cli, argc > 1 ? argv[1] : NULL, error);
  if (rows == NULL)
    return FALSE;
  print_rows (cli, rows, quiet, argc <= 1);
  return TRUE;
}

/* ---- the group ------------------------------------------------------------ */

static const VmlCliCommand disk_commands[] = {
  { "attach", disk_attach, "Take disk leases before a hotplug (all or nothing)",
    "UUID " VML_CLI_DISK_WORD "…" },
  { "detach", disk_detach, "Give disk leases up after a hot-unplug", "UUID KEY…" },
  { "list",   disk_list,   "List the disk leases held here",       "[UUID]" },
};

static const char disk_help_tail[] =
  "A disk lease guards one of a VM's disks, named by a key of your choice\n"
  "(a volume UUID, the disk's path): at most one VM holds it exclusively,\n"
  "or any number shared (KEY:shared). It is held with the VM lease: taken\n"
  "at 'acquire --disk', or by 'disk attach' before a hotplug; released by\n"
  "'disk detach' after a hot-unplug, or with the VM lease; moved by a\n"
  "'transfer'; and lost with it (the VM is fenced once).";

VML_CLI_HANDLER (vml_cmd_disk)
{
  return vml_cli_run_group (cli, cmd, disk_commands, G_N_ELEMENTS (disk_commands),
                            disk_help_tail, argc, argv, error);
}
