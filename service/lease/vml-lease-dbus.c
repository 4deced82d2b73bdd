/* vml-lease-dbus.c: a lease as the bus sees it: vml_lease_new builds the
 * object and its D-Bus skeleton, and the method table hands each call,
 * once the authority allowed it, to its operation (vml-lease-acquire.c,
 * -release.c, -inquire.c, -transfer.c). The object itself is in
 * vml-lease-core.c; vml-lease-private.h lists the layers below this file. */
#include "config.h"

#include "vml-dispatch.h"
#include "vml-lease-private.h"
#include "vml-object-path.h"

/* ---------------------------------------------------------------------- */
/* D-Bus dispatch: every method goes through the authority before its     */
/* handler runs; polkit is told whose lease it is and what it is about.   */

static void
describe_lease (VmlLease *self, GDBusMethodInvocation *invocation, guint owner_uid,
                VmlAuthTarget *target)
{
  target->owner_uid = owner_uid;
  target->vm_uuid = self->uuid;
  target->vm_name = self->name;
  target->lockspace = vml_lockspace_get_name (self->lockspace);
  lease_remember_authorized_owner (invocation, owner_uid);
}

static void
describe_held (GObject *object, GDBusMethodInvocation *invocation, VmlAuthTarget *target)
{
  VmlLease *self = VML_LEASE (object);

  describe_lease (self, invocation,
                  lease_state_is_held (self->state) ? self->owner_uid : VML_UID_NONE, target);
}

/* Acquire with force takes the lease from another host: polkit's .seize
 * decides that, before the options are looked at any further. */
static void
describe_acquire (GObject *object, GDBusMethodInvocation *invocation, VmlAuthTarget *target)
{
  g_autoptr(GVariant) options = NULL;
  gboolean force = FALSE;

  describe_held (object, invocation, target);
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  if (g_variant_lookup (options, "force", "b", &force))
    target->seize = force;
}

/* A hand-off in progress has a holder without being "held": its owner
 * still decides. */
static void
describe_transfer (GObject *object, GDBusMethodInvocation *invocation, VmlAuthTarget *target)
{
  VmlLease *self = VML_LEASE (object);

  describe_lease (self, invocation,
                  lease_state_has_holder (self->state) ? self->owner_uid : VML_UID_NONE, target);
}

static const VmlMethod lease_methods[] = {
  { "Acquire",  describe_acquire,  lease_acquire_authorized },
  { "Release",  describe_held,     lease_release_authorized },
  { "AttachDisks", describe_held,  lease_attach_disks_authorized },
  { "DetachDisks", describe_held,  lease_detach_disks_authorized },
  { "Inquire",  describe_held,     lease_inquire_authorized },
  { "Transfer", describe_transfer, lease_transfer_authorized },
};

VmlLease *
vml_lease_new (const VmlLeaseContext *ctx,
               const char            *uuid,
               const char            *name,
               VmlLockspace          *lockspace,
               const char            *path,
               guint64                offset,
               gboolean               indexed)
{
  VmlLease *self = g_object_new (VML_TYPE_LEASE, NULL);

  self->authority = g_object_ref (ctx->authority);
  self->store = g_object_ref (ctx->store);
  self->holders = g_object_ref (ctx->holders);
  self->uuid = g_ascii_strdown (uuid, -1);
  self->name = g_strdup (name);
  self->lockspace = g_object_ref (lockspace);
  self->path = g_strdup (path);
  self->offset = offset;
  self->indexed = indexed;
  self->object_path = vml_lease_object_path (self->uuid);
  self->sanlock = lease_sanlock_new (self->uuid, lockspace, path, offset);

  self->iface = vml_dbus_lease_skeleton_new ();
  vml_dbus_lease_set_uuid (self->iface, self->uuid);
  vml_dbus_lease_set_name (self->iface, self->name);
  vml_dbus_lease_set_lockspace (self->iface, vml_lockspace_get_name (lockspace));
  vml_dbus_lease_set_transfer_step (self->iface, "");
  vml_dbus_lease_set_disks (self->iface, g_variant_new_array (G_VARIANT_TYPE ("(ss)"), NULL, 0));
  lease_set_state (self, LEASE_FREE);
  lease_publish_holding (self);
  lease_storage_follow (self);
  vml_dispatch_serve (G_OBJECT (self), G_DBUS_INTERFACE_SKELETON (self->iface), self->authority,
                      lease_methods, G_N_ELEMENTS (lease_methods));
  self->object = vml_dbus_object_skeleton_new (self->object_path);
  vml_dbus_object_skeleton_set_lease (self->object, self->iface);
  return self;
}
