/* vmlease-acquire-options.c: VmleaseAcquireOptions, and how they become the
 * a{sv} of Acquire and AttachDisks. Unset options are not sent, so the
 * service's defaults apply (docs/api.md). */
#include "vmlease-private.h"

/**
 * VmleaseAcquireOptions:
 *
 * The options of [method@Vmlease.Lease.acquire] and
 * [method@Vmlease.Lease.attach_disks]: the VM process to fence and how, the
 * mode, how long to wait for another host, whether to seize the lease
 * (`force`) or ask its owner for it (`request`), and the VM's disk leases.
 *
 * In Python: `Vmlease.AcquireOptions(pid=vm.pid, fence=Vmlease.Fence.KILL)`.
 */
struct _VmleaseAcquireOptions
{
  GObject parent_instance;

  guint pid;
  VmleaseFence fence;
  VmleaseMode mode;
  guint wait;
  gboolean force;
  gboolean request;
  char *qmp;
  GArray *disks;                /* VmleaseDisk */
};

G_DEFINE_FINAL_TYPE (VmleaseAcquireOptions, vmlease_acquire_options, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_PID,
  PROP_FENCE,
  PROP_MODE,
  PROP_WAIT,
  PROP_FORCE,
  PROP_REQUEST,
  PROP_QMP,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void
vmlease_acquire_options_get_property (GObject *object, guint prop_id,
                                      GValue *value, GParamSpec *pspec)
{
  VmleaseAcquireOptions *self = VMLEASE_ACQUIRE_OPTIONS (object);

  switch (prop_id)
    {
    case PROP_PID: g_value_set_uint (value, self->pid); break;
    case PROP_FENCE: g_value_set_enum (value, self->fence); break;
    case PROP_MODE: g_value_set_enum (value, self->mode); break;
    case PROP_WAIT: g_value_set_uint (value, self->wait); break;
    case PROP_FORCE: g_value_set_boolean (value, self->force); break;
    case PROP_REQUEST: g_value_set_boolean (value, self->request); break;
    case PROP_QMP: g_value_set_string (value, self->qmp); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vmlease_acquire_options_set_property (GObject *object, guint prop_id,
                                      const GValue *value, GParamSpec *pspec)
{
  VmleaseAcquireOptions *self = VMLEASE_ACQUIRE_OPTIONS (object);

  switch (prop_id)
    {
    /* Through the setters: they notify (the properties are EXPLICIT_NOTIFY). */
    case PROP_PID: vmlease_acquire_options_set_pid (self, g_value_get_uint (value)); break;
    case PROP_FENCE: vmlease_acquire_options_set_fence (self, g_value_get_enum (value)); break;
    case PROP_MODE: vmlease_acquire_options_set_mode (self, g_value_get_enum (value)); break;
    case PROP_WAIT: vmlease_acquire_options_set_wait (self, g_value_get_uint (value)); break;
    case PROP_FORCE: vmlease_acquire_options_set_force (self, g_value_get_boolean (value)); break;
    case PROP_REQUEST: vmlease_acquire_options_set_request (self, g_value_get_boolean (value)); break;
    case PROP_QMP: vmlease_acquire_options_set_qmp (self, g_value_get_string (value)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vmlease_acquire_options_finalize (GObject *object)
{
  VmleaseAcquireOptions *self = VMLEASE_ACQUIRE_OPTIONS (object);

  g_array_unref (self->disks);
  g_free (self->qmp);
  G_OBJECT_CLASS (vmlease_acquire_options_parent_class)->finalize (object);
}

static void
vmlease_acquire_options_class_init (VmleaseAcquireOptionsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = vmlease_acquire_options_get_property;
  object_class->set_property = vmlease_acquire_options_set_property;
  object_class->finalize = vmlease_acquire_options_finalize;

  /**
   * VmleaseAcquireOptions:pid:
   *
   * The VM process, fenced when the lease is lost; 0 for none.
   */
  props[PROP_PID] = g_param_spec_uint ("pid", NULL, NULL, 0, G_MAXUINT, 0, rw);
  /**
   * VmleaseAcquireOptions:fence:
   *
   * What is done to [property@Vmlease.AcquireOptions:pid] when the lease is lost.
   */
  props[PROP_FENCE] = g_param_spec_enum ("fence", NULL, NULL, VMLEASE_TYPE_FENCE,
                                         VMLEASE_FENCE_DEFAULT, rw);
  /**
   * VmleaseAcquireOptions:mode:
   *
   * Exclusive (the default) or shared.
   */
  props[PROP_MODE] = g_param_spec_enum ("mode", NULL, NULL, VMLEASE_TYPE_MODE,
                                        VMLEASE_MODE_EXCLUSIVE, rw);
  /**
   * VmleaseAcquireOptions:wait:
   *
   * Seconds to keep trying while another host holds the lease; 0 (the
   * default) fails with %VMLEASE_ERROR_BUSY at once, or waits 120 s with
   * [property@Vmlease.AcquireOptions:force]. At most 3600.
   */
  props[PROP_WAIT] = g_param_spec_uint ("wait", NULL, NULL, 0, G_MAXUINT, 0, rw);
  /**
   * VmleaseAcquireOptions:force:
   *
   * Seize the lease from its exclusive owner, which fences its VM and
   * emits [signal@Vmlease.Lease::lost] with %VMLEASE_LOST_REASON_REVOKED.
   */
  props[PROP_FORCE] = g_param_spec_boolean ("force", NULL, NULL, FALSE, rw);
  /**
   * VmleaseAcquireOptions:request:
   *
   * Ask the owner to hand the lease over: it emits
   * [signal@Vmlease.Lease::transfer-requested] and keeps it.
   */
  props[PROP_REQUEST] = g_param_spec_boolean ("request", NULL, NULL, FALSE, rw);
  /**
   * VmleaseAcquireOptions:qmp:
   *
   * With %VMLEASE_FENCE_PAUSE: the QMP socket of the QEMU that is
   * [property@Vmlease.AcquireOptions:pid], so that fencing pauses the guest
   * with QMP `stop`; %NULL (the default) for none.
   */
  props[PROP_QMP] = g_param_spec_string ("qmp", NULL, NULL, NULL, rw);

  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
vmlease_acquire_options_init (VmleaseAcquireOptions *self)
{
  self->disks = _vmlease_disk_list_new ();
}

/**
 * vmlease_acquire_options_new:
 *
 * Options with every value at the service's default.
 *
 * Returns: (transfer full): new options
 */
VmleaseAcquireOptions *
vmlease_acquire_options_new (void)
{
  return g_object_new (VMLEASE_TYPE_ACQUIRE_OPTIONS, NULL);
}

#define SETTER(field, prop, type)                                            \
  g_return_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (self));                      \
  if (self->field == (type) value)                                           \
    return;                                                                  \
  self->field = value;                                                       \
  g_object_notify_by_pspec (G_OBJECT (self), props[prop])

/**
 * vmlease_acquire_options_set_pid:
 * @self: the options
 * @pid: the VM process, or 0
 *
 * Sets [property@Vmlease.AcquireOptions:pid].
 */
void
vmlease_acquire_options_set_pid (VmleaseAcquireOptions *self, guint pid)
{
  guint value = pid;
  SETTER (pid, PROP_PID, guint);
}

/**
 * vmlease_acquire_options_get_pid:
 * @self: the options
 *
 * Returns: [property@Vmlease.AcquireOptions:pid]
 */
guint
vmlease_acquire_options_get_pid (VmleaseAcquireOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (self), 0);
  return self->pid;
}

/**
 * vmlease_acquire_options_set_fence:
 * @self: the options
 * @fence: the fence action
 *
 * Sets [property@Vmlease.AcquireOptions:fence].
 */
void
vmlease_acquire_options_set_fence (VmleaseAcquireOptions *self, VmleaseFence fence)
{
  VmleaseFence value = fence;
  SETTER (fence, PROP_FENCE, VmleaseFence);
}

/**
 * vmlease_acquire_options_get_fence:
 * @self: the options
 *
 * Returns: [property@Vmlease.AcquireOptions:fence]
 */
VmleaseFence
vmlease_acquire_options_get_fence (VmleaseAcquireOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (self), VMLEASE_FENCE_DEFAULT);
  return self->fence;
}

/**
 * vmlease_acquire_options_set_mode:
 * @self: the options
 * @mode: exclusive or shared
 *
 * Sets [property@Vmlease.AcquireOptions:mode].
 */
void
vmlease_acquire_options_set_mode (VmleaseAcquireOptions *self, VmleaseMode mode)
{
  VmleaseMode value = mode;
  SETTER (mode, PROP_MODE, VmleaseMode);
}

/**
 * vmlease_acquire_options_get_mode:
 * @self: the options
 *
 * Returns: [property@Vmlease.AcquireOptions:mode]
 */
VmleaseMode
vmlease_acquire_options_get_mode (VmleaseAcquireOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (self), VMLEASE_MODE_EXCLUSIVE);
  return self->mode;
}

/**
 * vmlease_acquire_options_set_wait:
 * @self: the options
 * @seconds: how long to keep trying
 *
 * Sets [property@Vmlease.AcquireOptions:wait].
 */
void
vmlease_acquire_options_set_wait (VmleaseAcquireOptions *self, guint seconds)
{
  guint value = seconds;
  SETTER (wait, PROP_WAIT, guint);
}

/**
 * vmlease_acquire_options_get_wait:
 * @self: the options
 *
 * Returns: [property@Vmlease.AcquireOptions:wait]
 */
guint
vmlease_acquire_options_get_wait (VmleaseAcquireOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (self), 0);
  return self->wait;
}

/**
 * vmlease_acquire_options_set_force:
 * @self: the options
 * @force: whether to seize the lease
 *
 * Sets [property@Vmlease.AcquireOptions:force].
 */
void
vmlease_acquire_options_set_force (VmleaseAcquireOptions *self, gboolean force)
{
  gboolean value = !!force;
  SETTER (force, PROP_FORCE, gboolean);
}

/**
 * vmlease_acquire_options_get_force:
 * @self: the options
 *
 * Returns: [property@Vmlease.AcquireOptions:force]
 */
gboolean
vmlease_acquire_options_get_force (VmleaseAcquireOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (self), FALSE);
  return self->force;
}

/**
 * vmlease_acquire_options_set_request:
 * @self: the options
 * @request: whether to ask the owner for the lease
 *
 * Sets [property@Vmlease.AcquireOptions:request].
 */
void
vmlease_acquire_options_set_request (VmleaseAcquireOptions *self, gboolean request)
{
  gboolean value = !!request;
  SETTER (request, PROP_REQUEST, gboolean);
}

/**
 * vmlease_acquire_options_get_request:
 * @self: the options
 *
 * Returns: [property@Vmlease.AcquireOptions:request]
 */
gboolean
vmlease_acquire_options_get_request (VmleaseAcquireOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (self), FALSE);
  return self->request;
}

/**
 * vmlease_acquire_options_set_qmp:
 * @self: the options
 * @qmp: (nullable): the QMP socket's path, or %NULL
 *
 * Sets [property@Vmlease.AcquireOptions:qmp].
 */
void
vmlease_acquire_options_set_qmp (VmleaseAcquireOptions *self, const char *qmp)
{
  g_return_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (self));
  _vmlease_set_string (G_OBJECT (self), &self->qmp, qmp, props[PROP_QMP]);
}

/**
 * vmlease_acquire_options_get_qmp:
 * @self: the options
 *
 * Returns: (nullable): [property@Vmlease.AcquireOptions:qmp]
 */
const char *
vmlease_acquire_options_get_qmp (VmleaseAcquireOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (self), NULL);
  return self->qmp;
}

/**
 * vmlease_acquire_options_add_disk:
 * @self: the options
 * @key: the disk's key (a volume UUID, the disk's path: 1 to 256 bytes of
 *   `[A-Za-z0-9._:/@+-]`)
 * @mode: exclusive (only this VM writes it) or shared
 *
 * Adds a disk lease, taken with the VM lease, all or nothing. A key added
 * twice keeps the last mode.
 */
void
vmlease_acquire_options_add_disk (VmleaseAcquireOptions *self,
                                  const char            *key,
                                  VmleaseMode            mode)
{
  g_return_if_fail (VMLEASE_IS_ACQUIRE_OPTIONS (self));
  g_return_if_fail (key != NULL);
  _vmlease_disk_list_add (self->disks, key, mode);
}

/**
 * vmlease_acquire_options_to_variant:
 * @self: (nullable): the options, or %NULL for none
 *
 * The `a{sv}` these options are sent as: only what differs from the
 * service's defaults. For logs and for callers that speak D-Bus themselves.
 *
 * Returns: (transfer full): an `a{sv}` variant
 */
GVariant *
vmlease_acquire_options_to_variant (VmleaseAcquireOptions *self)
{
  GVariantBuilder b;

  g_return_val_if_fail (self == NULL || VMLEASE_IS_ACQUIRE_OPTIONS (self), NULL);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (self != NULL)
    {
      if (self->pid != 0)
        g_variant_builder_add (&b, "{sv}", "pid", g_variant_new_uint32 (self->pid));
      if (self->fence != VMLEASE_FENCE_DEFAULT)
        g_variant_builder_add (&b, "{sv}", "fence",
                               g_variant_new_string (_vmlease_enum_nick (VMLEASE_TYPE_FENCE, self->fence)));
      if (self->mode != VMLEASE_MODE_EXCLUSIVE)
        g_variant_builder_add (&b, "{sv}", "mode",
                               g_variant_new_string (_vmlease_enum_nick (VMLEASE_TYPE_MODE, self->mode)));
      if (self->wait != 0)
        g_variant_builder_add (&b, "{sv}", "wait", g_variant_new_uint32 (self->wait));
      if (self->force)
        g_variant_builder_add (&b, "{sv}", "force", g_variant_new_boolean (TRUE));
      if (self->request)
        g_variant_builder_add (&b, "{sv}", "request", g_variant_new_boolean (TRUE));
      if (self->qmp != NULL)
        g_variant_builder_add (&b, "{sv}", "qmp", g_variant_new_string (self->qmp));
      if (self->disks->len > 0)
        g_variant_builder_add (&b, "{sv}", "disks", _vmlease_disk_list_to_variant (self->disks));
    }
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

/* AttachDisks: the disks as its own argument, and of the options only wait. */
GVariant *
_vmlease_acquire_options_disks (VmleaseAcquireOptions *self)
{
  return _vmlease_disk_list_to_variant (self->disks);
}
