/* vml-lease-inquire.c: VmlLease's Inquire — local state plus a fresh read
 * of the lease on storage. Not queued behind other operations (it changes
 * nothing), but its sanlock command on the holder waits for the lease's
 * command lock (vml-lease-sanlock.h). Open to everyone, so it runs in the
 * read pool (vml-read-pool.h). */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"
#include "vml-read-pool.h"

static const VmlOptionSpec no_options[] = { { NULL } };


typedef struct {
  VmlHolder        *holder;
  VmlLeaseOwners   *owners;
  GError           *storage_error;
  gboolean          held_here;
  gboolean          held_shared;
  guint64           held_lver;
  GPtrArray        *disks;        /* copies of the lease's (LeaseDisk) */
  GPtrArray        *disk_owners;  /* VmlLeaseOwners or NULL, one per disk */
} InquireData;

static void
disk_owners_free (gpointer owners)
{
  if (owners != NULL)
    lease_owners_free (owners);
}

static void
inquire_data_free (InquireData *data)
{
  g_clear_object (&data->holder);
  g_clear_pointer (&data->owners, lease_owners_free);
  g_clear_error (&data->storage_error);
  g_clear_pointer (&data->disks, g_ptr_array_unref);
  g_clear_pointer (&data->disk_owners, g_ptr_array_unref);
  g_free (data);
}

static void
inquire_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  InquireData *data = task_data;
  g_autoptr(GError) error = NULL;

  data->owners = lease_sanlock_read_owners (self->sanlock, &data->storage_error);
  for (guint i = 0; i < data->disks->len; i++)
    {
      LeaseDisk *disk = data->disks->pdata[i];

      g_ptr_array_add (data->disk_owners,
                       lease_sanlock_disk_owners (self->sanlock, disk->name, disk->offset, NULL));
    }
  if (data->holder != NULL)
    {
      pid_t pid = vml_holder_get_pid (data->holder);

      if (!lease_sanlock_inquire_holder (self->sanlock, pid, &data->held_here,
                                         &data->held_shared, &data->held_lver, &error))
        vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self, .holder_pid = pid),
                 "Inquire of holder %d failed: %s", (int) pid, error->message);
    }
  g_task_return_boolean (task, TRUE);
}

static GVariant *
host_ids_variant (GArray *ids)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_UINT64, ids ? ids->data : NULL,
                                    ids ? ids->len : 0, sizeof (guint64));
}

/* A host other than this one holding the lease shared, 0 if none (or
 * storage could not be read). */
static guint64
other_sharer (VmlLease *self, VmlLeaseOwners *owners)
{
  guint64 me = vml_lockspace_get_host_id (self->lockspace);

  for (guint i = 0; owners != NULL && i < owners->shared_owners->len; i++)
    if (g_array_index (owners->shared_owners, guint64, i) != me)
      return g_array_index (owners->shared_owners, guint64, i);
  return 0;
}

static GVariant *
build_inquire_reply (VmlLease *self, InquireData *data)
{
  VmlLeaseOwners *owners = data->owners;
  GVariant *transfer;
  GVariantDict dict;

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "uuid", "s", self->uuid);
  g_variant_dict_insert (&dict, "name", "s", self->name);
  g_variant_dict_insert (&dict, "lockspace", "s", vml_lockspace_get_name (self->lockspace));
  g_variant_dict_insert (&dict, "state", "s", lease_state_names[self->state]);
  g_variant_dict_insert (&dict, "mode", "s", vml_dbus_lease_get_mode (self->iface));
  g_variant_dict_insert (&dict, "holder_pid", "u", vml_dbus_lease_get_holder_pid (self->iface));
  g_variant_dict_insert (&dict, "fence_pid", "u", self->fence_pid);
  g_variant_dict_insert (&dict, "fence", "s", vml_fence_to_string (self->fence));
  /* Named as in Lost's details: present only for a QMP pause fence. */
  if (self->fence_qmp != NULL)
    g_variant_dict_insert (&dict, "fence_qmp", "s", self->fence_qmp);
  g_variant_dict_insert (&dict, "owner_uid", "u",
                         lease_state_is_held (self->state) ? self->owner_uid : 0);
  g_variant_dict_insert (&dict, "host_id", "t", vml_lockspace_get_host_id (self->lockspace));
  g_variant_dict_insert (&dict, "path", "s", self->path);
  g_variant_dict_insert (&dict, "offset", "t", self->offset);
  g_variant_dict_insert (&dict, "held_here", "b", data->held_here);
  g_variant_dict_insert (&dict, "storage_state", "s", lease_storage_state (self));
  g_variant_dict_insert (&dict, "sector_size", "u",
                         vml_lockspace_sector_size_at (self->lockspace, self->path));
  transfer = vml_transfer_describe (&self->transfer, other_sharer (self, owners));
  if (transfer != NULL)
    g_variant_dict_insert_value (&dict, "transfer", transfer);
  {
    GVariantBuilder disks;

    g_variant_builder_init (&disks, G_VARIANT_TYPE ("aa{sv}"));
    for (guint i = 0; i < data->disks->len; i++)
      {
        LeaseDisk *disk = data->disks->pdata[i];
        VmlLeaseOwners *o = data->disk_owners->pdata[i];
        GVariantDict d;

        g_variant_dict_init (&d, NULL);
        g_variant_dict_insert (&d, "key", "s", disk->key);
        g_variant_dict_insert (&d, "resource", "s", disk->name);
        g_variant_dict_insert (&d, "offset", "t", disk->offset);
        g_variant_dict_insert (&d, "mode", "s", vml_mode_to_string (disk->mode));
        g_variant_dict_insert (&d, "holder_pid", "u",
                               disk->holder ? (guint) vml_holder_get_pid (disk->holder) : 0);
        if (o != NULL)
          {
            g_variant_dict_insert (&d, "lver", "t", o->lver);
            g_variant_dict_insert (&d, "owner", "t", o->owner);
            g_variant_dict_insert_value (&d, "shared_owners", host_ids_variant (o->shared_owners));
          }
        g_variant_builder_add_value (&disks, g_variant_dict_end (&d));
      }
    g_variant_dict_insert_value (&dict, "disks", g_variant_builder_end (&disks));
  }
  if (owners == NULL)
    {
      g_variant_dict_insert (&dict, "storage_error", "s", data->storage_error->message);
      return g_variant_dict_end (&dict);
    }
  g_variant_dict_insert (&dict, "lver", "t", owners->lver);
  g_variant_dict_insert (&dict, "owner", "t", owners->owner);
  g_variant_dict_insert (&dict, "owner_generation", "t", owners->owner_generation);
  g_variant_dict_insert_value (&dict, "shared_owners", host_ids_variant (owners->shared_owners));
  g_variant_dict_insert (&dict, "owners_live", "b", owners->owners_live);
  g_variant_dict_insert_value (&dict, "live_hosts", host_ids_variant (owners->live_hosts));
  return g_variant_dict_end (&dict);
}

static void
on_inquired (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  InquireData *data = g_task_get_task_data (G_TASK (result));

  if (lease_is_gone_from_storage (self, data->storage_error))
    {
      g_dbus_method_invocation_return_error (invocation, VML_ERROR, VML_ERROR_NOT_FOUND,
                                             "the lease of %s is no longer on storage (deleted "
                                             "from another host?): %s", self->uuid,
                                             data->storage_error->message);
      lease_vanish (self);
      return;
    }
  if (data->owners != NULL)
    {
      /* What storage says now is better than what we saw last. */
      vml_dbus_lease_set_owner (self->iface, data->owners->owners_live ? data->owners->owner : 0);
      vml_dbus_lease_set_version (self->iface, data->owners->lver);
    }
  g_dbus_method_invocation_return_value (invocation,
                                         g_variant_new ("(@a{sv})",
                                                        build_inquire_reply (self, data)));
}

void
lease_inquire_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlLease *self = VML_LEASE (object);
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;
  InquireData *data;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  if (!vml_options_check (options, "Inquire", no_options, &error))
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  data = g_new0 (InquireData, 1);
  data->holder = self->holder ? g_object_ref (self->holder) : NULL;
  data->disks = lease_disks_copy (self->disks);
  data->disk_owners = g_ptr_array_new_with_free_func (disk_owners_free);
  task = g_task_new (self, NULL, on_inquired, g_object_ref (invocation));
  g_task_set_task_data (task, data, (GDestroyNotify) inquire_data_free);
  vml_read_pool_run (task, inquire_thread);
}

