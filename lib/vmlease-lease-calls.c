/* vmlease-lease-calls.c: VmleaseLease's D-Bus methods (Acquire, Release,
 * Inquire, AttachDisks, DetachDisks, Transfer), each as a GTask async call
 * with its finish and sync twins, over the call helpers first here (the
 * lease's proxy and call flags; the object, its properties and signals are
 * vmlease-lease.c's). */
#include "vmlease-lease-private.h"

/* --- calls ---------------------------------------------------------------- */

static void
on_call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GVariant *reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);

  if (reply == NULL)
    {
      _vmlease_error_tidy (error);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, reply, (GDestroyNotify) g_variant_unref);
}

/* Inquire only reads: it never lets polkit ask. */
static GDBusCallFlags
change_flags (VmleaseLease *self, const char *method)
{
  return g_str_equal (method, "Inquire") ? G_DBUS_CALL_FLAGS_NONE : self->call_flags;
}

/* Takes @params (floating is fine). Returns the call's task (transfer
 * none): it lives until the reply, which never comes before the caller's
 * main context runs again. */
GTask *
_vmlease_lease_call (VmleaseLease *self, const char *method, GVariant *params,
            GCancellable *cancellable, GAsyncReadyCallback callback,
            gpointer user_data, gpointer source_tag)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_dbus_proxy_call (self->proxy, method, params, change_flags (self, method),
                     VMLEASE_CALL_TIMEOUT_MS, cancellable, on_call_done, task);
  return task;
}

GVariant *
_vmlease_lease_call_finish (VmleaseLease *self, GAsyncResult *result, gpointer source_tag,
                   GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

GVariant *
_vmlease_lease_call_sync (VmleaseLease *self, const char *method, GVariant *params,
                 GCancellable *cancellable, GError **error)
{
  GVariant *reply = g_dbus_proxy_call_sync (self->proxy, method, params,
                                            change_flags (self, method),
                                            VMLEASE_CALL_TIMEOUT_MS, cancellable, error);

  if (reply == NULL && error != NULL)
    _vmlease_error_tidy (*error);
  return reply;
}

static GVariant *
acquire_params (VmleaseAcquireOptions *options)
{
  g_autoptr(GVariant) o = vmlease_acquire_options_to_variant (options);

  return g_variant_new ("(@a{sv})", o);
}

/**
 * vmlease_lease_acquire:
 * @self: the lease
 * @options: (nullable): what to fence, how long to wait, disks...; %NULL
 *   for the defaults
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the lease is taken or the call failed
 * @user_data: data for @callback
 *
 * Takes the lease for this host (D-Bus `Acquire`). Take it before starting
 * the VM, then start the VM with the fence target the options name (or
 * name it at [method@Vmlease.Lease.acquire] time if the VM process exists).
 * Fails with %VMLEASE_ERROR_BUSY while another host holds it (after
 * [property@Vmlease.AcquireOptions:wait] seconds).
 */
void
vmlease_lease_acquire (VmleaseLease *self, VmleaseAcquireOptions *options,
                       GCancellable *cancellable, GAsyncReadyCallback callback,
                       gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_LEASE (self));
  _vmlease_lease_call (self, "Acquire", acquire_params (options), cancellable, callback,
              user_data, vmlease_lease_acquire);
}

/**
 * vmlease_lease_acquire_finish:
 * @self: the lease
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Lease.acquire].
 *
 * Returns: whether the lease is held here now
 */
gboolean
vmlease_lease_acquire_finish (VmleaseLease *self, GAsyncResult *result, GError **error)
{
  g_autoptr(GVariant) reply = _vmlease_lease_call_finish (self, result, vmlease_lease_acquire, error);

  if (reply != NULL)
    _vmlease_lease_taken (self);
  return reply != NULL;
}

/**
 * vmlease_lease_acquire_sync:
 * @self: the lease
 * @options: (nullable): the options, or %NULL for the defaults
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Takes the lease, blocking; see [method@Vmlease.Lease.acquire].
 *
 * Returns: whether the lease is held here now
 */
gboolean
vmlease_lease_acquire_sync (VmleaseLease *self, VmleaseAcquireOptions *options,
                            GCancellable *cancellable, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  g_return_val_if_fail (VMLEASE_IS_LEASE (self), FALSE);
  reply = _vmlease_lease_call_sync (self, "Acquire", acquire_params (options), cancellable, error);
  if (reply != NULL)
    _vmlease_lease_taken (self);
  return reply != NULL;
}

/**
 * vmlease_lease_release:
 * @self: the lease
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Gives the lease up, with all its disk leases (D-Bus `Release`); after
 * the VM process has ended. %VMLEASE_ERROR_NOT_HELD if it is not held here.
 */
void
vmlease_lease_release (VmleaseLease *self, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_LEASE (self));
  _vmlease_lease_call (self, "Release", g_variant_new ("(a{sv})", NULL), cancellable, callback,
              user_data, vmlease_lease_release);
}

/**
 * vmlease_lease_release_finish:
 * @self: the lease
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Lease.release].
 *
 * Returns: whether the lease was released
 */
gboolean
vmlease_lease_release_finish (VmleaseLease *self, GAsyncResult *result, GError **error)
{
  g_autoptr(GVariant) reply = _vmlease_lease_call_finish (self, result, vmlease_lease_release, error);

  return reply != NULL;
}

/**
 * vmlease_lease_release_sync:
 * @self: the lease
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Gives the lease up, blocking; see [method@Vmlease.Lease.release].
 *
 * Returns: whether the lease was released
 */
gboolean
vmlease_lease_release_sync (VmleaseLease *self, GCancellable *cancellable, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  g_return_val_if_fail (VMLEASE_IS_LEASE (self), FALSE);
  reply = _vmlease_lease_call_sync (self, "Release", g_variant_new ("(a{sv})", NULL), cancellable, error);
  return reply != NULL;
}

/**
 * vmlease_lease_inquire:
 * @self: the lease
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Reads the lease from storage now, with this host's own state (D-Bus
 * `Inquire`); changes nothing. The answer is an `a{sv}` with the keys
 * docs/api.md lists (`state`, `held_here`, `lver`, `owner`,
 * `shared_owners`, `live_hosts`, `transfer`, `disks`...); new keys may come.
 */
void
vmlease_lease_inquire (VmleaseLease *self, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_LEASE (self));
  _vmlease_lease_call (self, "Inquire", g_variant_new ("(a{sv})", NULL), cancellable, callback,
              user_data, vmlease_lease_inquire);
}

static GVariant *
inquire_answer (GVariant *reply)
{
  if (reply == NULL)
    return NULL;
  return g_variant_get_child_value (reply, 0);
}

/**
 * vmlease_lease_inquire_finish:
 * @self: the lease
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Lease.inquire].
 *
 * Returns: (transfer full): the `a{sv}` answer, or %NULL on error
 */
GVariant *
vmlease_lease_inquire_finish (VmleaseLease *self, GAsyncResult *result, GError **error)
{
  g_autoptr(GVariant) reply = _vmlease_lease_call_finish (self, result, vmlease_lease_inquire, error);

  return inquire_answer (reply);
}

/**
 * vmlease_lease_inquire_sync:
 * @self: the lease
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Inquires, blocking; see [method@Vmlease.Lease.inquire].
 *
 * Returns: (transfer full): the `a{sv}` answer, or %NULL on error
 */
GVariant *
vmlease_lease_inquire_sync (VmleaseLease *self, GCancellable *cancellable, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  reply = _vmlease_lease_call_sync (self, "Inquire", g_variant_new ("(a{sv})", NULL), cancellable, error);
  return inquire_answer (reply);
}

static GVariant *
attach_params (VmleaseAcquireOptions *options)
{
  GVariantBuilder b;
  GVariant *disks;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (vmlease_acquire_options_get_wait (options) != 0)
    g_variant_builder_add (&b, "{sv}", "wait",
                           g_variant_new_uint32 (vmlease_acquire_options_get_wait (options)));
  disks = _vmlease_acquire_options_disks (options);
  return g_variant_new ("(@a(ss)a{sv})", disks, &b);
}

/**
 * vmlease_lease_attach_disks:
 * @self: the lease, held here
 * @options: the disks ([method@Vmlease.AcquireOptions.add_disk]) and
 *   [property@Vmlease.AcquireOptions:wait]; the other options do not apply
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Hotplug, before the device is added: takes the disk leases for this VM
 * lease, all or nothing (D-Bus `AttachDisks`).
 */
void
vmlease_lease_attach_disks (VmleaseLease *self, VmleaseAcquireOptions *options,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_LEASE (self));
  g_return_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (options));
  _vmlease_lease_call (self, "AttachDisks", attach_params (options), cancellable, callback,
              user_data, vmlease_lease_attach_disks);
}

/**
 * vmlease_lease_attach_disks_finish:
 * @self: the lease
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Lease.attach_disks].
 *
 * Returns: whether the disk leases are held now
 */
gboolean
vmlease_lease_attach_disks_finish (VmleaseLease *self, GAsyncResult *result, GError **error)
{
  g_autoptr(GVariant) reply = _vmlease_lease_call_finish (self, result, vmlease_lease_attach_disks, error);

  return reply != NULL;
}

/**
 * vmlease_lease_attach_disks_sync:
 * @self: the lease, held here
 * @options: the disks and the wait
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Attaches disks, blocking; see [method@Vmlease.Lease.attach_disks].
 *
 * Returns: whether the disk leases are held now
 */
gboolean
vmlease_lease_attach_disks_sync (VmleaseLease *self, VmleaseAcquireOptions *options,
                                 GCancellable *cancellable, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  g_return_val_if_fail (VMLEASE_IS_LEASE (self), FALSE);
  g_return_val_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (options), FALSE);
  reply = _vmlease_lease_call_sync (self, "AttachDisks", attach_params (options), cancellable, error);
  return reply != NULL;
}

static GVariant *
detach_params (const char * const *keys)
{
  return g_variant_new ("(@asa{sv})", g_variant_new_strv (keys, -1), NULL);
}

/**
 * vmlease_lease_detach_disks:
 * @self: the lease, held here
 * @keys: (array zero-terminated=1): the keys of the disks to give up
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Hot-unplug, after the device is gone: gives those disk leases up; the VM
 * lease and its other disks stay held (D-Bus `DetachDisks`).
 */
void
vmlease_lease_detach_disks (VmleaseLease *self, const char * const *keys,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_LEASE (self));
  g_return_if_fail (keys != NULL);
  _vmlease_lease_call (self, "DetachDisks", detach_params (keys), cancellable, callback,
              user_data, vmlease_lease_detach_disks);
}

/**
 * vmlease_lease_detach_disks_finish:
 * @self: the lease
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Lease.detach_disks].
 *
 * Returns: whether the disk leases were given up
 */
gboolean
vmlease_lease_detach_disks_finish (VmleaseLease *self, GAsyncResult *result, GError **error)
{
  g_autoptr(GVariant) reply = _vmlease_lease_call_finish (self, result, vmlease_lease_detach_disks, error);

  return reply != NULL;
}

/**
 * vmlease_lease_detach_disks_sync:
 * @self: the lease, held here
 * @keys: (array zero-terminated=1): the keys of the disks to give up
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Detaches disks, blocking; see [method@Vmlease.Lease.detach_disks].
 *
 * Returns: whether the disk leases were given up
 */
gboolean
vmlease_lease_detach_disks_sync (VmleaseLease *self, const char * const *keys,
                                 GCancellable *cancellable, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  g_return_val_if_fail (VMLEASE_IS_LEASE (self), FALSE);
  g_return_val_if_fail (keys != NULL, FALSE);
  reply = _vmlease_lease_call_sync (self, "DetachDisks", detach_params (keys), cancellable, error);
  return reply != NULL;
}

static GVariant *
transfer_params (VmleaseTransferStep step, const char *token,
                 VmleaseTransferOptions *options, GError **error)
{
  g_autoptr(GVariant) o = vmlease_transfer_options_to_variant (options, step, error);

  if (o == NULL)
    return NULL;
  return g_variant_new ("(ss@a{sv})", _vmlease_enum_nick (VMLEASE_TYPE_TRANSFER_STEP, step),
                        token != NULL ? token : "", o);
}

static char *
transfer_answer (VmleaseLease *self, VmleaseTransferStep step, GVariant *reply)
{
  char *next = NULL;

  if (reply == NULL)
    return NULL;
  /* A prepare here is a new holding; what the lease lost before is history
   * for vmlease_lease_wait_lost_sync. */
  if (step == VMLEASE_TRANSFER_STEP_PREPARE)
    _vmlease_lease_taken (self);
  g_variant_get (reply, "(s)", &next);
  return next;
}

/**
 * vmlease_lease_transfer:
 * @self: the lease
 * @step: the step to do on this host
 * @token: (nullable): the token the other host's previous step returned
 *   (%NULL or `""` for begin, and for cancel)
 * @options: (nullable): the step's options, or %NULL for the defaults
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the next token
 * @user_data: data for @callback
 *
 * One step of the migration hand-off (D-Bus `Transfer`): begin, perform and
 * confirm on the source's host, prepare and finish on the destination's,
 * cancel on either. [class@Vmlease.Migration] calls these in order and
 * passes the tokens along; use this directly when each host is driven by a
 * different process. Errors: %VMLEASE_ERROR_WRONG_STEP,
 * %VMLEASE_ERROR_STALE_TOKEN, %VMLEASE_ERROR_COMMITTED,
 * %VMLEASE_ERROR_BUSY; an option @step does not take is
 * %G_IO_ERROR_INVALID_ARGUMENT, before anything is sent.
 */
void
vmlease_lease_transfer (VmleaseLease *self, VmleaseTransferStep step, const char *token,
                        VmleaseTransferOptions *options, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  GError *error = NULL;
  GVariant *params;
  GTask *task;

  g_return_if_fail (VMLEASE_IS_LEASE (self));
  params = transfer_params (step, token, options, &error);
  if (params == NULL)
    {
      task = g_task_new (self, cancellable, callback, user_data);
      g_task_set_source_tag (task, vmlease_lease_transfer);
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  task = _vmlease_lease_call (self, "Transfer", params, cancellable, callback, user_data,
                     vmlease_lease_transfer);
  g_task_set_task_data (task, GINT_TO_POINTER (step), NULL);
}

/**
 * vmlease_lease_transfer_finish:
 * @self: the lease
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Lease.transfer].
 *
 * Returns: (transfer full) (nullable): the token for the other host's next
 *   step (`""` after confirm and cancel), or %NULL on error
 */
char *
vmlease_lease_transfer_finish (VmleaseLease *self, GAsyncResult *result, GError **error)
{
  g_autoptr(GVariant) reply = _vmlease_lease_call_finish (self, result, vmlease_lease_transfer, error);

  return transfer_answer (self, GPOINTER_TO_INT (g_task_get_task_data (G_TASK (result))), reply);
}

/**
 * vmlease_lease_transfer_sync:
 * @self: the lease
 * @step: the step to do on this host
 * @token: (nullable): the other host's previous token
 * @options: (nullable): the step's options
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * One hand-off step, blocking; see [method@Vmlease.Lease.transfer].
 *
 * Returns: (transfer full) (nullable): the next token, or %NULL on error
 */
char *
vmlease_lease_transfer_sync (VmleaseLease *self, VmleaseTransferStep step, const char *token,
                             VmleaseTransferOptions *options, GCancellable *cancellable,
                             GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  GVariant *params;

  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  params = transfer_params (step, token, options, error);
  if (params == NULL)
    return NULL;
  reply = _vmlease_lease_call_sync (self, "Transfer", params, cancellable, error);
  return transfer_answer (self, step, reply);
}
