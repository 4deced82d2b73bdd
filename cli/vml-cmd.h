/* vml-cmd.h: the vmleasectl commands (one file per group) and the listings
 * that more than one command prints. */
#pragma once

#include "vml-cli.h"

G_BEGIN_DECLS

#define VML_CMD_DECLARE(fn) VML_CLI_HANDLER (fn)

/* vml-cmd-status.c */
VML_CMD_DECLARE (vml_cmd_status);

/* vml-cmd-lockspace.c: "lockspace add|remove|list" */
VML_CMD_DECLARE (vml_cmd_lockspace);

/* vml-cmd-lease.c */
VML_CMD_DECLARE (vml_cmd_create);
VML_CMD_DECLARE (vml_cmd_delete);
VML_CMD_DECLARE (vml_cmd_list);
VML_CMD_DECLARE (vml_cmd_acquire);
VML_CMD_DECLARE (vml_cmd_release);
VML_CMD_DECLARE (vml_cmd_inquire);

/* vml-cmd-disk.c: "disk attach|detach|list" */
VML_CMD_DECLARE (vml_cmd_disk);

/* vml-cmd-monitor.c */
VML_CMD_DECLARE (vml_cmd_monitor);

/* vml-cmd-transfer.c: "transfer begin|prepare|perform|finish|confirm|cancel" */
VML_CMD_DECLARE (vml_cmd_transfer);

/* vml-cmd-migrate.c */
VML_CMD_DECLARE (vml_cmd_migrate);

/* The GOptionEntry rows that acquire and run share: --shared, --wait
 * SECONDS and --force, into @shared_arg (gboolean *), @wait_arg (char **)
 * and @force_arg (gboolean *). */
#define VML_CMD_ACQUIRE_ENTRIES(shared_arg, wait_arg, force_arg)                     \
  { "shared", 0, 0, G_OPTION_ARG_NONE, (shared_arg),                                 \
    "Hold the lease shared instead of exclusive", NULL },                           \
  { "wait", 0, 0, G_OPTION_ARG_STRING, (wait_arg),                                   \
    "While another host holds the lease, keep trying this long (default 0)", "SECONDS" }, \
  { "force", 0, 0, G_OPTION_ARG_NONE, (force_arg),                                   \
    "Seize the lease from the host that holds it (polkit: .seize)", NULL }

/* vml-cmd-run.c: supervisor mode */
VML_CMD_DECLARE (vml_cmd_run);

/* Lockspaces: the Manager's Lockspaces property, a(ststsu), and its
 * LockspaceDetails property, a{sa{sv}} by name (@details may be NULL: a
 * vmleased without it; the sector size is then not shown). */
#define VML_CMD_LOCKSPACES_TYPE ((const GVariantType *) "a(ststsu)")
#define VML_CMD_LOCKSPACE_DETAILS_TYPE ((const GVariantType *) "a{sa{sv}}")
gboolean   vml_cmd_check_lockspaces (GVariant  *lockspaces,
                                     GError   **error);
/* (transfer full) LockspaceDetails from a GetAll reply's a{sv}, or NULL. */
GVariant  *vml_cmd_lockspace_details (GVariant *manager_props);
void       vml_cmd_print_lockspaces (GVariant  *lockspaces,
                                     GVariant  *details);
JsonNode  *vml_cmd_lockspaces_json  (GVariant  *lockspaces,
                                     GVariant  *details);

/* Leases, as vml_cli_get_leases() finds them. */
void       vml_cmd_print_leases     (GPtrArray *leases);
JsonNode  *vml_cmd_leases_json      (GPtrArray *leases);

/* Disks: a lease's Disks property, a(ss) of (key, mode). As JSON, an
 * array of {"uuid" (if @uuid is not NULL), "key", "mode"}; _add() adds those
 * objects to the array being built. For people, "-", "3" or "3 (1 shared)"
 * (also "-" for a value of another type, from an older vmleased). */
JsonNode  *vml_cmd_disks_json       (const char   *uuid,
                                     GVariant     *disks);
void       vml_cmd_disks_json_add   (JsonBuilder  *builder,
                                     const char   *uuid,
                                     GVariant     *disks);
char      *vml_cmd_disks_count      (GVariant     *disks);

G_END_DECLS
