/* vml-lease-storage.c: how a lease's storage looks from this host
 * (StorageState), and the Warning a lease held here gives when that storage
 * starts failing (udev saw its lockspace's block device removed or gone
 * read-only), before sanlock revokes it, or that comes to be held here while
 * its storage is failing already. */
#include "config.h"

#include "vml-lease-private.h"

#define WARNING_STORAGE_FAILING "storage-failing"

static const char *
storage_state_of (VmlLockspaceState state)
{
  switch (state)
    {
    case VML_LOCKSPACE_JOINED:  return "ok";
    case VML_LOCKSPACE_FAILING: return "failing";
    case VML_LOCKSPACE_JOINING: return "joining";
    case VML_LOCKSPACE_LOST:
    case VML_LOCKSPACE_REMOVED:
    default:                    return "lost";
    }
}

const char *
lease_storage_state (VmlLease *self)
{
  return storage_state_of (vml_lockspace_get_state (self->lockspace));
}

static void
emit_storage_warning (VmlLease *self)
{
  VmlLockspace *ls = self->lockspace;
  const char *why = vml_lockspace_get_error (ls) ? vml_lockspace_get_error (ls) : "storage trouble";
  g_autofree char *message = g_strdup_printf (
      "the storage of lockspace '%s' is failing on this host (%s); sanlock will revoke the "
      "lease, and the VM process will be fenced (%s), unless it comes back within about %u s",
      vml_lockspace_get_name (ls), why, vml_fence_to_string (self->fence),
      8 * vml_lockspace_get_io_timeout (ls));
  GVariantDict details;

  g_variant_dict_init (&details, NULL);
  g_variant_dict_insert (&details, "lockspace", "s", vml_lockspace_get_name (ls));
  g_variant_dict_insert (&details, "error", "s", why);
  g_variant_dict_insert (&details, "path", "s", vml_lockspace_get_path (ls));
  g_variant_dict_insert (&details, "host_id", "t", vml_lockspace_get_host_id (ls));
  g_variant_dict_insert (&details, "state", "s", lease_state_names[self->state]);
  g_variant_dict_insert (&details, "fence", "s", vml_fence_to_string (self->fence));
  g_variant_dict_insert (&details, "fence_pid", "u", self->fence_pid);
  g_variant_dict_insert (&details, "io_timeout", "u", vml_lockspace_get_io_timeout (ls));
  g_variant_dict_insert (&details, "time", "t", (guint64) g_get_real_time ());
  g_variant_dict_insert (&details, "message", "s", message);
  vml_log (G_LOG_LEVEL_WARNING,
           LEASE_ABOUT (self, .path = vml_lockspace_get_path (ls),
                        .host_id = vml_lockspace_get_host_id (ls),
                        .holder_pid = self->holder ? (int) vml_holder_get_pid (self->holder) : 0),
           "Warning (%s): %s", WARNING_STORAGE_FAILING, message);
  vml_dbus_lease_emit_warning (self->iface, WARNING_STORAGE_FAILING,
                               g_variant_dict_end (&details));
}

/* Also for a lease that comes to be held while its lockspace is failing
 * already: no state change will tell its holder's user then. */
void
lease_storage_warn_if_failing (VmlLease *self)
{
  if (g_str_equal (lease_storage_state (self), "failing") && lease_state_has_holder (self->state))
    emit_storage_warning (self);
}

static void
on_lockspace_state (VmlLockspace *ls, GParamSpec *pspec, gpointer user_data)
{
  VmlLease *self = VML_LEASE (user_data);
  const char *now = lease_storage_state (self);

  if (g_strcmp0 (now, vml_dbus_lease_get_storage_state (self->iface)) == 0)
    return;
  vml_dbus_lease_set_storage_state (self->iface, now);
  lease_storage_warn_if_failing (self);
}

void
lease_storage_follow (VmlLease *self)
{
  vml_dbus_lease_set_storage_state (self->iface, lease_storage_state (self));
  g_signal_connect_object (self->lockspace, "notify::state", G_CALLBACK (on_lockspace_state),
                           self, 0);
}
