/* vml-cmd-status.c: "vmleasectl status": is vmleased there, and what does
 * it hold. Exits 0 whenever the service answers. */
#include "config.h"

#include "vml-cmd.h"

static const char status_help[] =
  "Shows the version of vmleased answering on the bus, the lockspaces this\n"
  "host knows (host id, state, I/O timeout, sector size, location) and the\n"
  "VM leases it exports (state, mode, last seen owner, storage state: ok,\n"
  "failing, lost, joining). Exits 0 if vmleased answers, 3 if\n"
  "it is not running (or the bus cannot be reached).\n"
  "\n"
  "Examples:\n"
  "  vmleasectl status\n"
  "  vmleasectl status >/dev/null && echo \"vmleased is up\"\n"
  "  vmleasectl --json status | jq -r .version";

static const VmleaseError status_errors[] = { VML_CLI_ERRORS_END };

typedef struct {
  char      *version;
  GVariant  *lockspaces;
  GVariant  *details;      /* LockspaceDetails, or NULL */
  GPtrArray *leases;
} Status;

static void
status_clear (Status *status)
{
  g_free (status->version);
  g_clear_pointer (&status->lockspaces, g_variant_unref);
  g_clear_pointer (&status->details, g_variant_unref);
  g_clear_pointer (&status->leases, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Status, status_clear)

static gboolean
get_manager_props (VmlCli  *cli,
                   Status  *status,
                   GError **error)
{
  g_autoptr(GVariant) props = vml_cli_get_manager_props (cli, error);

  if (props == NULL)
    return FALSE;
  if (!g_variant_lookup (props, "Version", "s", &status->version))
    status->version = g_strdup ("(unknown version)");
  status->lockspaces = g_variant_lookup_value (props, "Lockspaces", NULL);
  if (status->lockspaces == NULL)
    status->lockspaces = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(ststsu)"), NULL, 0));
  status->details = vml_cmd_lockspace_details (props);
  return vml_cmd_check_lockspaces (status->lockspaces, error);
}

static void
print_json (const Status *status)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "version");
  json_builder_add_string_value (builder, status->version);
  json_builder_set_member_name (builder, "lockspaces");
  json_builder_add_value (builder, vml_cmd_lockspaces_json (status->lockspaces, status->details));
  json_builder_set_member_name (builder, "leases");
  json_builder_add_value (builder, vml_cmd_leases_json (status->leases));
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  vml_cli_print_json (root, TRUE);
}

static void
print_human (VmlCli       *cli,
             const Status *status)
{
  g_autofree char *bus = vml_cli_bus_name_for_humans (cli);

  g_print ("vmleased %s on %s\n\n", status->version, bus);
  g_print ("Lockspaces:\n");
  vml_cmd_print_lockspaces (status->lockspaces, status->details);
  g_print ("\nLeases:\n");
  vml_cmd_print_leases (status->leases);
}

VML_CLI_HANDLER (vml_cmd_status)
{
  const VmlCliSpec spec = { NULL, status_help, status_errors, 0, 0 };
  g_auto(Status) status = { NULL, NULL, NULL, NULL };

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error))
    return FALSE;
  if (!get_manager_props (cli, &status, error))
    return FALSE;
  status.leases = vml_cli_get_leases (cli, error);
  if (status.leases == NULL)
    return FALSE;

  if (cli->json)
    print_json (&status);
  else
    print_human (cli, &status);
  return TRUE;
}
