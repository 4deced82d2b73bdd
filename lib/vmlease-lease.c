/* vmlease-lease.c: VmleaseLease over a GDBusProxy of one org.example.VMLease
 * object: properties read from the proxy's cache (which PropertiesChanged
 * keeps current) and notified on change, the D-Bus signals as GObject
 * signals, the methods as GTask async calls with sync twins. */
#include "vmlease-lease-private.h"

/**
 * VmleaseLease:
 *
 * One VM lease as a host's vmleased exports it (`org.example.VMLease` at
 * `/org/example/VMLease/vm/<uuid>`). Get one with
 * [method@Vmlease.Client.get_lease] or [method@Vmlease.Client.create_lease].
 *
 * Its properties follow the D-Bus properties (notify:: tells each change),
 * as seen from the host its [class@Vmlease.Client] talks to. Its signals are
 * emitted in the thread-default main context of the thread that made the
 * client, while that context runs (or while
 * [method@Vmlease.Lease.wait_lost_sync] runs it).
 *
 * The methods that change the lease are authorized by polkit on the host
 * (docs/authorization.md); they fail in the [error@Vmlease.Error] domain.
 */

G_DEFINE_FINAL_TYPE (VmleaseLease, vmlease_lease, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_PROXY,
  PROP_OBJECT_PATH,
  PROP_UUID,
  PROP_NAME,
  PROP_LOCKSPACE,
  PROP_STATE,
  PROP_MODE,
  PROP_OWNER,
  PROP_VERSION,
  PROP_HOLDER_PID,
  PROP_FENCE_PID,
  PROP_FENCE,
  PROP_TRANSFER_STEP,
  PROP_DISKS,
  PROP_STORAGE_STATE,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

/* The D-Bus property behind each GObject property. */
static const struct {
  const char *dbus_name;
  guint prop_id;
} dbus_props[] = {
  { "Uuid", PROP_UUID },
  { "Name", PROP_NAME },
  { "Lockspace", PROP_LOCKSPACE },
  { "State", PROP_STATE },
  { "Mode", PROP_MODE },
  { "Owner", PROP_OWNER },
  { "Version", PROP_VERSION },
  { "HolderPid", PROP_HOLDER_PID },
  { "FencePid", PROP_FENCE_PID },
  { "Fence", PROP_FENCE },
  { "TransferStep", PROP_TRANSFER_STEP },
  { "Disks", PROP_DISKS },
  { "StorageState", PROP_STORAGE_STATE },
};

enum {
  SIGNAL_LOST,
  SIGNAL_TRANSFER_REQUESTED,
  SIGNAL_WARNING,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static const char *
dbus_name_of (guint prop_id)
{
  for (guint i = 0; i < G_N_ELEMENTS (dbus_props); i++)
    if (dbus_props[i].prop_id == prop_id)
      return dbus_props[i].dbus_name;
  return NULL;
}

/* (transfer full) (nullable): the cached value, if it has @type. */
static GVariant *
cached (VmleaseLease *self, guint prop_id, const GVariantType *type)
{
  g_autoptr(GVariant) v = NULL;

  if (self->proxy == NULL)
    return NULL;
  v = g_dbus_proxy_get_cached_property (self->proxy, dbus_name_of (prop_id));
  if (v == NULL || !g_variant_is_of_type (v, type))
    return NULL;
  return g_steal_pointer (&v);
}

/* Valid until the property changes: the proxy's cache holds the variant. */
static const char *
cached_string (VmleaseLease *self, guint prop_id)
{
  g_autoptr(GVariant) v = cached (self, prop_id, G_VARIANT_TYPE_STRING);

  return v != NULL ? g_variant_get_string (v, NULL) : NULL;
}

static guint64
cached_uint64 (VmleaseLease *self, guint prop_id)
{
  g_autoptr(GVariant) v = cached (self, prop_id, G_VARIANT_TYPE_UINT64);

  return v != NULL ? g_variant_get_uint64 (v) : 0;
}

static guint
cached_uint32 (VmleaseLease *self, guint prop_id)
{
  g_autoptr(GVariant) v = cached (self, prop_id, G_VARIANT_TYPE_UINT32);

  return v != NULL ? g_variant_get_uint32 (v) : 0;
}

static void
on_properties_changed (GDBusProxy *proxy, GVariant *changed,
                       const char * const *invalidated, gpointer user_data)
{
  VmleaseLease *self = user_data;
  GVariantIter iter;
  const char *key;

  g_object_freeze_notify (G_OBJECT (self));
  g_variant_iter_init (&iter, changed);
  while (g_variant_iter_next (&iter, "{&sv}", &key, NULL))
    for (guint i = 0; i < G_N_ELEMENTS (dbus_props); i++)
      if (g_str_equal (dbus_props[i].dbus_name, key))
        g_object_notify_by_pspec (G_OBJECT (self), props[dbus_props[i].prop_id]);
  for (guint j = 0; invalidated != NULL && invalidated[j] != NULL; j++)
    for (guint i = 0; i < G_N_ELEMENTS (dbus_props); i++)
      if (g_str_equal (dbus_props[i].dbus_name, invalidated[j]))
        g_object_notify_by_pspec (G_OBJECT (self), props[dbus_props[i].prop_id]);
  g_object_thaw_notify (G_OBJECT (self));
}

static void
on_signal (GDBusProxy *proxy, const char *sender, const char *name,
           GVariant *parameters, gpointer user_data)
{
  VmleaseLease *self = user_data;

  if (g_str_equal (name, "Lost") && g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sa{sv})")))
    {
      const char *reason;
      g_autoptr(GVariant) details = NULL;

      g_variant_get (parameters, "(&s@a{sv})", &reason, &details);
      self->lost_pending = TRUE;
      g_signal_emit (self, signals[SIGNAL_LOST], 0,
                     _vmlease_enum_from_nick (VMLEASE_TYPE_LOST_REASON, reason,
                                             VMLEASE_LOST_REASON_UNKNOWN),
                     details);
    }
  else if (g_str_equal (name, "TransferRequested") &&
           g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(ta{sv})")))
    {
      guint64 host_id;
      g_autoptr(GVariant) details = NULL;

      g_variant_get (parameters, "(t@a{sv})", &host_id, &details);
      g_signal_emit (self, signals[SIGNAL_TRANSFER_REQUESTED], 0, host_id, details);
    }
  else if (g_str_equal (name, "Warning") && g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sa{sv})")))
    {
      const char *kind;
      g_autoptr(GVariant) details = NULL;

      g_variant_get (parameters, "(&s@a{sv})", &kind, &details);
      g_signal_emit (self, signals[SIGNAL_WARNING], 0, kind, details);
    }
}

static void
vmlease_lease_constructed (GObject *object)
{
  VmleaseLease *self = VMLEASE_LEASE (object);

  G_OBJECT_CLASS (vmlease_lease_parent_class)->constructed (object);
  g_return_if_fail (self->proxy != NULL);
  g_signal_connect_object (self->proxy, "g-properties-changed",
                           G_CALLBACK (on_properties_changed), self, 0);
  g_signal_connect_object (self->proxy, "g-signal", G_CALLBACK (on_signal), self, 0);
}

static void
vmlease_lease_get_property (GObject *object, guint prop_id,
                            GValue *value, GParamSpec *pspec)
{
  VmleaseLease *self = VMLEASE_LEASE (object);

  switch (prop_id)
    {
    case PROP_PROXY:
      g_value_set_object (value, self->proxy);
      break;
    case PROP_OBJECT_PATH:
      g_value_set_string (value, vmlease_lease_get_object_path (self));
      break;
    case PROP_UUID:
    case PROP_NAME:
    case PROP_LOCKSPACE:
    case PROP_STATE:
    case PROP_MODE:
    case PROP_FENCE:
    case PROP_TRANSFER_STEP:
    case PROP_STORAGE_STATE:
      g_value_set_string (value, cached_string (self, prop_id));
      break;
    case PROP_OWNER:
    case PROP_VERSION:
      g_value_set_uint64 (value, cached_uint64 (self, prop_id));
      break;
    case PROP_HOLDER_PID:
    case PROP_FENCE_PID:
      g_value_set_uint (value, cached_uint32 (self, prop_id));
      break;
    case PROP_DISKS:
      g_value_take_variant (value, vmlease_lease_dup_disks (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vmlease_lease_set_property (GObject *object, guint prop_id,
                            const GValue *value, GParamSpec *pspec)
{
  VmleaseLease *self = VMLEASE_LEASE (object);

  switch (prop_id)
    {
    case PROP_PROXY:
      self->proxy = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vmlease_lease_dispose (GObject *object)
{
  VmleaseLease *self = VMLEASE_LEASE (object);

  g_clear_object (&self->proxy);
  G_OBJECT_CLASS (vmlease_lease_parent_class)->dispose (object);
}

static void
vmlease_lease_finalize (GObject *object)
{
  VmleaseLease *self = VMLEASE_LEASE (object);

  g_main_context_unref (self->context);
  G_OBJECT_CLASS (vmlease_lease_parent_class)->finalize (object);
}

static GParamSpec *
string_prop (const char *name)
{
  return g_param_spec_string (name, NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
}

static void
vmlease_lease_class_init (VmleaseLeaseClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  object_class->constructed = vmlease_lease_constructed;
  object_class->get_property = vmlease_lease_get_property;
  object_class->set_property = vmlease_lease_set_property;
  object_class->dispose = vmlease_lease_dispose;
  object_class->finalize = vmlease_lease_finalize;

  /* Error replies must arrive in VMLEASE_ERROR: register it first. */
  (void) VMLEASE_ERROR;

  /**
   * VmleaseLease:proxy:
   *
   * The D-Bus proxy underneath.
   */
  props[PROP_PROXY] = g_param_spec_object ("proxy", NULL, NULL, G_TYPE_DBUS_PROXY,
                                           G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                                           G_PARAM_STATIC_STRINGS);
  /**
   * VmleaseLease:object-path:
   *
   * The lease's D-Bus object path.
   */
  props[PROP_OBJECT_PATH] = string_prop ("object-path");
  /**
   * VmleaseLease:uuid:
   *
   * The VM's UUID, in lower case (D-Bus property `Uuid`).
   */
  props[PROP_UUID] = string_prop ("uuid");
  /**
   * VmleaseLease:name:
   *
   * The VM's name, for people (`Name`).
   */
  props[PROP_NAME] = string_prop ("name");
  /**
   * VmleaseLease:lockspace:
   *
   * The lockspace the lease is in (`Lockspace`).
   */
  props[PROP_LOCKSPACE] = string_prop ("lockspace");
  /**
   * VmleaseLease:state:
   *
   * `free`, `acquiring`, `held`, `held-shared`, `releasing`,
   * `migrating-out`, `migrating-in` or `lost`, on this host (`State`).
   */
  props[PROP_STATE] = string_prop ("state");
  /**
   * VmleaseLease:mode:
   *
   * `exclusive` or `shared` (`Mode`).
   */
  props[PROP_MODE] = string_prop ("mode");
  /**
   * VmleaseLease:owner:
   *
   * The exclusive owner's host id last seen, 0 for none (`Owner`).
   */
  props[PROP_OWNER] = g_param_spec_uint64 ("owner", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  /**
   * VmleaseLease:version:
   *
   * sanlock's lease version last seen (`Version`).
   */
  props[PROP_VERSION] = g_param_spec_uint64 ("version", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  /**
   * VmleaseLease:holder-pid:
   *
   * The holder process keeping the lease here, 0 for none (`HolderPid`).
   */
  props[PROP_HOLDER_PID] = g_param_spec_uint ("holder-pid", NULL, NULL, 0, G_MAXUINT, 0, ro);
  /**
   * VmleaseLease:fence-pid:
   *
   * The VM process fenced when the lease is lost, 0 for none (`FencePid`).
   */
  props[PROP_FENCE_PID] = g_param_spec_uint ("fence-pid", NULL, NULL, 0, G_MAXUINT, 0, ro);
  /**
   * VmleaseLease:fence:
   *
   * The fence action: `kill`, `pause` or `none` (`Fence`).
   */
  props[PROP_FENCE] = string_prop ("fence");
  /**
   * VmleaseLease:transfer-step:
   *
   * The last hand-off step done here, `""` when none (`TransferStep`).
   */
  props[PROP_TRANSFER_STEP] = string_prop ("transfer-step");
  /**
   * VmleaseLease:disks:
   *
   * The disk leases held here with it, `a(ss)` of (key, mode) sorted by
   * key; empty when the lease is not held here (`Disks`).
   */
  props[PROP_DISKS] = g_param_spec_variant ("disks", NULL, NULL, G_VARIANT_TYPE ("a(ss)"),
                                            NULL, ro);
  /**
   * VmleaseLease:storage-state:
   *
   * The lease's storage as this host sees it: `ok`, `failing`, `lost` or
   * `joining` (`StorageState`).
   */
  props[PROP_STORAGE_STATE] = string_prop ("storage-state");

  g_object_class_install_properties (object_class, N_PROPS, props);

  /**
   * VmleaseLease::lost:
   * @lease: the lease
   * @reason: why it was lost
   * @details: an `a{sv}`: `message` s (in words), `fence` s, `fenced` b,
   *   `fence_pid` u, `fence_error` s, `holder_pid` u, `host_id` t, `time` t
   *   (µs since the epoch), `resource` s (`lease`, or a disk's sanlock
   *   resource name), `disk` s (a disk's key); docs/api.md lists them.
   *
   * The lease was held on this host and is gone, after the VM process was
   * fenced. A reason this library does not know arrives as
   * %VMLEASE_LOST_REASON_UNKNOWN.
   */
  signals[SIGNAL_LOST] =
    g_signal_new ("lost", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2,
                  VMLEASE_TYPE_LOST_REASON, G_TYPE_VARIANT);
  /**
   * VmleaseLease::transfer-requested:
   * @lease: the lease
   * @host_id: the host that asked for it
   * @details: an `a{sv}`: `generation` t, `lver` t, `time` t
   *
   * Another host asked for the lease (its Acquire had `request`). Nothing
   * changes by itself: migrate the VM there, or release the lease.
   */
  signals[SIGNAL_TRANSFER_REQUESTED] =
    g_signal_new ("transfer-requested", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_VARIANT);
  /**
   * VmleaseLease::warning:
   * @lease: the lease
   * @kind: what is wrong: `storage-failing`, or a kind a newer service
   *   added (log it)
   * @details: an `a{sv}`: `message` s (in words), `lockspace` s, `error` s,
   *   `path` s, `io_timeout` u and more (docs/api.md)
   *
   * Something to act on while the lease is still held here: with
   * `storage-failing`, stop or move the VM before sanlock revokes the lease.
   */
  signals[SIGNAL_WARNING] =
    g_signal_new ("warning", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_VARIANT);
}

static void
vmlease_lease_init (VmleaseLease *self)
{
  self->context = g_main_context_ref_thread_default ();
}

VmleaseLease *
_vmlease_lease_new_for_proxy (GDBusProxy *proxy)
{
  return g_object_new (VMLEASE_TYPE_LEASE, "proxy", proxy, NULL);
}

/* The client's vmlease_client_set_allow_interactive_authorization(). */
void
_vmlease_lease_set_call_flags (VmleaseLease *self, GDBusCallFlags flags)
{
  self->call_flags = flags;
}

/* --- properties ----------------------------------------------------------- */

/**
 * vmlease_lease_get_object_path:
 * @self: the lease
 *
 * Returns: [property@Vmlease.Lease:object-path]
 */
const char *
vmlease_lease_get_object_path (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  return g_dbus_proxy_get_object_path (self->proxy);
}

/**
 * vmlease_lease_get_uuid:
 * @self: the lease
 *
 * Returns: (nullable): [property@Vmlease.Lease:uuid]; like every string
 *   getter here, valid until the property changes
 */
const char *
vmlease_lease_get_uuid (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  return cached_string (self, PROP_UUID);
}

/**
 * vmlease_lease_get_name:
 * @self: the lease
 *
 * Returns: (nullable): [property@Vmlease.Lease:name]
 */
const char *
vmlease_lease_get_name (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  return cached_string (self, PROP_NAME);
}

/**
 * vmlease_lease_get_lockspace:
 * @self: the lease
 *
 * Returns: (nullable): [property@Vmlease.Lease:lockspace]
 */
const char *
vmlease_lease_get_lockspace (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  return cached_string (self, PROP_LOCKSPACE);
}

/**
 * vmlease_lease_get_state:
 * @self: the lease
 *
 * Returns: (nullable): [property@Vmlease.Lease:state]
 */
const char *
vmlease_lease_get_state (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  return cached_string (self, PROP_STATE);
}

/**
 * vmlease_lease_get_mode:
 * @self: the lease
 *
 * Returns: (nullable): [property@Vmlease.Lease:mode]
 */
const char *
vmlease_lease_get_mode (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  return cached_string (self, PROP_MODE);
}

/**
 * vmlease_lease_get_owner:
 * @self: the lease
 *
 * Returns: [property@Vmlease.Lease:owner]
 */
guint64
vmlease_lease_get_owner (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), 0);
  return cached_uint64 (self, PROP_OWNER);
}

/**
 * vmlease_lease_get_version:
 * @self: the lease
 *
 * Returns: [property@Vmlease.Lease:version]
 */
guint64
vmlease_lease_get_version (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), 0);
  return cached_uint64 (self, PROP_VERSION);
}

/**
 * vmlease_lease_get_holder_pid:
 * @self: the lease
 *
 * Returns: [property@Vmlease.Lease:holder-pid]
 */
guint
vmlease_lease_get_holder_pid (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), 0);
  return cached_uint32 (self, PROP_HOLDER_PID);
}

/**
 * vmlease_lease_get_fence_pid:
 * @self: the lease
 *
 * Returns: [property@Vmlease.Lease:fence-pid]
 */
guint
vmlease_lease_get_fence_pid (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), 0);
  return cached_uint32 (self, PROP_FENCE_PID);
}

/**
 * vmlease_lease_get_fence:
 * @self: the lease
 *
 * Returns: (nullable): [property@Vmlease.Lease:fence]
 */
const char *
vmlease_lease_get_fence (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  return cached_string (self, PROP_FENCE);
}

/**
 * vmlease_lease_get_transfer_step:
 * @self: the lease
 *
 * Returns: (nullable): [property@Vmlease.Lease:transfer-step]
 */
const char *
vmlease_lease_get_transfer_step (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  return cached_string (self, PROP_TRANSFER_STEP);
}

/**
 * vmlease_lease_get_storage_state:
 * @self: the lease
 *
 * Returns: (nullable): [property@Vmlease.Lease:storage-state]
 */
const char *
vmlease_lease_get_storage_state (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  return cached_string (self, PROP_STORAGE_STATE);
}

/**
 * vmlease_lease_dup_disks:
 * @self: the lease
 *
 * Returns: (transfer full) (nullable): [property@Vmlease.Lease:disks]
 */
GVariant *
vmlease_lease_dup_disks (VmleaseLease *self)
{
  g_return_val_if_fail (VMLEASE_IS_LEASE (self), NULL);
  return cached (self, PROP_DISKS, G_VARIANT_TYPE ("a(ss)"));
}
