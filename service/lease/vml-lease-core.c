/* vml-lease-core.c: the VmlLease object itself (see vml-lease.h): its
 * type, its state and the properties that show it, the hand-off's part of
 * them, and the public getters. Everything else of the lease sits above
 * this file (vml-lease-private.h lists the layers).
 *
 * Threading: the GObject and its D-Bus skeleton are touched only on the main
 * loop. Worker threads get the lease's immutable facts (uuid, lockspace
 * name, location), its sanlock door and a VmlHolder; everything they learn
 * comes back through the GTask and is applied on the main loop. */
#include "config.h"

#include <unistd.h>

#include "vml-error.h"
#include "vml-lease-private.h"

const char *const lease_state_names[LEASE_N_STATES] = {
  [LEASE_FREE] = "free",
  [LEASE_ACQUIRING] = "acquiring",
  [LEASE_HELD] = "held",
  [LEASE_HELD_SHARED] = "held-shared",
  [LEASE_RELEASING] = "releasing",
  [LEASE_MIGRATING_OUT] = "migrating-out",
  [LEASE_MIGRATING_IN] = "migrating-in",
  [LEASE_LOST] = "lost",
  [LEASE_CONVERTING] = "converting",
};

G_DEFINE_TYPE (VmlLease, vml_lease, G_TYPE_OBJECT)

enum { SIGNAL_VANISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

gboolean
lease_state_is_held (LeaseState state)
{
  return state == LEASE_HELD || state == LEASE_HELD_SHARED;
}

gboolean
lease_state_has_holder (LeaseState state)
{
  return lease_state_is_held (state) || state == LEASE_MIGRATING_OUT ||
         state == LEASE_MIGRATING_IN || state == LEASE_CONVERTING;
}

void
lease_set_state (VmlLease *self, LeaseState state)
{
  self->state = state;
  vml_dbus_lease_set_state (self->iface, lease_state_names[state]);
}

void
lease_publish_holding (VmlLease *self)
{
  gboolean held = lease_state_is_held (self->state);
  /* In a hand-off the holder holds it shared, except on the source after
   * perform, where it holds nothing. */
  gboolean holds = held || self->state == LEASE_MIGRATING_IN || self->state == LEASE_CONVERTING ||
                   (self->state == LEASE_MIGRATING_OUT &&
                    g_strcmp0 (self->transfer.step, "begin") == 0);
  guint64 host_id = vml_lockspace_get_host_id (self->lockspace);

  vml_dbus_lease_set_mode (self->iface, holds ? vml_mode_to_string (self->mode) : "");
  vml_dbus_lease_set_holder_pid (self->iface,
                                 self->holder ? (guint) vml_holder_get_pid (self->holder) : 0);
  vml_dbus_lease_set_fence_pid (self->iface, self->fence_pid);
  vml_dbus_lease_set_fence (self->iface, vml_fence_to_string (self->fence));
  vml_dbus_lease_set_version (self->iface, self->lver);
  if (held)
    vml_dbus_lease_set_owner (self->iface, self->mode == VML_MODE_EXCLUSIVE ? host_id : 0);
}

gboolean
lease_lockspace_ready (VmlLease *self, GError **error)
{
  if (vml_lockspace_is_joined (self->lockspace))
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_LOCKSPACE_NOT_JOINED,
               "this host has not joined lockspace '%s' (it is %s); "
               "AddLockspace it again first",
               vml_lockspace_get_name (self->lockspace),
               vml_lockspace_state_to_string (vml_lockspace_get_state (self->lockspace)));
  return FALSE;
}

/* sanlock found no lease (of this name) at our location: another host
 * deleted it. Worth saying, and the object should go. */
gboolean
lease_is_gone_from_storage (VmlLease *self, const GError *error)
{
  /* Never while a holder here has it (held, or either side of a hand-off):
   * the object is the only way to see and release what sanlock holds. */
  return error != NULL && g_error_matches (error, VML_ERROR, VML_ERROR_NOT_FOUND) &&
         !lease_state_has_holder (self->state) && self->holder == NULL;
}

/* Not while an operation is queued or runs (an Acquire of a lease created
 * again at the same place, say): it finds out for itself, and what it
 * takes must stay visible. */
void
lease_vanish (VmlLease *self)
{
  if (!g_queue_is_empty (&self->ops))
    return;
  vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self, .message_id = VML_MSGID_LEASE_VANISHED),
           "The lease is no longer on storage (deleted from another host); removing its object");
  self->vanished = TRUE;
  g_signal_emit (self, signals[SIGNAL_VANISHED], 0);
}

void
lease_drop_holder (VmlLease *self)
{
  if (self->holder == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->holder, self);
  g_clear_object (&self->holder);
}

void
lease_transfer_set (VmlLease *self, VmlTransferRole role, const char *id, const char *step,
                    guint64 peer)
{
  vml_transfer_set (&self->transfer, role, id, step, peer);
  vml_dbus_lease_set_transfer_step (self->iface, step ? step : "");
}

void
lease_transfer_clear (VmlLease *self)
{
  vml_transfer_clear (&self->transfer);
  vml_dbus_lease_set_transfer_step (self->iface, "");
  g_clear_pointer (&self->transfer_qmp, vml_qmp_close);
}

void
lease_transfer_load (VmlLease *self, GKeyFile *record)
{
  vml_transfer_load (&self->transfer, record);
  vml_dbus_lease_set_transfer_step (self->iface, self->transfer.step ? self->transfer.step : "");
}

/* ---------------------------------------------------------------------- */

static void
vml_lease_dispose (GObject *object)
{
  VmlLease *self = VML_LEASE (object);

  lease_drop_holder (self);
  g_clear_object (&self->iface);
  g_clear_object (&self->object);
  g_clear_object (&self->lockspace);
  g_clear_object (&self->authority);
  g_clear_object (&self->store);
  g_clear_object (&self->holders);
  g_clear_object (&self->acquiring_holder);
  g_clear_object (&self->marker_holder);
  for (guint i = 0; self->disk_holders != NULL && i < self->disk_holders->len; i++)
    g_signal_handlers_disconnect_by_data (self->disk_holders->pdata[i], self);
  g_clear_pointer (&self->disks, g_ptr_array_unref);
  g_clear_pointer (&self->disk_holders, g_ptr_array_unref);
  G_OBJECT_CLASS (vml_lease_parent_class)->dispose (object);
}

static void
vml_lease_finalize (GObject *object)
{
  VmlLease *self = VML_LEASE (object);

  g_warn_if_fail (g_queue_is_empty (&self->ops));
  g_free (self->uuid);
  g_free (self->name);
  g_free (self->path);
  g_free (self->object_path);
  g_free (self->lost_resource);
  g_free (self->lost_disk);
  g_free (self->missing_disk);
  g_clear_pointer (&self->pending_disks, g_ptr_array_unref);
  vml_transfer_destroy (&self->transfer);
  g_clear_pointer (&self->sanlock, lease_sanlock_free);
  if (self->fence_pidfd >= 0)
    close (self->fence_pidfd);
  g_free (self->fence_qmp);
  vml_qmp_close (self->transfer_qmp);
  G_OBJECT_CLASS (vml_lease_parent_class)->finalize (object);
}

static void
vml_lease_class_init (VmlLeaseClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vml_lease_dispose;
  object_class->finalize = vml_lease_finalize;

  /* "vanished": the lease is no longer on storage (deleted from another
   * host) and not held here; its object should go. */
  signals[SIGNAL_VANISHED] = g_signal_new ("vanished", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                           G_TYPE_NONE, 0);
}

static void
vml_lease_init (VmlLease *self)
{
  g_queue_init (&self->ops);
  self->fence_pidfd = -1;
  self->disks = g_ptr_array_new_with_free_func ((GDestroyNotify) lease_disk_free);
  self->disk_holders = g_ptr_array_new_with_free_func (g_object_unref);
}

/* ---------------------------------------------------------------------- */
/* Public getters                                                         */

void
vml_lease_transfer_requested (VmlLease *self, guint64 from_host, guint64 from_generation,
                              guint64 lver)
{
  GVariantDict details;

  if (self->state != LEASE_HELD)
    return;   /* asked of whoever held it then; not us any more */
  /* sanlock delivers a message two or three times: say it once. */
  if (vml_transfer_request_is_repeat (&self->transfer, from_host, lver,
                                      g_get_monotonic_time ()))
    return;
  g_variant_dict_init (&details, NULL);
  g_variant_dict_insert (&details, "generation", "t", from_generation);
  g_variant_dict_insert (&details, "lver", "t", lver);
  g_variant_dict_insert (&details, "time", "t", (guint64) g_get_real_time ());
  vml_log (G_LOG_LEVEL_MESSAGE,
           LEASE_ABOUT (self, .host_id = from_host, .message_id = VML_MSGID_LEASE_REQUESTED),
           "Host %" G_GUINT64_FORMAT " asks for the lease", from_host);
  vml_dbus_lease_emit_transfer_requested (self->iface, from_host, g_variant_dict_end (&details));
}

guint64
vml_lease_message_key_of (const char *uuid)
{
  /* FNV-1a, 64 bits: stable across hosts and builds, unlike g_str_hash */
  guint64 key = G_GUINT64_CONSTANT (0xcbf29ce484222325);

  for (const char *p = uuid; *p != '\0'; p++)
    {
      key ^= (guchar) g_ascii_tolower (*p);
      key *= G_GUINT64_CONSTANT (0x100000001b3);
    }
  return key != 0 ? key : 1;   /* sanlock takes no event 0 */
}

guint64
vml_lease_get_message_key (VmlLease *self)
{
  return vml_lease_message_key_of (self->uuid);
}
const char *vml_lease_get_uuid (VmlLease *self) { return self->uuid; }
VmlLockspace *
vml_lease_get_lockspace (VmlLease *self)
{
  return self->lockspace;
}
GDBusObjectSkeleton *
vml_lease_get_object (VmlLease *self)
{
  return G_DBUS_OBJECT_SKELETON (self->object);
}
const char *vml_lease_get_object_path (VmlLease *self) { return self->object_path; }
gboolean vml_lease_is_held (VmlLease *self) { return lease_state_is_held (self->state); }
gboolean vml_lease_is_busy (VmlLease *self) { return !g_queue_is_empty (&self->ops); }

char *
vml_lease_describe_wait (VmlLease *self)
{
  gint64 left = self->acquire_wait_deadline - g_get_monotonic_time ();

  if (self->state != LEASE_ACQUIRING || self->acquire_wait_deadline == 0)
    return NULL;
  return g_strdup_printf ("an Acquire of lease %s by uid %u is waiting for another host to "
                          "let it go (up to %" G_GINT64_FORMAT " s more, or until its caller "
                          "leaves the bus)", self->uuid, self->acquire_wait_uid,
                          MAX (left, 0) / G_USEC_PER_SEC + 1);
}
