/* vmlease-client.c: VmleaseClient: the bus connection, an ObjectManager
 * client that follows the host's lease objects, a proxy of the manager, and
 * one VmleaseLease per lease object path, shared by every caller. */
#include "vmlease-private.h"
#include "vmlease-lockspace-private.h"

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
struct _VmleaseClient
{
  GObject parent_instance;

  char *address;                        /* NULL: the system bus */
  GDBusConnection *connection;
  GDBusObjectManager *object_manager;
  GDBusProxy *manager;
  GHashTable *leases;                   /* object path -> VmleaseLease */
  GDBusCallFlags call_flags;            /* of every call that changes state */
};

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
static VmleaseLease *
lease_for_proxy (VmleaseClient *self, GDBusProxy *proxy)
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
static VmleaseLease *
lease_for_path (VmleaseClient *self, const char *path)
{
  VmleaseLease *lease = g_hash_table_lookup (self->leases, path);
  g_autoptr(GDBusInterface) iface = NULL;

  if (lease != NULL)
    return lease;
  iface = g_dbus_object_manager_get_interface (self->object_manager, path, VMLEASE_LEASE_IFACE);
  if (iface == NULL)
    return NULL;
  return lease_for_proxy (self, G_DBUS_PROXY (iface));
}

static void
on_interface_added (GDBusObjectManager *om, GDBusObject *object,
                    GDBusInterface *iface, gpointer user_data)
{
  VmleaseClient *self = user_data;

  if (G_IS_DBUS_PROXY (iface) &&
      g_strcmp0 (g_dbus_proxy_get_interface_name (G_DBUS_PROXY (iface)), VMLEASE_LEASE_IFACE) == 0)
    g_signal_emit (self, signals[SIGNAL_LEASE_ADDED], 0,
                   lease_for_proxy (self, G_DBUS_PROXY (iface)));
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

/* --- properties and lists ------------------------------------------------- */

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

/**
 * vmlease_client_get_leases:
 * @self: the client
 *
 * The leases the host exports now: those created or looked up there. A
 * lease created from another host is not among them until someone looks
 * it up here ([method@Vmlease.Client.get_lease]).
 *
 * Returns: (transfer full) (element-type VmleaseLease): the leases
 */
GList *
vmlease_client_get_leases (VmleaseClient *self)
{
  GList *objects, *leases = NULL;

  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  objects = g_dbus_object_manager_get_objects (self->object_manager);
  for (GList *l = objects; l != NULL; l = l->next)
    {
      g_autoptr(GDBusInterface) iface = g_dbus_object_get_interface (l->data, VMLEASE_LEASE_IFACE);

      if (iface != NULL)
        leases = g_list_prepend (leases, g_object_ref (lease_for_proxy (self, G_DBUS_PROXY (iface))));
    }
  g_list_free_full (objects, g_object_unref);
  return g_list_reverse (leases);
}

/**
 * vmlease_client_get_lockspaces:
 * @self: the client
 *
 * The lockspaces the host knows, as its `Lockspaces` property says now.
 *
 * Returns: (transfer container) (element-type VmleaseLockspace): the
 *   lockspaces; the array holds a reference on each (free it with
 *   g_ptr_array_unref())
 */
GPtrArray *
vmlease_client_get_lockspaces (VmleaseClient *self)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GVariant) v = NULL;
  GVariantIter iter;
  GVariant *entry;

  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), out);
  v = g_dbus_proxy_get_cached_property (self->manager, "Lockspaces");
  if (v == NULL || !g_variant_is_of_type (v, G_VARIANT_TYPE ("a(ststsu)")))
    return out;
  g_variant_iter_init (&iter, v);
  while ((entry = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_ptr_array_add (out, _vmlease_lockspace_new_from_variant (entry));
      g_variant_unref (entry);
    }
  return out;
}

/**
 * vmlease_client_get_name_owner:
 * @self: the client
 *
 * The unique bus name of the vmleased that answers now, or %NULL while none
 * does (not running, and not started by bus activation when the client was
 * made). Without one, the leases and lockspaces are empty and every call
 * fails; a vmleased that starts later is followed.
 *
 * Returns: (transfer full) (nullable): the unique name, or %NULL
 */
char *
vmlease_client_get_name_owner (VmleaseClient *self)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  return g_dbus_object_manager_client_get_name_owner (
           G_DBUS_OBJECT_MANAGER_CLIENT (self->object_manager));
}

/**
 * vmlease_client_set_allow_interactive_authorization:
 * @self: the client
 * @allow: whether polkit may ask the user
 *
 * Lets polkit ask the user (through an authentication agent) for the
 * authorization of every call that changes state, made from now on through
 * @self or a lease of it, instead of refusing it with
 * %VMLEASE_ERROR_NOT_AUTHORIZED: the D-Bus call flag
 * `ALLOW_INTERACTIVE_AUTHORIZATION`. Off by default; a command-line tool
 * turns it on.
 */
void
vmlease_client_set_allow_interactive_authorization (VmleaseClient *self, gboolean allow)
{
  GHashTableIter iter;
  gpointer lease;

  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  self->call_flags = allow ? G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION
                           : G_DBUS_CALL_FLAGS_NONE;
  g_hash_table_iter_init (&iter, self->leases);
  while (g_hash_table_iter_next (&iter, NULL, &lease))
    _vmlease_lease_set_call_flags (lease, self->call_flags);
}

/**
 * vmlease_client_get_allow_interactive_authorization:
 * @self: the client
 *
 * Returns: whether polkit may ask the user; see
 *   [method@Vmlease.Client.set_allow_interactive_authorization]
 */
gboolean
vmlease_client_get_allow_interactive_authorization (VmleaseClient *self)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), FALSE);
  return self->call_flags != G_DBUS_CALL_FLAGS_NONE;
}

/* --- finding, creating, deleting leases ----------------------------------- */

static gboolean
check_uuid (const char *uuid, GError **error)
{
  if (uuid != NULL && g_uuid_string_is_valid (uuid))
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "not a UUID: \"%s\"", uuid != NULL ? uuid : "(null)");
  return FALSE;
}

static void
on_lease_proxy (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  VmleaseClient *self = g_task_get_source_object (task);
  g_autoptr(GDBusProxy) proxy = NULL;
  GError *error = NULL;

  proxy = g_dbus_proxy_new_finish (result, &error);
  if (proxy == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, g_object_ref (lease_for_proxy (self, proxy)), g_object_unref);
}

/* The manager answered a lease's object path: the lease object, from what is
 * known, else made around a proxy of its own (the ObjectManager's
 * InterfacesAdded may not have been dispatched yet). */
static void
on_lease_path (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  VmleaseClient *self = g_task_get_source_object (task);
  g_autoptr(GVariant) reply = NULL;
  GError *error = NULL;
  const char *path;
  VmleaseLease *lease;

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
  if (reply == NULL)
    {
      _vmlease_error_tidy (error);
      g_task_return_error (task, error);
      return;
    }
  g_variant_get (reply, "(&o)", &path);
  lease = lease_for_path (self, path);
  if (lease != NULL)
    {
      g_task_return_pointer (task, g_object_ref (lease), g_object_unref);
      return;
    }
  g_dbus_proxy_new (self->connection, G_DBUS_PROXY_FLAGS_NONE, NULL, VMLEASE_BUS_NAME, path,
                    VMLEASE_LEASE_IFACE, g_task_get_cancellable (task), on_lease_proxy,
                    g_object_ref (task));
}

/* GetLease only reads: it never lets polkit ask. */
static GDBusCallFlags
change_flags (VmleaseClient *self, const char *method)
{
  return g_str_equal (method, "GetLease") ? G_DBUS_CALL_FLAGS_NONE : self->call_flags;
}

static void
manager_lease_call (VmleaseClient *self, const char *method, GVariant *params,
                    GCancellable *cancellable, GAsyncReadyCallback callback,
                    gpointer user_data, gpointer source_tag, const char *uuid)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;

  g_task_set_source_tag (task, source_tag);
  if (!check_uuid (uuid, &error))
    {
      g_variant_unref (g_variant_ref_sink (params));
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_dbus_proxy_call (self->manager, method, params, change_flags (self, method),
                     VMLEASE_CALL_TIMEOUT_MS, cancellable, on_lease_path, task);
}

static VmleaseLease *
manager_lease_call_sync (VmleaseClient *self, const char *method, GVariant *params,
                         GCancellable *cancellable, GError **error, const char *uuid)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GDBusProxy) proxy = NULL;
  const char *path;
  VmleaseLease *lease;

  if (!check_uuid (uuid, error))
    {
      g_variant_unref (g_variant_ref_sink (params));
      return NULL;
    }
  reply = g_dbus_proxy_call_sync (self->manager, method, params, change_flags (self, method),
                                  VMLEASE_CALL_TIMEOUT_MS, cancellable, error);
  if (reply == NULL)
    {
      if (error != NULL)
        _vmlease_error_tidy (*error);
      return NULL;
    }
  g_variant_get (reply, "(&o)", &path);
  lease = lease_for_path (self, path);
  if (lease != NULL)
    return g_object_ref (lease);
  proxy = g_dbus_proxy_new_sync (self->connection, G_DBUS_PROXY_FLAGS_NONE, NULL,
                                 VMLEASE_BUS_NAME, path, VMLEASE_LEASE_IFACE,
                                 cancellable, error);
  if (proxy == NULL)
    return NULL;
  return g_object_ref (lease_for_proxy (self, proxy));
}

static VmleaseLease *
manager_lease_call_finish (VmleaseClient *self, GAsyncResult *result, gpointer source_tag,
                           GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * vmlease_client_get_lease:
 * @self: the client
 * @uuid: the VM's UUID
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the lease
 * @user_data: data for @callback
 *
 * Finds the lease of a VM (D-Bus `GetLease`): exported on the host already,
 * or created from another host and looked up in the joined lockspaces.
 * %VMLEASE_ERROR_NOT_FOUND if there is none (a lease just created from
 * another host may be not found for up to 2 s: docs/api.md).
 */
void
vmlease_client_get_lease (VmleaseClient *self, const char *uuid, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  manager_lease_call (self, "GetLease", g_variant_new ("(s)", uuid ? uuid : ""), cancellable,
                      callback, user_data, vmlease_client_get_lease, uuid);
}

/**
 * vmlease_client_get_lease_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.get_lease].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_get_lease_finish (VmleaseClient *self, GAsyncResult *result, GError **error)
{
  return manager_lease_call_finish (self, result, vmlease_client_get_lease, error);
}

/**
 * vmlease_client_get_lease_sync:
 * @self: the client
 * @uuid: the VM's UUID
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Finds the lease of a VM, blocking; see [method@Vmlease.Client.get_lease].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_get_lease_sync (VmleaseClient *self, const char *uuid,
                               GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  return manager_lease_call_sync (self, "GetLease", g_variant_new ("(s)", uuid ? uuid : ""),
                                  cancellable, error, uuid);
}

/* @path NULL: allocated from the lockspace's index (@offset unused). */
static GVariant *
create_params_full (const char *uuid, const char *lockspace, const char *name,
                    const char *path, guint64 offset)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (name != NULL)
    g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (name));
  if (path != NULL)
    {
      g_variant_builder_add (&b, "{sv}", "path", g_variant_new_string (path));
      g_variant_builder_add (&b, "{sv}", "offset", g_variant_new_uint64 (offset));
    }
  return g_variant_new ("(ssa{sv})", uuid ? uuid : "", lockspace ? lockspace : "", &b);
}

static GVariant *
create_params (const char *uuid, const char *lockspace, const char *name)
{
  return create_params_full (uuid, lockspace, name, NULL, 0);
}

/**
 * vmlease_client_create_lease:
 * @self: the client
 * @uuid: the VM's UUID
 * @lockspace: a lockspace the host has joined
 * @name: (nullable): the VM's name, for people
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the lease
 * @user_data: data for @callback
 *
 * Makes the VM's lease on storage, allocated from the lockspace's resource
 * index (D-Bus `CreateLease`). A lease of that UUID created from another
 * host is adopted. %VMLEASE_ERROR_EXISTS if the host exports it already.
 */
void
vmlease_client_create_lease (VmleaseClient *self, const char *uuid, const char *lockspace,
                             const char *name, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  g_return_if_fail (lockspace != NULL);
  manager_lease_call (self, "CreateLease", create_params (uuid, lockspace, name), cancellable,
                      callback, user_data, vmlease_client_create_lease, uuid);
}

/**
 * vmlease_client_create_lease_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.create_lease].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_create_lease_finish (VmleaseClient *self, GAsyncResult *result, GError **error)
{
  return manager_lease_call_finish (self, result, vmlease_client_create_lease, error);
}

/**
 * vmlease_client_create_lease_sync:
 * @self: the client
 * @uuid: the VM's UUID
 * @lockspace: a lockspace the host has joined
 * @name: (nullable): the VM's name
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Creates a lease, blocking; see [method@Vmlease.Client.create_lease].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_create_lease_sync (VmleaseClient *self, const char *uuid, const char *lockspace,
                                  const char *name, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  g_return_val_if_fail (lockspace != NULL, NULL);
  return manager_lease_call_sync (self, "CreateLease", create_params (uuid, lockspace, name),
                                  cancellable, error, uuid);
}

/**
 * vmlease_client_create_lease_full:
 * @self: the client
 * @uuid: the VM's UUID
 * @lockspace: a lockspace the host has joined
 * @name: (nullable): the VM's name, for people
 * @path: (nullable): where on storage to place the lease, or %NULL to
 *   allocate it from the lockspace's resource index
 * @offset: with @path: where in @path, a multiple of 1 MiB
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the lease
 * @user_data: data for @callback
 *
 * Like [method@Vmlease.Client.create_lease], but a @path places the lease
 * at @offset in it (D-Bus `CreateLease` options `path` and `offset`)
 * instead of the lockspace's index.
 */
void
vmlease_client_create_lease_full (VmleaseClient *self, const char *uuid, const char *lockspace,
                                  const char *name, const char *path, guint64 offset,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  g_return_if_fail (lockspace != NULL);
  manager_lease_call (self, "CreateLease", create_params_full (uuid, lockspace, name, path, offset),
                      cancellable, callback, user_data, vmlease_client_create_lease_full, uuid);
}

/**
 * vmlease_client_create_lease_full_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.create_lease_full].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_create_lease_full_finish (VmleaseClient *self, GAsyncResult *result,
                                         GError **error)
{
  return manager_lease_call_finish (self, result, vmlease_client_create_lease_full, error);
}

/**
 * vmlease_client_create_lease_full_sync:
 * @self: the client
 * @uuid: the VM's UUID
 * @lockspace: a lockspace the host has joined
 * @name: (nullable): the VM's name
 * @path: (nullable): where to place the lease, or %NULL for the index
 * @offset: with @path: where in @path
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Creates a lease, blocking; see [method@Vmlease.Client.create_lease_full].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_create_lease_full_sync (VmleaseClient *self, const char *uuid,
                                       const char *lockspace, const char *name,
                                       const char *path, guint64 offset,
                                       GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  g_return_val_if_fail (lockspace != NULL, NULL);
  return manager_lease_call_sync (self, "CreateLease",
                                  create_params_full (uuid, lockspace, name, path, offset),
                                  cancellable, error, uuid);
}

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

/* A manager method without an answer; takes @params. */
static void
manager_call (VmleaseClient *self, const char *method, GVariant *params,
              GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
              gpointer source_tag)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_dbus_proxy_call (self->manager, method, params, self->call_flags,
                     VMLEASE_CALL_TIMEOUT_MS, cancellable, on_manager_done, task);
}

static gboolean
manager_call_finish (VmleaseClient *self, GAsyncResult *result, gpointer source_tag,
                     GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
manager_call_sync (VmleaseClient *self, const char *method, GVariant *params,
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

/**
 * vmlease_client_delete_lease:
 * @self: the client
 * @uuid: the VM's UUID
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Removes the VM's lease from storage (D-Bus `DeleteLease`).
 * %VMLEASE_ERROR_BUSY while any live host holds it.
 */
void
vmlease_client_delete_lease (VmleaseClient *self, const char *uuid, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  GError *error = NULL;

  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  if (!check_uuid (uuid, &error))
    {
      g_task_report_error (self, callback, user_data, vmlease_client_delete_lease, error);
      return;
    }
  manager_call (self, "DeleteLease", g_variant_new ("(sa{sv})", uuid, NULL), cancellable,
                callback, user_data, vmlease_client_delete_lease);
}

/**
 * vmlease_client_delete_lease_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.delete_lease].
 *
 * Returns: whether the lease was deleted
 */
gboolean
vmlease_client_delete_lease_finish (VmleaseClient *self, GAsyncResult *result, GError **error)
{
  return manager_call_finish (self, result, vmlease_client_delete_lease, error);
}

/**
 * vmlease_client_delete_lease_sync:
 * @self: the client
 * @uuid: the VM's UUID
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Deletes a lease, blocking; see [method@Vmlease.Client.delete_lease].
 *
 * Returns: whether the lease was deleted
 */
gboolean
vmlease_client_delete_lease_sync (VmleaseClient *self, const char *uuid,
                                  GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), FALSE);
  if (!check_uuid (uuid, error))
    return FALSE;
  return manager_call_sync (self, "DeleteLease", g_variant_new ("(sa{sv})", uuid, NULL),
                            cancellable, error);
}

/* --- lockspaces ------------------------------------------------------------- */

/**
 * vmlease_client_dup_lockspace_details:
 * @self: the client
 *
 * The manager's `LockspaceDetails` property as it is now: an `a{sa{sv}}`
 * by lockspace name, each with `state`, `host_id`, `path`, `offset`,
 * `io_timeout`, `sector_size` and, on failure, `error` (new keys may come).
 *
 * Returns: (transfer full) (nullable): the details, or %NULL while no
 *   vmleased answers
 */
GVariant *
vmlease_client_dup_lockspace_details (VmleaseClient *self)
{
  g_autoptr(GVariant) v = NULL;

  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  v = g_dbus_proxy_get_cached_property (self->manager, "LockspaceDetails");
  if (v == NULL || !g_variant_is_of_type (v, G_VARIANT_TYPE ("a{sa{sv}}")))
    return NULL;
  return g_steal_pointer (&v);
}

static GVariant *
add_lockspace_params (const char *name, guint64 host_id, const char *path, guint64 offset,
                      guint io_timeout, gboolean init)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (io_timeout != 0)
    g_variant_builder_add (&b, "{sv}", "io_timeout", g_variant_new_uint32 (io_timeout));
  if (init)
    g_variant_builder_add (&b, "{sv}", "init", g_variant_new_boolean (TRUE));
  return g_variant_new ("(ststa{sv})", name, host_id, path, offset, &b);
}

/**
 * vmlease_client_add_lockspace:
 * @self: the client
 * @name: the lockspace's name
 * @host_id: this host's id in it (1..2000)
 * @path: the shared storage
 * @offset: where the lockspace is in @path (a multiple of 1 MiB)
 * @io_timeout: sanlock's I/O timeout in seconds, 0 for the default (10)
 * @init: format the lockspace and an empty resource index first (destroys
 *   what was there: once, from one host)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the host has joined, or the call failed
 * @user_data: data for @callback
 *
 * Joins the host to a lockspace (D-Bus `AddLockspace`), which takes about
 * 2 × @io_timeout seconds; the host joins it again at every start. The
 * same call again is a no-op.
 */
void
vmlease_client_add_lockspace (VmleaseClient *self, const char *name, guint64 host_id,
                              const char *path, guint64 offset, guint io_timeout,
                              gboolean init, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  g_return_if_fail (name != NULL && path != NULL);
  manager_call (self, "AddLockspace",
                add_lockspace_params (name, host_id, path, offset, io_timeout, init),
                cancellable, callback, user_data, vmlease_client_add_lockspace);
}

/**
 * vmlease_client_add_lockspace_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.add_lockspace].
 *
 * Returns: whether the host has joined the lockspace
 */
gboolean
vmlease_client_add_lockspace_finish (VmleaseClient *self, GAsyncResult *result, GError **error)
{
  return manager_call_finish (self, result, vmlease_client_add_lockspace, error);
}

/**
 * vmlease_client_add_lockspace_sync:
 * @self: the client
 * @name: the lockspace's name
 * @host_id: this host's id in it
 * @path: the shared storage
 * @offset: where the lockspace is in @path
 * @io_timeout: sanlock's I/O timeout in seconds, 0 for the default
 * @init: format it first
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Joins a lockspace, blocking; see [method@Vmlease.Client.add_lockspace].
 *
 * Returns: whether the host has joined the lockspace
 */
gboolean
vmlease_client_add_lockspace_sync (VmleaseClient *self, const char *name, guint64 host_id,
                                   const char *path, guint64 offset, guint io_timeout,
                                   gboolean init, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (name != NULL && path != NULL, FALSE);
  return manager_call_sync (self, "AddLockspace",
                            add_lockspace_params (name, host_id, path, offset, io_timeout, init),
                            cancellable, error);
}

static GVariant *
remove_lockspace_params (const char *name, gboolean force)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (force)
    g_variant_builder_add (&b, "{sv}", "force", g_variant_new_boolean (TRUE));
  return g_variant_new ("(sa{sv})", name, &b);
}

/**
 * vmlease_client_remove_lockspace:
 * @self: the client
 * @name: a lockspace the host has joined
 * @force: leave even while leases in it are held here: they are released,
 *   their VMs fenced, and each emits [signal@Vmlease.Lease::lost]
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Leaves the lockspace and forgets it (D-Bus `RemoveLockspace`).
 * %VMLEASE_ERROR_BUSY while a lease in it is held here (without @force).
 */
void
vmlease_client_remove_lockspace (VmleaseClient *self, const char *name, gboolean force,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  g_return_if_fail (name != NULL);
  manager_call (self, "RemoveLockspace", remove_lockspace_params (name, force), cancellable,
                callback, user_data, vmlease_client_remove_lockspace);
}

/**
 * vmlease_client_remove_lockspace_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.remove_lockspace].
 *
 * Returns: whether the host left the lockspace
 */
gboolean
vmlease_client_remove_lockspace_finish (VmleaseClient *self, GAsyncResult *result,
                                        GError **error)
{
  return manager_call_finish (self, result, vmlease_client_remove_lockspace, error);
}

/**
 * vmlease_client_remove_lockspace_sync:
 * @self: the client
 * @name: a lockspace the host has joined
 * @force: leave even while leases in it are held here
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Leaves a lockspace, blocking; see [method@Vmlease.Client.remove_lockspace].
 *
 * Returns: whether the host left the lockspace
 */
gboolean
vmlease_client_remove_lockspace_sync (VmleaseClient *self, const char *name, gboolean force,
                                      GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  return manager_call_sync (self, "RemoveLockspace", remove_lockspace_params (name, force),
                            cancellable, error);
}
