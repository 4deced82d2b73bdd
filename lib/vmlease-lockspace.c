/* vmlease-lockspace.c: VmleaseLockspace, a snapshot of one
 * (name, host_id, path, offset, state, io_timeout) entry of the manager's
 * Lockspaces property. */
#include "vmlease-private.h"
#include "vmlease-lockspace-private.h"

/**
 * VmleaseLockspace:
 *
 * A lockspace the host has joined (or is joining), as
 * [method@Vmlease.Client.get_lockspaces] saw it: a snapshot, not kept
 * current; [signal@Vmlease.Client::lockspace-changed] says when to ask again.
 */
struct _VmleaseLockspace
{
  GObject parent_instance;

  char *name;
  guint64 host_id;
  char *path;
  guint64 offset;
  char *state;
  guint io_timeout;
};

G_DEFINE_FINAL_TYPE (VmleaseLockspace, vmlease_lockspace, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_NAME,
  PROP_HOST_ID,
  PROP_PATH,
  PROP_OFFSET,
  PROP_STATE,
  PROP_IO_TIMEOUT,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void
vmlease_lockspace_get_property (GObject *object, guint prop_id,
                                GValue *value, GParamSpec *pspec)
{
  VmleaseLockspace *self = VMLEASE_LOCKSPACE (object);

  switch (prop_id)
    {
    case PROP_NAME: g_value_set_string (value, self->name); break;
    case PROP_HOST_ID: g_value_set_uint64 (value, self->host_id); break;
    case PROP_PATH: g_value_set_string (value, self->path); break;
    case PROP_OFFSET: g_value_set_uint64 (value, self->offset); break;
    case PROP_STATE: g_value_set_string (value, self->state); break;
    case PROP_IO_TIMEOUT: g_value_set_uint (value, self->io_timeout); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vmlease_lockspace_finalize (GObject *object)
{
  VmleaseLockspace *self = VMLEASE_LOCKSPACE (object);

  g_free (self->name);
  g_free (self->path);
  g_free (self->state);
  G_OBJECT_CLASS (vmlease_lockspace_parent_class)->finalize (object);
}

static void
vmlease_lockspace_class_init (VmleaseLockspaceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  object_class->get_property = vmlease_lockspace_get_property;
  object_class->finalize = vmlease_lockspace_finalize;

  /**
   * VmleaseLockspace:name:
   *
   * The lockspace's name.
   */
  props[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, ro);
  /**
   * VmleaseLockspace:host-id:
   *
   * This host's id in the lockspace.
   */
  props[PROP_HOST_ID] = g_param_spec_uint64 ("host-id", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  /**
   * VmleaseLockspace:path:
   *
   * The shared storage holding the lockspace.
   */
  props[PROP_PATH] = g_param_spec_string ("path", NULL, NULL, NULL, ro);
  /**
   * VmleaseLockspace:offset:
   *
   * Byte offset of the lockspace in [property@Vmlease.Lockspace:path].
   */
  props[PROP_OFFSET] = g_param_spec_uint64 ("offset", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  /**
   * VmleaseLockspace:state:
   *
   * `joining`, `joined`, `failing` or `lost`.
   */
  props[PROP_STATE] = g_param_spec_string ("state", NULL, NULL, NULL, ro);
  /**
   * VmleaseLockspace:io-timeout:
   *
   * sanlock's I/O timeout in the lockspace, in seconds.
   */
  props[PROP_IO_TIMEOUT] = g_param_spec_uint ("io-timeout", NULL, NULL, 0, G_MAXUINT, 0, ro);

  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
vmlease_lockspace_init (VmleaseLockspace *self)
{
}

/* One (ststsu) entry of the Lockspaces property. */
VmleaseLockspace *
_vmlease_lockspace_new_from_variant (GVariant *entry)
{
  VmleaseLockspace *self = g_object_new (VMLEASE_TYPE_LOCKSPACE, NULL);

  g_variant_get (entry, "(ststsu)", &self->name, &self->host_id, &self->path,
                 &self->offset, &self->state, &self->io_timeout);
  return self;
}

/**
 * vmlease_lockspace_get_name:
 * @self: the lockspace
 *
 * Returns: [property@Vmlease.Lockspace:name]
 */
const char *
vmlease_lockspace_get_name (VmleaseLockspace *self)
{
  g_return_val_if_fail (VMLEASE_IS_LOCKSPACE (self), NULL);
  return self->name;
}

/**
 * vmlease_lockspace_get_host_id:
 * @self: the lockspace
 *
 * Returns: [property@Vmlease.Lockspace:host-id]
 */
guint64
vmlease_lockspace_get_host_id (VmleaseLockspace *self)
{
  g_return_val_if_fail (VMLEASE_IS_LOCKSPACE (self), 0);
  return self->host_id;
}

/**
 * vmlease_lockspace_get_path:
 * @self: the lockspace
 *
 * Returns: [property@Vmlease.Lockspace:path]
 */
const char *
vmlease_lockspace_get_path (VmleaseLockspace *self)
{
  g_return_val_if_fail (VMLEASE_IS_LOCKSPACE (self), NULL);
  return self->path;
}

/**
 * vmlease_lockspace_get_offset:
 * @self: the lockspace
 *
 * Returns: [property@Vmlease.Lockspace:offset]
 */
guint64
vmlease_lockspace_get_offset (VmleaseLockspace *self)
{
  g_return_val_if_fail (VMLEASE_IS_LOCKSPACE (self), 0);
  return self->offset;
}

/**
 * vmlease_lockspace_get_state:
 * @self: the lockspace
 *
 * Returns: [property@Vmlease.Lockspace:state]
 */
const char *
vmlease_lockspace_get_state (VmleaseLockspace *self)
{
  g_return_val_if_fail (VMLEASE_IS_LOCKSPACE (self), NULL);
  return self->state;
}

/**
 * vmlease_lockspace_get_io_timeout:
 * @self: the lockspace
 *
 * Returns: [property@Vmlease.Lockspace:io-timeout]
 */
guint
vmlease_lockspace_get_io_timeout (VmleaseLockspace *self)
{
  g_return_val_if_fail (VMLEASE_IS_LOCKSPACE (self), 0);
  return self->io_timeout;
}
