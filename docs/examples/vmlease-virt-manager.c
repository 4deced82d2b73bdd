/* vmlease-virt-manager.c BUS1 BUS2 [LOCKSPACE]: libvmlease-1 from C, as a virt manager
 * uses it (docs/libvmlease.md): take a VM's lease before starting the VM,
 * with the VM process as fence target; hear `lost` when another host seizes
 * it; hand a lease over during a migration, one step per QEMU event.
 * LOCKSPACE (default "sandbox", as docs/sandbox.md names it) is joined on
 * both hosts. `sleep` processes stand in for QEMU. Built by lib/meson.build and run
 * against the sandbox by tests/integration/test_lib_demo.py.
 *
 *   cc vmlease-virt-manager.c $(pkg-config --cflags --libs vmlease-1)
 */
#include <stdio.h>
#include <stdlib.h>

#include <vmlease.h>

static GSubprocess *
start_vm (void)
{
  const char *argv[] = { "sleep", "600", NULL };
  g_autoptr(GError) error = NULL;
  GSubprocess *vm = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_NONE, &error);

  if (vm == NULL)
    g_error ("cannot start a VM: %s", error->message);
  return vm;
}

static guint
vm_pid (GSubprocess *vm)
{
  return (guint) g_ascii_strtoull (g_subprocess_get_identifier (vm), NULL, 10);
}

static void
on_lost (VmleaseLease *lease, VmleaseLostReason reason, GVariant *details, gpointer user_data)
{
  g_autoptr(GEnumClass) reasons = g_type_class_ref (VMLEASE_TYPE_LOST_REASON);
  const char *message = NULL;

  g_variant_lookup (details, "message", "&s", &message);
  /* A virt manager marks the VM as fenced here and tells its user why. */
  printf ("lost: %s: %s\n", g_enum_get_value (reasons, reason)->value_nick,
          message ? message : "");
}

static void
check (gboolean ok, GError *error, const char *what)
{
  if (ok)
    return;
  if (g_error_matches (error, VMLEASE_ERROR, VMLEASE_ERROR_BUSY))
    fprintf (stderr, "%s: another host holds the lease: %s\n", what, error->message);
  else
    fprintf (stderr, "%s: %s\n", what, error->message);
  exit (1);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VmleaseClient) one = NULL, two = NULL;
  g_autoptr(GSubprocess) vm = NULL, src_vm = NULL, dst_vm = NULL;
  g_autoptr(VmleaseLease) lease = NULL, seized = NULL, moving = NULL;
  g_autoptr(VmleaseAcquireOptions) take = NULL, force = NULL;
  g_autoptr(VmleaseTransferOptions) incoming = NULL;
  g_autoptr(VmleaseMigration) migration = NULL;
  g_autofree char *a = g_uuid_string_random (), *b = g_uuid_string_random ();
  const char *lockspace;

  setvbuf (stdout, NULL, _IOLBF, 0);   /* each line as it happens, also into a pipe */
  if (argc != 3 && argc != 4)
    {
      fprintf (stderr, "usage: %s BUS-ADDRESS-OF-HOST-1 BUS-ADDRESS-OF-HOST-2 [LOCKSPACE]\n",
               argv[0]);
      return 2;
    }
  lockspace = argc == 4 ? argv[3] : "sandbox";
  one = vmlease_client_new_for_address_sync (argv[1], NULL, &error);
  check (one != NULL, error, "host 1");
  two = vmlease_client_new_for_address_sync (argv[2], NULL, &error);
  check (two != NULL, error, "host 2");

  /* 1. The lease before the VM runs: a virt manager starts QEMU paused
   * (-S), takes the lease with QEMU's pid as fence target, then lets the
   * guest run; if the lease cannot be had, it stops QEMU instead. */
  lease = vmlease_client_create_lease_sync (one, a, lockspace, "demo-a", NULL, &error);
  check (lease != NULL, error, "create");
  vm = start_vm ();
  take = vmlease_acquire_options_new ();
  vmlease_acquire_options_set_pid (take, vm_pid (vm));
  vmlease_acquire_options_set_fence (take, VMLEASE_FENCE_KILL);
  check (vmlease_lease_acquire_sync (lease, take, NULL, &error), error, "acquire");
  printf ("host 1 holds %s\n", a);

  /* 2. Lost: the VM was fenced (killed here) before anyone else could
   * write its disks. A virt manager with a main loop just connects; this
   * program runs the loop in vmlease_lease_wait_lost_sync(). */
  g_signal_connect (lease, "lost", G_CALLBACK (on_lost), NULL);
  seized = vmlease_client_get_lease_sync (two, a, NULL, &error);
  check (seized != NULL, error, "host 2 get");
  force = vmlease_acquire_options_new ();
  vmlease_acquire_options_set_force (force, TRUE);
  vmlease_acquire_options_set_wait (force, 60);
  check (vmlease_lease_acquire_sync (seized, force, NULL, &error), error, "seize");
  check (vmlease_lease_wait_lost_sync (lease, 30000, NULL, &error), error, "wait for lost");
  check (g_subprocess_wait (vm, NULL, &error), error, "wait for the VM");
  printf ("VM fenced: %s\n", g_subprocess_get_if_signaled (vm) ? "yes" : "no");

  /* 3. A migration of VM b from host 1 to host 2, each step at its event. */
  moving = vmlease_client_create_lease_sync (one, b, lockspace, "demo-b", NULL, &error);
  check (moving != NULL, error, "create");
  src_vm = start_vm ();
  vmlease_acquire_options_set_pid (take, vm_pid (src_vm));
  check (vmlease_lease_acquire_sync (moving, take, NULL, &error), error, "acquire");
  migration = vmlease_migration_new (one, two, b);
  /* the destination QEMU runs (-S -incoming defer), before the migration */
  dst_vm = start_vm ();
  check (vmlease_migration_begin_sync (migration, NULL, &error), error, "begin");
  incoming = vmlease_transfer_options_new ();
  vmlease_transfer_options_set_pid (incoming, vm_pid (dst_vm));
  check (vmlease_migration_prepare_sync (migration, incoming, NULL, &error), error, "prepare");
  /* migrate-incoming, migrate; then the source's STOP event */
  check (vmlease_migration_perform_sync (migration, FALSE, NULL, &error), error, "perform");
  /* perform returned: finish, then `cont` on the destination */
  check (vmlease_migration_finish_sync (migration, TRUE, NULL, &error), error, "finish");
  /* the source's MIGRATION completed event */
  check (vmlease_migration_confirm_sync (migration, TRUE, NULL, &error), error, "confirm");
  printf ("migrated %s to host 2\n", b);

  /* Clean up: both leases are host 2's now. */
  for (guint i = 0; i < 2; i++)
    {
      const char *u = i == 0 ? a : b;
      g_autoptr(VmleaseLease) l = vmlease_client_get_lease_sync (two, u, NULL, &error);

      check (l != NULL, error, "get");
      check (vmlease_lease_release_sync (l, NULL, &error), error, "release");
      check (vmlease_client_delete_lease_sync (two, u, NULL, &error), error, "delete");
    }
  /* force_exit() only queues the SIGKILL to GLib's worker thread: wait,
   * or this program may end before it is sent. */
  g_subprocess_force_exit (src_vm);
  g_subprocess_force_exit (dst_vm);
  check (g_subprocess_wait (src_vm, NULL, &error), error, "stop the source VM");
  check (g_subprocess_wait (dst_vm, NULL, &error), error, "stop the destination VM");
  return 0;
}
