/* vmlease-transfer-options.c: VmleaseTransferOptions, and how they become
 * the a{sv} of one Transfer step; an option the step does not take is an
 * error here, before anything is sent. */
#include "vmlease-private.h"

/**
 * VmleaseTransferOptions:
 *
 * The options of the Transfer steps ([method@Vmlease.Lease.transfer] and
 * [class@Vmlease.Migration]). Each applies to some steps only:
 *
 * - `pid`, `fence`: prepare and finish (the destination's VM process);
 * - disks ([method@Vmlease.TransferOptions.add_disk]): prepare (the
 *   destination's own disk set);
 * - `postcopy`: perform (the point of no return);
 * - `failure`: finish (let go instead of taking it exclusively) and confirm
 *   (take it back on the source);
 * - `wait`: confirm and cancel (seconds to wait for the other side), and
 *   finish given prepare's own token (seconds to wait for the source's
 *   perform: finish side by side with perform);
 * - `resume`: prepare and finish (vmleased starts the destination's guest
 *   through `qmp` the moment finish may answer).
 */
struct _VmleaseTransferOptions
{
  GObject parent_instance;

  guint pid;
  VmleaseFence fence;
  gboolean postcopy;
  gboolean failure;
  gboolean success;
  guint wait;
  char *qmp;
  gboolean resume;
  GArray *disks;                /* VmleaseDisk */
};

G_DEFINE_FINAL_TYPE (VmleaseTransferOptions, vmlease_transfer_options, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_PID,
  PROP_FENCE,
  PROP_POSTCOPY,
  PROP_FAILURE,
  PROP_WAIT,
  PROP_SUCCESS,
  PROP_QMP,
  PROP_RESUME,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void
vmlease_transfer_options_get_property (GObject *object, guint prop_id,
                                       GValue *value, GParamSpec *pspec)
{
  VmleaseTransferOptions *self = VMLEASE_TRANSFER_OPTIONS (object);

  switch (prop_id)
    {
    case PROP_PID: g_value_set_uint (value, self->pid); break;
    case PROP_FENCE: g_value_set_enum (value, self->fence); break;
    case PROP_POSTCOPY: g_value_set_boolean (value, self->postcopy); break;
    case PROP_FAILURE: g_value_set_boolean (value, self->failure); break;
    case PROP_WAIT: g_value_set_uint (value, self->wait); break;
    case PROP_SUCCESS: g_value_set_boolean (value, self->success); break;
    case PROP_QMP: g_value_set_string (value, self->qmp); break;
    case PROP_RESUME: g_value_set_boolean (value, self->resume); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vmlease_transfer_options_set_property (GObject *object, guint prop_id,
                                       const GValue *value, GParamSpec *pspec)
{
  VmleaseTransferOptions *self = VMLEASE_TRANSFER_OPTIONS (object);

  switch (prop_id)
    {
    /* Through the setters: they notify (the properties are EXPLICIT_NOTIFY). */
    case PROP_PID: vmlease_transfer_options_set_pid (self, g_value_get_uint (value)); break;
    case PROP_FENCE: vmlease_transfer_options_set_fence (self, g_value_get_enum (value)); break;
    case PROP_POSTCOPY: vmlease_transfer_options_set_postcopy (self, g_value_get_boolean (value)); break;
    case PROP_FAILURE: vmlease_transfer_options_set_failure (self, g_value_get_boolean (value)); break;
    case PROP_WAIT: vmlease_transfer_options_set_wait (self, g_value_get_uint (value)); break;
    case PROP_SUCCESS: vmlease_transfer_options_set_success (self, g_value_get_boolean (value)); break;
    case PROP_QMP: vmlease_transfer_options_set_qmp (self, g_value_get_string (value)); break;
    case PROP_RESUME: vmlease_transfer_options_set_resume (self, g_value_get_boolean (value)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vmlease_transfer_options_finalize (GObject *object)
{
  VmleaseTransferOptions *self = VMLEASE_TRANSFER_OPTIONS (object);

  g_free (self->qmp);
  g_array_unref (self->disks);
  G_OBJECT_CLASS (vmlease_transfer_options_parent_class)->finalize (object);
}

static void
vmlease_transfer_options_class_init (VmleaseTransferOptionsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = vmlease_transfer_options_get_property;
  object_class->set_property = vmlease_transfer_options_set_property;
  object_class->finalize = vmlease_transfer_options_finalize;

  /**
   * VmleaseTransferOptions:pid:
   *
   * prepare, finish: the destination's VM process, fenced when the lease is
   * lost there; at finish it replaces prepare's. 0 for none.
   */
  props[PROP_PID] = g_param_spec_uint ("pid", NULL, NULL, 0, G_MAXUINT, 0, rw);
  /**
   * VmleaseTransferOptions:fence:
   *
   * prepare, finish: the fence action for [property@Vmlease.TransferOptions:pid].
   */
  props[PROP_FENCE] = g_param_spec_enum ("fence", NULL, NULL, VMLEASE_TYPE_FENCE,
                                         VMLEASE_FENCE_DEFAULT, rw);
  /**
   * VmleaseTransferOptions:postcopy:
   *
   * perform: this is a post-copy switchover, the point of no return.
   */
  props[PROP_POSTCOPY] = g_param_spec_boolean ("postcopy", NULL, NULL, FALSE, rw);
  /**
   * VmleaseTransferOptions:failure:
   *
   * finish: the migration failed, the destination lets go; confirm: take
   * the lease back on the source. Sent as `success` false.
   */
  props[PROP_FAILURE] = g_param_spec_boolean ("failure", NULL, NULL, FALSE, rw);
  /**
   * VmleaseTransferOptions:wait:
   *
   * confirm, cancel: seconds to wait for the other side to let go or be
   * seen dead; finish with prepare's own token (side by side with
   * perform): seconds to wait for the source to let go. At most 3600.
   */
  props[PROP_WAIT] = g_param_spec_uint ("wait", NULL, NULL, 0, G_MAXUINT, 0, rw);
  /**
   * VmleaseTransferOptions:success:
   *
   * finish, confirm: say that the migration succeeded (option `success`
   * true), where the default is what the token says. Excludes
   * [property@Vmlease.TransferOptions:failure].
   */
  props[PROP_SUCCESS] = g_param_spec_boolean ("success", NULL, NULL, FALSE, rw);
  /**
   * VmleaseTransferOptions:qmp:
   *
   * prepare, finish: the QMP socket of the destination's QEMU (with a
   * pid): with %VMLEASE_FENCE_PAUSE fencing pauses the guest with QMP
   * `stop`, and [property@Vmlease.TransferOptions:resume] uses it; %NULL
   * (the default) for none.
   */
  props[PROP_QMP] = g_param_spec_string ("qmp", NULL, NULL, NULL, rw);
  /**
   * VmleaseTransferOptions:resume:
   *
   * prepare: connect to [property@Vmlease.TransferOptions:qmp] now, for
   * finish's resume; finish: once the guest may run, vmleased sends QMP
   * `cont` to the destination's QEMU itself, and finish answers once the
   * guest runs. Needs a pid and a QMP socket.
   */
  props[PROP_RESUME] = g_param_spec_boolean ("resume", NULL, NULL, FALSE, rw);

  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
vmlease_transfer_options_init (VmleaseTransferOptions *self)
{
  self->disks = _vmlease_disk_list_new ();
}

/**
 * vmlease_transfer_options_new:
 *
 * Options with every value at the service's default.
 *
 * Returns: (transfer full): new options
 */
VmleaseTransferOptions *
vmlease_transfer_options_new (void)
{
  return g_object_new (VMLEASE_TYPE_TRANSFER_OPTIONS, NULL);
}

#define SETTER(field, prop)                                                  \
  g_return_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self));                     \
  if (self->field == value)                                                  \
    return;                                                                  \
  self->field = value;                                                       \
  g_object_notify_by_pspec (G_OBJECT (self), props[prop])

/**
 * vmlease_transfer_options_set_pid:
 * @self: the options
 * @pid: the destination's VM process, or 0
 *
 * Sets [property@Vmlease.TransferOptions:pid].
 */
void
vmlease_transfer_options_set_pid (VmleaseTransferOptions *self, guint pid)
{
  guint value = pid;
  SETTER (pid, PROP_PID);
}

/**
 * vmlease_transfer_options_get_pid:
 * @self: the options
 *
 * Returns: [property@Vmlease.TransferOptions:pid]
 */
guint
vmlease_transfer_options_get_pid (VmleaseTransferOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self), 0);
  return self->pid;
}

/**
 * vmlease_transfer_options_set_fence:
 * @self: the options
 * @fence: the fence action
 *
 * Sets [property@Vmlease.TransferOptions:fence].
 */
void
vmlease_transfer_options_set_fence (VmleaseTransferOptions *self, VmleaseFence fence)
{
  VmleaseFence value = fence;
  SETTER (fence, PROP_FENCE);
}

/**
 * vmlease_transfer_options_get_fence:
 * @self: the options
 *
 * Returns: [property@Vmlease.TransferOptions:fence]
 */
VmleaseFence
vmlease_transfer_options_get_fence (VmleaseTransferOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self), VMLEASE_FENCE_DEFAULT);
  return self->fence;
}

/**
 * vmlease_transfer_options_set_postcopy:
 * @self: the options
 * @postcopy: whether perform is a post-copy switchover
 *
 * Sets [property@Vmlease.TransferOptions:postcopy].
 */
void
vmlease_transfer_options_set_postcopy (VmleaseTransferOptions *self, gboolean postcopy)
{
  gboolean value = !!postcopy;
  SETTER (postcopy, PROP_POSTCOPY);
}

/**
 * vmlease_transfer_options_get_postcopy:
 * @self: the options
 *
 * Returns: [property@Vmlease.TransferOptions:postcopy]
 */
gboolean
vmlease_transfer_options_get_postcopy (VmleaseTransferOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self), FALSE);
  return self->postcopy;
}

/**
 * vmlease_transfer_options_set_failure:
 * @self: the options
 * @failure: whether the migration failed
 *
 * Sets [property@Vmlease.TransferOptions:failure].
 */
void
vmlease_transfer_options_set_failure (VmleaseTransferOptions *self, gboolean failure)
{
  gboolean value = !!failure;
  SETTER (failure, PROP_FAILURE);
}

/**
 * vmlease_transfer_options_get_failure:
 * @self: the options
 *
 * Returns: [property@Vmlease.TransferOptions:failure]
 */
gboolean
vmlease_transfer_options_get_failure (VmleaseTransferOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self), FALSE);
  return self->failure;
}

/**
 * vmlease_transfer_options_set_wait:
 * @self: the options
 * @seconds: how long to wait for the other side
 *
 * Sets [property@Vmlease.TransferOptions:wait].
 */
void
vmlease_transfer_options_set_wait (VmleaseTransferOptions *self, guint seconds)
{
  guint value = seconds;
  SETTER (wait, PROP_WAIT);
}

/**
 * vmlease_transfer_options_get_wait:
 * @self: the options
 *
 * Returns: [property@Vmlease.TransferOptions:wait]
 */
guint
vmlease_transfer_options_get_wait (VmleaseTransferOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self), 0);
  return self->wait;
}

/**
 * vmlease_transfer_options_add_disk:
 * @self: the options
 * @key: the disk's key
 * @mode: exclusive or shared
 *
 * prepare: adds a disk to the destination's own disk set (a migration that
 * copies disks to new volumes). Without any, the source's disks move.
 */
void
vmlease_transfer_options_add_disk (VmleaseTransferOptions *self,
                                   const char             *key,
                                   VmleaseMode             mode)
{
  g_return_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self));
  g_return_if_fail (key != NULL);
  _vmlease_disk_list_add (self->disks, key, mode);
}

/**
 * vmlease_transfer_options_set_success:
 * @self: the options
 * @success: whether to say so
 *
 * Sets [property@Vmlease.TransferOptions:success].
 */
void
vmlease_transfer_options_set_success (VmleaseTransferOptions *self, gboolean success)
{
  g_return_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self));
  success = !!success;
  if (self->success == success)
    return;
  self->success = success;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_SUCCESS]);
}

/**
 * vmlease_transfer_options_get_success:
 * @self: the options
 *
 * Returns: [property@Vmlease.TransferOptions:success]
 */
gboolean
vmlease_transfer_options_get_success (VmleaseTransferOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self), FALSE);
  return self->success;
}

/**
 * vmlease_transfer_options_set_qmp:
 * @self: the options
 * @qmp: (nullable): the QMP socket's path, or %NULL
 *
 * Sets [property@Vmlease.TransferOptions:qmp].
 */
void
vmlease_transfer_options_set_qmp (VmleaseTransferOptions *self, const char *qmp)
{
  g_return_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self));
  _vmlease_set_string (G_OBJECT (self), &self->qmp, qmp, props[PROP_QMP]);
}

/**
 * vmlease_transfer_options_get_qmp:
 * @self: the options
 *
 * Returns: (nullable): [property@Vmlease.TransferOptions:qmp]
 */
const char *
vmlease_transfer_options_get_qmp (VmleaseTransferOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self), NULL);
  return self->qmp;
}

/**
 * vmlease_transfer_options_set_resume:
 * @self: the options
 * @resume: whether vmleased resumes the destination's guest
 *
 * Sets [property@Vmlease.TransferOptions:resume].
 */
void
vmlease_transfer_options_set_resume (VmleaseTransferOptions *self, gboolean resume)
{
  gboolean value = !!resume;
  SETTER (resume, PROP_RESUME);
}

/**
 * vmlease_transfer_options_get_resume:
 * @self: the options
 *
 * Returns: [property@Vmlease.TransferOptions:resume]
 */
gboolean
vmlease_transfer_options_get_resume (VmleaseTransferOptions *self)
{
  g_return_val_if_fail (VMLEASE_IS_TRANSFER_OPTIONS (self), FALSE);
  return self->resume;
}

static gboolean
refuse (VmleaseTransferStep step, const char *option, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "the transfer step %s does not take the option %s",
               _vmlease_enum_nick (VMLEASE_TYPE_TRANSFER_STEP, step), option);
  return FALSE;
}

/**
 * vmlease_transfer_options_to_variant:
 * @self: (nullable): the options, or %NULL for none
 * @step: the step they are for
 * @error: return location for a #GError
 *
 * The `a{sv}` these options are sent as with @step: only what differs from
 * the service's defaults. An option set that @step does not take is an
 * error (%G_IO_ERROR_INVALID_ARGUMENT), as is %VMLEASE_TRANSFER_STEP_NONE.
 *
 * Returns: (transfer full): an `a{sv}` variant, or %NULL on error
 */
GVariant *
vmlease_transfer_options_to_variant (VmleaseTransferOptions *self,
                                     VmleaseTransferStep     step,
                                     GError                **error)
{
  GVariantBuilder b;
  gboolean fence_target, disks, postcopy, failure, wait;

  g_return_val_if_fail (self == NULL || VMLEASE_IS_TRANSFER_OPTIONS (self), NULL);

  if (step <= VMLEASE_TRANSFER_STEP_NONE || step > VMLEASE_TRANSFER_STEP_CANCEL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "no such transfer step: %d", (int) step);
      return NULL;
    }
  fence_target = step == VMLEASE_TRANSFER_STEP_PREPARE || step == VMLEASE_TRANSFER_STEP_FINISH;
  disks = step == VMLEASE_TRANSFER_STEP_PREPARE;
  postcopy = step == VMLEASE_TRANSFER_STEP_PERFORM;
  failure = step == VMLEASE_TRANSFER_STEP_FINISH || step == VMLEASE_TRANSFER_STEP_CONFIRM;
  wait = step == VMLEASE_TRANSFER_STEP_CONFIRM || step == VMLEASE_TRANSFER_STEP_CANCEL ||
         step == VMLEASE_TRANSFER_STEP_FINISH;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (self != NULL)
    {
      if ((self->pid != 0 && !fence_target && !refuse (step, "pid", error)) ||
          (self->fence != VMLEASE_FENCE_DEFAULT && !fence_target && !refuse (step, "fence", error)) ||
          (self->disks->len > 0 && !disks && !refuse (step, "disks", error)) ||
          (self->postcopy && !postcopy && !refuse (step, "postcopy", error)) ||
          (self->failure && !failure && !refuse (step, "failure", error)) ||
          (self->success && !failure && !refuse (step, "success", error)) ||
          (self->qmp != NULL && !fence_target && !refuse (step, "qmp", error)) ||
          (self->wait != 0 && !wait && !refuse (step, "wait", error)) ||
          (self->resume && !fence_target && !refuse (step, "resume", error)))
        {
          g_variant_builder_clear (&b);
          return NULL;
        }
      if (self->pid != 0)
        g_variant_builder_add (&b, "{sv}", "pid", g_variant_new_uint32 (self->pid));
      if (self->fence != VMLEASE_FENCE_DEFAULT)
        g_variant_builder_add (&b, "{sv}", "fence",
                               g_variant_new_string (_vmlease_enum_nick (VMLEASE_TYPE_FENCE, self->fence)));
      if (self->disks->len > 0)
        g_variant_builder_add (&b, "{sv}", "disks", _vmlease_disk_list_to_variant (self->disks));
      if (self->postcopy)
        g_variant_builder_add (&b, "{sv}", "postcopy", g_variant_new_boolean (TRUE));
      if (self->failure && self->success)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "the options success and failure exclude each other");
          g_variant_builder_clear (&b);
          return NULL;
        }
      if (self->failure || self->success)
        g_variant_builder_add (&b, "{sv}", "success", g_variant_new_boolean (self->success));
      if (self->qmp != NULL)
        g_variant_builder_add (&b, "{sv}", "qmp", g_variant_new_string (self->qmp));
      if (self->wait != 0)
        g_variant_builder_add (&b, "{sv}", "wait", g_variant_new_uint32 (self->wait));
      if (self->resume)
        g_variant_builder_add (&b, "{sv}", "resume", g_variant_new_boolean (TRUE));
    }
  return g_variant_ref_sink (g_variant_builder_end (&b));
}
