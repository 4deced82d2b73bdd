/* vmlease-client.c: VmleaseClient: the bus connection, an ObjectManager
 * client that follows the host's lease objects, a proxy of the manager, and
 * one VmleaseLease per lease object path, shared by every caller. Its
 * lists are in vmlease-client-lists.c, its lease calls in
 * vmlease-client-leases.c, its lockspace calls in
 * vmlease-client-lockspaces.c; their shared fields and helpers in
 * vmlease-client-private.h. */
#include "vmlease-private.h"
#include "vmlease-client-private.h"

/**
 * VmleaseClient:
 *
 * A connection to one host's vmleased: on the system bus
 * ([ctor@Vmlease.Client.new_sync]), or on a bus at an address
 * ([ctor@Vmlease.Client.new_for_address_sync]), such as a host of the
 * sandbox (docs/sandbox.md).
 *
 * It finds leases by UUID ([method@Vmlease.Client.get_lease]), creates and
 * deletes them, lists the leases exported on the host and its lockspaces,
 * and follows leases as they come and go
 * ([signal@Vmlease.Client::lease-added],
 * [signal@Vmlease.Client::lease-removed]). One [class@Vmlease.Lease] stands
 * for each lease object path, whoever asks.
 *
 * Signals and property changes arrive in the thread-default main context of
 * the thread that made the client.
 */

static void vmlease_client_initable_iface_init (GInitableIface *iface);
static void vmlease_client_async_initable_iface_init (GAsyncInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (VmleaseClient, vmlease_client, G_TYPE_OBJECT,
  G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE, vmlease_client_initable_iface_init)
  G_IMPLEMENT_INTERFACE (G_TYPE_ASYNC_INITABLE, vmlease_client_async_initable_iface_init))

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_CONNECTION,
  PROP_VERSION,
  PROP_SANLOCK_DAEMON,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

enum {
  SIGNAL_LEASE_ADDED,
  SIGNAL_LEASE_REMOVED,
  SIGNAL_LOCKSPACE_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* --- leases by path ------------------------------------------------------- */

/* (transfer none): the lease of @path, made around @proxy if there is none. */
VmleaseLease *
_vmlease_client_lease_for_proxy (VmleaseClient *self, GDBusProxy *proxy)
{
  const char *path = g_dbus_proxy_get_object_path (proxy);
  VmleaseLease *lease = g_hash_table_lookup (self->leases, path);

  if (lease == NULL)
    {
      lease = _vmlease_lease_new_for_proxy (proxy);
      _vmlease_lease_set_call_flags (lease, self->call_flags);
      g_hash_table_insert (self->leases, g_strdup (path), lease);
    }
  return lease;
}

/* (transfer none) (nullable): the lease of @path if known or followed. */
VmleaseLease *
_vmlease_client_lease_for_path (VmleaseClient *self, const char *path)
{
  VmleaseLease *lease = g_hash_table_lookup (self->leases, path);
  g_autoptr(GDBusInterface) iface = NULL;

  if (lease != NULL)
    return lease;
  iface = g_dbus_object_manager_get_interface (self->object_manager, path, VMLEASE_LEASE_IFACE);
  if (iface == NULL)
    return NULL;
  return _vmlease_client_lease_for_proxy (self, G_DBUS_PROXY (iface));
}

static void
on_interface_added (GDBusObjectManager *om, GDBusObject *object,
                    GDBusInterface *iface, gpointer user_data)
{
  VmleaseClient *self = user_data;

  if (G_IS_DBUS_PROXY (iface) &&
      g_strcmp0 (g_dbus_proxy_get_interface_name (G_DBUS_PROXY (iface)), VMLEASE_LEASE_IFACE) == 0)
    g_signal_emit (self, signals[SIGNAL_LEASE_ADDED], 0,
                   _vmlease_client_lease_for_proxy (self, G_DBUS_PROXY (iface)));
}

static void
on_object_added (GDBusObjectManager *om, GDBusObject *object, gpointer user_data)
{
  g_autoptr(GDBusInterface) iface = g_dbus_object_get_interface (object, VMLEASE_LEASE_IFACE);

  if (iface != NULL)
    on_interface_added (om, object, iface, user_data);
}

static void
on_object_removed (GDBusObjectManager *om, GDBusObject *object, gpointer user_data)
{
  VmleaseClient *self = user_data;
  const char *path = g_dbus_object_get_object_path (object);
  g_autofree char *key = NULL;
  g_autoptr(VmleaseLease) lease = NULL;

  if (!g_hash_table_steal_extended (self->leases, path, (gpointer *) &key, (gpointer *) &lease))
    return;
  g_signal_emit (self, signals[SIGNAL_LEASE_REMOVED], 0, lease);
}

static void
on_manager_signal (GDBusProxy *proxy, const char *sender, const char *name,
                   GVariant *parameters, gpointer user_data)
{
  VmleaseClient *self = user_data;
  const char *ls, *state;
  g_autoptr(GVariant) details = NULL;

  if (!g_str_equal (name, "LockspaceChanged") ||
      !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(ssa{sv})")))
    return;
  g_variant_get (parameters, "(&s&s@a{sv})", &ls, &state, &details);
  g_signal_emit (self, signals[SIGNAL_LOCKSPACE_CHANGED], 0, ls, state, details);
}

static void
on_manager_properties_changed (GDBusProxy *proxy, GVariant *changed,
                               const char * const *invalidated, gpointer user_data)
{
  VmleaseClient *self = user_data;
  g_autoptr(GVariant) version = g_variant_lookup_value (changed, "Version", NULL);
  g_autoptr(GVariant) daemon = g_variant_lookup_value (changed, "SanlockDaemon", NULL);

  if (version != NULL || g_strv_contains (invalidated, "Version"))
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_VERSION]);
  if (daemon != NULL || g_strv_contains (invalidated, "SanlockDaemon"))
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_SANLOCK_DAEMON]);
}

/* Once connection, object manager and manager proxy are there. */
static void
client_set_up (VmleaseClient *self)
{
  g_signal_connect_object (self->object_manager, "object-added",
                           G_CALLBACK (on_object_added), self, 0);
  g_signal_connect_object (self->object_manager, "interface-added",
                           G_CALLBACK (on_interface_added), self, 0);
  g_signal_connect_object (self->object_manager, "object-removed",
                           G_CALLBACK (on_object_removed), self, 0);
  g_signal_connect_object (self->manager, "g-signal",
                           G_CALLBACK (on_manager_signal), self, 0);
  g_signal_connect_object (self->manager, "g-properties-changed",
                           G_CALLBACK (on_manager_properties_changed), self, 0);
}

/* --- construction --------------------------------------------------------- */

static GDBusConnectionFlags
address_flags (void)
{
  return G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
         G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION;
}

static gboolean
vmlease_client_initable_init (GInitable *initable, GCancellable *cancellable, GError **error)
{
  VmleaseClient *self = VMLEASE_CLIENT (initable);

  if (self->address != NULL)
    self->connection = g_dbus_connection_new_for_address_sync (self->address, address_flags (),
                                                               NULL, cancellable, error);
  else
    self->connection = g_bus_get_sync (G_BUS_TYPE_SYSTEM, cancellable, error);
  if (self->connection == NULL)
    return FALSE;
  self->object_manager =
    g_dbus_object_manager_client_new_sync (self->connection,
                                           G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                           VMLEASE_BUS_NAME, VMLEASE_MANAGER_PATH,
                                           NULL, NULL, NULL, cancellable, error);
  if (self->object_manager == NULL)
    return FALSE;
  self->manager = g_dbus_proxy_new_sync (self->connection, G_DBUS_PROXY_FLAGS_NONE, NULL,
                                         VMLEASE_BUS_NAME, VMLEASE_MANAGER_PATH,
                                         VMLEASE_MANAGER_IFACE, cancellable, error);
  if (self->manager == NULL)
    return FALSE;
  client_set_up (self);
  return TRUE;
}

static void
vmlease_client_initable_iface_init (GInitableIface *iface)
{
  iface->init = vmlease_client_initable_init;
}

static void
on_manager_proxy (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  VmleaseClient *self = g_task_get_source_object (task);
  GError *error = NULL;

  self->manager = g_dbus_proxy_new_finish (result, &error);
  if (self->manager == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  client_set_up (self);
  g_task_return_boolean (task, TRUE);
}

static void
on_object_manager (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  VmleaseClient *self = g_task_get_source_object (task);
  GError *error = NULL;

  self->object_manager = g_dbus_object_manager_client_new_finish (result, &error);
  if (self->object_manager == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_dbus_proxy_new (self->connection, G_DBUS_PROXY_FLAGS_NONE, NULL, VMLEASE_BUS_NAME,
                    VMLEASE_MANAGER_PATH, VMLEASE_MANAGER_IFACE,
                    g_task_get_cancellable (task), on_manager_proxy, g_object_ref (task));
}

static void
on_connection (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  VmleaseClient *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (self->address != NULL)
    self->connection = g_dbus_connection_new_for_address_finish (result, &error);
  else
    self->connection = g_bus_get_finish (result, &error);
  if (self->connection == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_dbus_object_manager_client_new (self->connection, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                    VMLEASE_BUS_NAME, VMLEASE_MANAGER_PATH, NULL, NULL, NULL,
                                    g_task_get_cancellable (task), on_object_manager,
                                    g_object_ref (task));
}

static void
vmlease_client_init_async (GAsyncInitable *initable, int io_priority,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  VmleaseClient *self = VMLEASE_CLIENT (initable);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, vmlease_client_init_async);
  if (self->address != NULL)
    g_dbus_connection_new_for_address (self->address, address_flags (), NULL, cancellable,
                                       on_connection, task);
  else
    g_bus_get (G_BUS_TYPE_SYSTEM, cancellable, on_connection, task);
}

static gboolean
vmlease_client_init_finish (GAsyncInitable *initable, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
vmlease_client_async_initable_iface_init (GAsyncInitableIface *iface)
{
  iface->init_async = vmlease_client_init_async;
  iface->init_finish = vmlease_client_init_finish;
}

static void
vmlease_client_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VmleaseClient *self = VMLEASE_CLIENT (object);

  switch (prop_id)
    {
    case PROP_ADDRESS: g_value_set_string (value, self->address); break;
    case PROP_CONNECTION: g_value_set_object (value, self->connection); break;
    case PROP_VERSION: g_value_set_string (value, vmlease_client_get_version (self)); break;
    case PROP_SANLOCK_DAEMON:
      g_value_set_string (value, vmlease_client_get_sanlock_daemon (self));
      break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vmlease_client_set_property (GObject *object, guint prop_id, const GValue *value,
                             GParamSpec *pspec)
{
  VmleaseClient *self = VMLEASE_CLIENT (object);

  switch (prop_id)
    {
    case PROP_ADDRESS: self->address = g_value_dup_string (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vmlease_client_dispose (GObject *object)
{
  VmleaseClient *self = VMLEASE_CLIENT (object);

  g_hash_table_remove_all (self->leases);
  g_clear_object (&self->manager);
  g_clear_object (&self->object_manager);
  g_clear_object (&self->connection);
  G_OBJECT_CLASS (vmlease_client_parent_class)->dispose (object);
}

static void
vmlease_client_finalize (GObject *object)
{
  VmleaseClient *self = VMLEASE_CLIENT (object);

  g_hash_table_unref (self->leases);
  g_free (self->address);
  G_OBJECT_CLASS (vmlease_client_parent_class)->finalize (object);
}

static void
vmlease_client_class_init (VmleaseClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  object_class->get_property = vmlease_client_get_property;
  object_class->set_property = vmlease_client_set_property;
  object_class->dispose = vmlease_client_dispose;
  object_class->finalize = vmlease_client_finalize;

  /* Error replies must arrive in VMLEASE_ERROR: register it first. */
  (void) VMLEASE_ERROR;

  /**
   * VmleaseClient:address:
   *
   * The D-Bus address of the bus, or %NULL for the system bus.
   */
  props[PROP_ADDRESS] = g_param_spec_string ("address", NULL, NULL, NULL,
                                             G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                                             G_PARAM_STATIC_STRINGS);
  /**
   * VmleaseClient:connection:
   *
   * The bus connection.
   */
  props[PROP_CONNECTION] = g_param_spec_object ("connection", NULL, NULL,
                                                G_TYPE_DBUS_CONNECTION, ro);
  /**
   * VmleaseClient:version:
   *
   * The version of the vmleased answering, %NULL while none runs.
   */
  props[PROP_VERSION] = g_param_spec_string ("version", NULL, NULL, NULL, ro);
  /**
   * VmleaseClient:sanlock-daemon:
   *
   * `running` while the host's sanlock daemon answers, `gone` while not.
   */
  props[PROP_SANLOCK_DAEMON] = g_param_spec_string ("sanlock-daemon", NULL, NULL, NULL, ro);

  g_object_class_install_properties (object_class, N_PROPS, props);

  /**
   * VmleaseClient::lease-added:
   * @client: the client
   * @lease: the lease
   *
   * A lease object appeared on the host: created there, or looked up
   * there for the first time.
   */
  signals[SIGNAL_LEASE_ADDED] =
    g_signal_new ("lease-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, VMLEASE_TYPE_LEASE);
  /**
   * VmleaseClient::lease-removed:
   * @client: the client
   * @lease: the lease
   *
   * A lease object went away on the host: deleted, or its lockspace left.
   */
  signals[SIGNAL_LEASE_REMOVED] =
    g_signal_new ("lease-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, VMLEASE_TYPE_LEASE);
  /**
   * VmleaseClient::lockspace-changed:
   * @client: the client
   * @name: the lockspace
   * @state: `joining`, `joined`, `failing`, `lost` or `removed`
   * @details: an `a{sv}`: `host_id` t, `path` s, `offset` t, `io_timeout`
   *   u, `sector_size` u, `error` s on failure
   *
   * A lockspace changed state on the host (D-Bus `LockspaceChanged`).
   */
  signals[SIGNAL_LOCKSPACE_CHANGED] =
    g_signal_new ("lockspace-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING,
                  G_TYPE_VARIANT);
}

static void
vmlease_client_init (VmleaseClient *self)
{
  self->leases = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}

/**
 * vmlease_client_new:
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the client is ready
 * @user_data: data for @callback
 *
 * Connects to vmleased on the system bus; finish with
 * [ctor@Vmlease.Client.new_finish].
 */
void
vmlease_client_new (GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_async_initable_new_async (VMLEASE_TYPE_CLIENT, G_PRIORITY_DEFAULT, cancellable,
                              callback, user_data, NULL);
}

/**
 * vmlease_client_new_finish:
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [func@Vmlease.Client.new] or [func@Vmlease.Client.new_for_address].
 *
 * Returns: (transfer full) (nullable): the client, or %NULL on error
 */
VmleaseClient *
vmlease_client_new_finish (GAsyncResult *result, GError **error)
{
  g_autoptr(GObject) source = g_async_result_get_source_object (result);
  GObject *object = g_async_initable_new_finish (G_ASYNC_INITABLE (source), result, error);

  return object != NULL ? VMLEASE_CLIENT (object) : NULL;
}

/**
 * vmlease_client_new_sync:
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Connects to vmleased on the system bus, blocking. vmleased need not run
 * yet: calls start it if the bus can, and fail if not.
 *
 * Returns: (transfer full) (nullable): the client, or %NULL on error
 */
VmleaseClient *
vmlease_client_new_sync (GCancellable *cancellable, GError **error)
{
  return g_initable_new (VMLEASE_TYPE_CLIENT, cancellable, error, NULL);
}

/**
 * vmlease_client_new_for_address:
 * @address: a D-Bus address, such as a sandbox host's
 *   `DBUS_SYSTEM_BUS_ADDRESS`
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the client is ready
 * @user_data: data for @callback
 *
 * Connects to vmleased on the message bus at @address; finish with
 * [ctor@Vmlease.Client.new_for_address_finish].
 */
void
vmlease_client_new_for_address (const char *address, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (address != NULL);
  g_async_initable_new_async (VMLEASE_TYPE_CLIENT, G_PRIORITY_DEFAULT, cancellable,
                              callback, user_data, "address", address, NULL);
}

/**
 * vmlease_client_new_for_address_finish:
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [func@Vmlease.Client.new_for_address].
 *
 * Returns: (transfer full) (nullable): the client, or %NULL on error
 */
VmleaseClient *
vmlease_client_new_for_address_finish (GAsyncResult *result, GError **error)
{
  return vmlease_client_new_finish (result, error);
}

/**
 * vmlease_client_new_for_address_sync:
 * @address: a D-Bus address
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Connects to vmleased on the message bus at @address, blocking.
 *
 * Returns: (transfer full) (nullable): the client, or %NULL on error
 */
VmleaseClient *
vmlease_client_new_for_address_sync (const char *address, GCancellable *cancellable,
                                     GError **error)
{
  g_return_val_if_fail (address != NULL, NULL);
  return g_initable_new (VMLEASE_TYPE_CLIENT, cancellable, error, "address", address, NULL);
}

/* --- properties ----------------------------------------------------------- */

/**
 * vmlease_client_get_connection:
 * @self: the client
 *
 * Returns: (transfer none): [property@Vmlease.Client:connection]
 */
GDBusConnection *
vmlease_client_get_connection (VmleaseClient *self)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  return self->connection;
}

/**
 * vmlease_client_get_address:
 * @self: the client
 *
 * Returns: (nullable): [property@Vmlease.Client:address]
 */
const char *
vmlease_client_get_address (VmleaseClient *self)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  return self->address;
}

static const char *
manager_string (VmleaseClient *self, const char *name)
{
  g_autoptr(GVariant) v = NULL;

  if (self->manager == NULL)
    return NULL;
  v = g_dbus_proxy_get_cached_property (self->manager, name);
  /* The proxy's cache keeps the variant, and so the string, alive. */
  return v != NULL && g_variant_is_of_type (v, G_VARIANT_TYPE_STRING)
         ? g_variant_get_string (v, NULL) : NULL;
}

/**
 * vmlease_client_get_version:
 * @self: the client
 *
 * Returns: (nullable): [property@Vmlease.Client:version]
 */
const char *
vmlease_client_get_version (VmleaseClient *self)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  return manager_string (self, "Version");
}

/**
 * vmlease_client_get_sanlock_daemon:
 * @self: the client
 *
 * Returns: (nullable): [property@Vmlease.Client:sanlock-daemon]
 */
const char *
vmlease_client_get_sanlock_daemon (VmleaseClient *self)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  return manager_string (self, "SanlockDaemon");
}

/* --- manager calls without an answer (leases, lockspaces) ------------------ */

static void
on_manager_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GVariant) reply = NULL;
  GError *error = NULL;

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
  if (reply == NULL)
    {
      _vmlease_error_tidy (error);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

void
_vmlease_client_call (VmleaseClient *self, const char *method, GVariant *params,
                      GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data, gpointer source_tag)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_dbus_proxy_call (self->manager, method, params, self->call_flags,
                     VMLEASE_CALL_TIMEOUT_MS, cancellable, on_manager_done, task);
}

gboolean
_vmlease_client_call_finish (VmleaseClient *self, GAsyncResult *result,
                             gpointer source_tag, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
_vmlease_client_call_sync (VmleaseClient *self, const char *method, GVariant *params,
                           GCancellable *cancellable, GError **error)
{
  g_autoptr(GVariant) reply = g_dbus_proxy_call_sync (self->manager, method, params,
                                                      self->call_flags,
                                                      VMLEASE_CALL_TIMEOUT_MS, cancellable,
                                                      error);

  if (reply == NULL && error != NULL)
    _vmlease_error_tidy (*error);
  return reply != NULL;
}
