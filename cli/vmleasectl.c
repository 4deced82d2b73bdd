/* vmleasectl: command-line control of vmleased, the VM lease service.
 *
 *   vmleasectl [--json] [--address ADDR] COMMAND [ARGUMENT…]
 *
 * The commands are the table below; each lives in a vml-cmd-*.c file and
 * parses its own options, so every --help works without the service. See
 * docs/vmleasectl.md. */
#include "config.h"

#include <locale.h>

#include "vml-cmd.h"

static const VmlCliCommand commands[] = {
  { "status",    vml_cmd_status,    "Show vmleased's version, lockspaces and leases", "" },
  { "lockspace", vml_cmd_lockspace, "Join, leave or list lockspaces (add, remove, list)", "COMMAND [ARGUMENT…]" },
  { "create",    vml_cmd_create,    "Create a VM's lease on shared storage",           "UUID" },
  { "delete",    vml_cmd_delete,    "Delete a VM's lease from shared storage",         "UUID" },
  { "list",      vml_cmd_list,      "List the VM leases vmleased exports",             "" },
  { "acquire",   vml_cmd_acquire,   "Take a VM's lease for this host",                 "UUID" },
  { "release",   vml_cmd_release,   "Give a VM's lease up on this host",               "UUID" },
  { "inquire",   vml_cmd_inquire,   "Read a VM's lease from storage: who holds it",    "UUID" },
  { "disk",      vml_cmd_disk,      "Attach, detach or list a VM's disk leases (attach, detach, list)", "COMMAND UUID [KEY…]" },
  { "transfer",  vml_cmd_transfer,  "One step of a migration hand-off (begin, prepare, ...)", "STEP UUID [TOKEN|-]" },
  { "migrate",   vml_cmd_migrate,   "Hand a VM's lease from one host to another, every step", "UUID" },
  { "run",       vml_cmd_run,       "Run a command under a VM's lease; fence it if the lease is lost", "UUID -- CMD [ARG…]" },
  { "monitor",   vml_cmd_monitor,   "Print lease and lockspace events until interrupted", "" },
};

static const VmlCliCommand toplevel = {
  "vmleasectl", NULL,
  "Control vmleased, which guards VM leases on shared storage with sanlock.",
  "COMMAND [ARGUMENT…]",
};

static const char main_help_tail[] =
  "Output: human-readable by default (not a stable interface); --json prints\n"
  "JSON for scripts. Commands that change state print nothing on success.\n"
  "\n"
  "Environment:\n"
  "  DBUS_SYSTEM_BUS_ADDRESS   the system bus to use, unless --address is given\n"
  "\n"
  "Examples:\n"
  "  vmleasectl status\n"
  "  vmleasectl lockspace add ls1 --host-id 1 --path /dev/mapper/vmleases\n"
  "  vmleasectl create 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --lockspace ls1 --name web1\n"
  "  vmleasectl acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --pid 4242 --wait 60\n"
  "  vmleasectl disk attach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vol-7d2a91\n"
  "  vmleasectl --json list | jq '.leases[].state'\n"
  "  vmleasectl run 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 -- qemu-system-x86_64 ...\n"
  "  vmleasectl migrate --from host1.env --to host2.env 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10\n"
  "\n"
  "Full reference: docs/vmleasectl.md in the vmlease sources.";

static char *
main_description (void)
{
  g_autofree char *list = vml_cli_commands_help (commands, G_N_ELEMENTS (commands), "");
  g_autofree char *exits = vml_cli_exit_help (NULL);

  return g_strdup_printf ("%s\n\n%s\n\n%s", list, exits, main_help_tail);
}

static gboolean
run (VmlCli   *cli,
     int       argc,
     char    **argv,
     GError  **error)
{
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &cli->json,
      "Print JSON, a stable format for scripts", NULL },
    { "address", 0, 0, G_OPTION_ARG_STRING, &cli->address,
      "Talk to vmleased on the D-Bus bus at ADDR, not the system bus", "ADDR" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      "Print vmleasectl's version and exit", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autofree char *description = main_description ();
  /* max_args G_MAXUINT: stop at COMMAND, leave its options to it. */
  const VmlCliSpec spec = { entries, description, NULL, 0, G_MAXUINT };

  if (!vml_cli_parse (cli, &toplevel, &spec, &argc, &argv, error))
    return FALSE;
  if (version)
    {
      g_print ("vmleasectl %s\n", VERSION);
      return TRUE;
    }
  return vml_cli_dispatch (cli, commands, G_N_ELEMENTS (commands), argc, argv, error);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(VmlCli) cli = NULL;
  g_autoptr(GError) error = NULL;

  setlocale (LC_ALL, "");
  cli = vml_cli_new ();
  if (!run (cli, argc, argv, &error))
    return vml_cli_report_error (cli, error);
  return VML_EXIT_OK;
}
