/* vml-lockspace.c: see vml-lockspace.h. */
#include "config.h"

#include "vml-error.h"
#include "vml-holder.h"
#include "vml-listener.h"
#include "vml-lockspace.h"
#include "vml-options.h"
#include "vml-storage-block.h"

#define DEFAULT_IO_TIMEOUT 10

struct _VmlLockspace {
  GObject            parent_instance;
  char              *name;
  guint64            host_id;
  char              *path;
  guint64            offset;
  guint              io_timeout;
  gint               sector_size; /* as formatted; 0 until a join learnt it (atomic:
                                   * set on the main loop, read by workers) */
  VmlLockspaceState  state;
  char              *error;       /* why the last join failed, or NULL */
  GQueue             index_queue; /* of GTask: index updates here, the head running
                                   * (vml-lockspace-index.c) */
  VmlListener       *listener;    /* sanlock messages to this host, or NULL */
  guint64            generation;  /* this host's, since the join */
  gboolean           lost_with_daemon; /* LOST because the sanlock daemon went */
  gboolean           leaving;     /* a leave runs: sanlock ends the listener */
};

G_DEFINE_TYPE (VmlLockspace, vml_lockspace, G_TYPE_OBJECT)

enum { PROP_0, PROP_STATE, N_PROPS };
static GParamSpec *props[N_PROPS];

enum { SIGNAL_MESSAGE, N_SIGNALS };
static guint signals[N_SIGNALS];

static const char *const state_names[] = {
  [VML_LOCKSPACE_JOINING] = "joining",
  [VML_LOCKSPACE_JOINED] = "joined",
  [VML_LOCKSPACE_FAILING] = "failing",
  [VML_LOCKSPACE_LOST] = "lost",
  [VML_LOCKSPACE_REMOVED] = "removed",
};

static void stop_listening (VmlLockspace *self);

static void
vml_lockspace_finalize (GObject *object)
{
  VmlLockspace *self = VML_LOCKSPACE (object);

  stop_listening (self);
  g_free (self->name);
  g_free (self->path);
  g_free (self->error);
  g_warn_if_fail (g_queue_is_empty (&self->index_queue));
  G_OBJECT_CLASS (vml_lockspace_parent_class)->finalize (object);
}

static void
vml_lockspace_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VmlLockspace *self = VML_LOCKSPACE (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_uint (value, self->state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vml_lockspace_class_init (VmlLockspaceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = vml_lockspace_finalize;
  object_class->get_property = vml_lockspace_get_property;

  props[PROP_STATE] = g_param_spec_uint ("state", NULL, NULL, 0, VML_LOCKSPACE_REMOVED,
                                         VML_LOCKSPACE_JOINING,
                                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS |
                                         G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /* "message" (from_host_id, from_generation, event, data): another host
   * of this lockspace sent this host a message (a sanlock host event). */
  signals[SIGNAL_MESSAGE] = g_signal_new ("message", G_TYPE_FROM_CLASS (klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                          G_TYPE_NONE, 4, G_TYPE_UINT64, G_TYPE_UINT64,
                                          G_TYPE_UINT64, G_TYPE_UINT64);
}

static void
vml_lockspace_init (VmlLockspace *self)
{
  g_queue_init (&self->index_queue);
  self->state = VML_LOCKSPACE_LOST;
}

VmlLockspace *
vml_lockspace_new (const char *name, guint64 host_id, const char *path,
                   guint64 offset, guint io_timeout)
{
  VmlLockspace *self = g_object_new (VML_TYPE_LOCKSPACE, NULL);

  self->name = g_strdup (name);
  self->host_id = host_id;
  self->path = g_strdup (path);
  self->offset = offset;
  self->io_timeout = io_timeout ? io_timeout : DEFAULT_IO_TIMEOUT;
  return self;
}

VmlLockspace *
vml_lockspace_new_from_keyfile (GKeyFile *keyfile, const char *group,
                                const char *name, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *path = g_key_file_get_string (keyfile, group, "path", &local_error);
  guint64 host_id = 0, offset = 0;
  guint io_timeout = DEFAULT_IO_TIMEOUT;

  if (path != NULL)
    host_id = g_key_file_get_uint64 (keyfile, group, "host_id", &local_error);
  if (local_error == NULL && g_key_file_has_key (keyfile, group, "offset", NULL))
    offset = g_key_file_get_uint64 (keyfile, group, "offset", &local_error);
  if (local_error == NULL && g_key_file_has_key (keyfile, group, "io_timeout", NULL))
    io_timeout = (guint) g_key_file_get_uint64 (keyfile, group, "io_timeout", &local_error);
  if (local_error != NULL)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "[%s]: %s", group, local_error->message);
      return NULL;
    }
  if (!vml_check_lockspace_name (name, error) || !vml_check_host_id (host_id, error) ||
      !vml_check_aligned_offset (offset, error) || !vml_check_io_timeout (io_timeout, error))
    {
      g_prefix_error (error, "[%s]: ", group);
      return NULL;
    }
  return vml_lockspace_new (name, host_id, path, offset, io_timeout);
}

void
vml_lockspace_to_keyfile (VmlLockspace *self, GKeyFile *keyfile, const char *group)
{
  g_key_file_set_uint64 (keyfile, group, "host_id", self->host_id);
  g_key_file_set_string (keyfile, group, "path", self->path);
  g_key_file_set_uint64 (keyfile, group, "offset", self->offset);
  g_key_file_set_uint64 (keyfile, group, "io_timeout", self->io_timeout);
}

const char *vml_lockspace_get_name (VmlLockspace *self) { return self->name; }
guint64 vml_lockspace_get_host_id (VmlLockspace *self) { return self->host_id; }
const char *vml_lockspace_get_path (VmlLockspace *self) { return self->path; }
guint64 vml_lockspace_get_offset (VmlLockspace *self) { return self->offset; }
guint vml_lockspace_get_io_timeout (VmlLockspace *self) { return self->io_timeout; }
VmlLockspaceState vml_lockspace_get_state (VmlLockspace *self) { return self->state; }
const char *vml_lockspace_get_error (VmlLockspace *self) { return self->error; }

guint
vml_lockspace_get_sector_size (VmlLockspace *self)
{
  return (guint) g_atomic_int_get (&self->sector_size);
}

const char *
vml_lockspace_state_to_string (VmlLockspaceState state)
{
  g_return_val_if_fail (state < G_N_ELEMENTS (state_names), "");
  return state_names[state];
}

gboolean
vml_lockspace_is_joined (VmlLockspace *self)
{
  return self->state == VML_LOCKSPACE_JOINED || self->state == VML_LOCKSPACE_FAILING;
}

gboolean
vml_lockspace_same_place (VmlLockspace *self, VmlLockspace *other)
{
  return g_str_equal (self->name, other->name) && self->host_id == other->host_id &&
         g_str_equal (self->path, other->path) && self->offset == other->offset;
}

void
vml_lockspace_get_spec (VmlLockspace *self, VmlSanlockLockspace *spec)
{
  spec->name = self->name;
  spec->host_id = self->host_id;
  spec->path = self->path;
  spec->offset = self->offset;
  spec->io_timeout = self->io_timeout;
  spec->sector_size = vml_lockspace_get_sector_size (self);
}

/* The sector size of the storage at @path, for sanlock: 512 for a regular
 * file, 4096 for a block device with logical sectors of more than 512 bytes
 * (0 for one with more than 4096: sanlock cannot use it). */
static guint
storage_sector_size (const char *path)
{
  return vml_sanlock_sector_size_for (vml_storage_logical_block_size (path));
}

guint
vml_lockspace_sector_size_at (VmlLockspace *self, const char *path)
{
  guint own = vml_lockspace_get_sector_size (self);

  if (own == 0)
    return storage_sector_size (path);
  if (g_strcmp0 (path, self->path) == 0)
    return own;
  /* larger only for a lease written before CreateLease checked this */
  return MAX (own, storage_sector_size (path));
}

/* The sector size of the storage at @path for sanlock, or InvalidArgument
 * where its logical sectors are larger than sanlock can use. */
static gboolean
usable_storage_sector_size (const char *path, guint *sector_size, GError **error)
{
  *sector_size = storage_sector_size (path);
  if (*sector_size != 0)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
               "%s has %u-byte logical sectors; sanlock works with 512- and 4096-byte ones only",
               path, vml_storage_logical_block_size (path));
  return FALSE;
}

gboolean
vml_lockspace_check_lease_storage (VmlLockspace *self, const char *path, GError **error)
{
  guint own = vml_lockspace_get_sector_size (self);
  guint storage;

  if (!usable_storage_sector_size (path, &storage, error))
    return FALSE;
  if (own != 0 && storage > own)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "%s has %u-byte sectors, but lockspace '%s' was formatted with %u-byte "
                   "ones, and sanlock reads every lease of a lockspace with the lockspace's "
                   "sector size; place the lease on storage with %u-byte sectors (or in the "
                   "lockspace's index), or use a lockspace on storage with %u-byte sectors",
                   path, storage, self->name, own, own, storage);
      return FALSE;
    }
  return TRUE;
}

GVariant *
vml_lockspace_to_variant (VmlLockspace *self)
{
  return g_variant_new ("(ststsu)", self->name, self->host_id, self->path, self->offset,
                        vml_lockspace_state_to_string (self->state), self->io_timeout);
}

GVariant *
vml_lockspace_details (VmlLockspace *self, const char *error)
{
  GVariantDict details;

  g_variant_dict_init (&details, NULL);
  g_variant_dict_insert (&details, "host_id", "t", self->host_id);
  g_variant_dict_insert (&details, "path", "s", self->path);
  g_variant_dict_insert (&details, "offset", "t", self->offset);
  g_variant_dict_insert (&details, "io_timeout", "u", self->io_timeout);
  g_variant_dict_insert (&details, "sector_size", "u", vml_lockspace_get_sector_size (self));
  if (error == NULL)
    error = self->error;
  if (error != NULL)
    g_variant_dict_insert (&details, "error", "s", error);
  return g_variant_dict_end (&details);
}

GQueue *
vml_lockspace_index_queue (VmlLockspace *self)
{
  return &self->index_queue;
}

static void set_state (VmlLockspace *self, VmlLockspaceState state, const char *error);

gboolean
vml_lockspace_failed_here (VmlLockspace *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) hosts = vml_sanlock_get_hosts (self->name, &error);
  guint64 now = (guint64) (g_get_monotonic_time () / G_USEC_PER_SEC);

  if (hosts == NULL)
    return g_error_matches (error, VML_ERROR, VML_ERROR_LOCKSPACE_NOT_JOINED);
  for (guint i = 0; i < hosts->len; i++)
    {
      VmlSanlockHost *h = &g_array_index (hosts, VmlSanlockHost, i);

      /* timestamp: our last good renewal, in this host's monotonic seconds;
       * 6 × io_timeout is where sanlock itself starts to warn. */
      if (h->host_id == self->host_id)
        return h->state == VML_HOST_FAIL || h->state == VML_HOST_DEAD ||
               now > h->timestamp + 6 * (guint64) self->io_timeout;
    }
  return TRUE;
}

gboolean
vml_lockspace_mark_failing (VmlLockspace *self, const char *why)
{
  if (self->state != VML_LOCKSPACE_JOINED)
    return FALSE;
  /* Storage trouble udev saw (vml-lockspace.h): this is that event's message. */
  vml_lockspace_log (self, G_LOG_LEVEL_WARNING, VML_MSGID_STORAGE_FAILING,
                     "Lockspace %s is failing: %s", self->name, why);
  set_state (self, VML_LOCKSPACE_FAILING, why);
  return TRUE;
}

static void
recovery_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  g_task_return_boolean (task, !vml_lockspace_failed_here (VML_LOCKSPACE (source)));
}

static void
on_recovery_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLockspace *self = VML_LOCKSPACE (source);
  g_autofree char *why = user_data;

  if (self->state != VML_LOCKSPACE_FAILING)
    return;   /* lost or removed meanwhile */
  if (!g_task_propagate_boolean (G_TASK (result), NULL))
    {
      vml_lockspace_log (self, G_LOG_LEVEL_MESSAGE, NULL,
                         "Lockspace %s: %s, but sanlock no longer renews this host's lease "
                         "there; it stays failing", self->name, why);
      return;
    }
  vml_lockspace_log (self, G_LOG_LEVEL_MESSAGE, NULL,
                     "Lockspace %s is joined again: %s, and sanlock still renews this "
                     "host's lease", self->name, why);
  set_state (self, VML_LOCKSPACE_JOINED, NULL);
}

void
vml_lockspace_mark_recovered (VmlLockspace *self, const char *why)
{
  g_autoptr(GTask) task = NULL;

  if (self->state != VML_LOCKSPACE_FAILING)
    return;
  task = g_task_new (self, NULL, on_recovery_checked, g_strdup (why));
  g_task_run_in_thread (task, recovery_thread);
}

void
vml_lockspace_mark_lost (VmlLockspace *self, const char *why)
{
  if (self->state == VML_LOCKSPACE_LOST)
    return;
  vml_lockspace_log (self, G_LOG_LEVEL_WARNING, VML_MSGID_LOCKSPACE_LOST,
                     "Lockspace %s is lost on this host: %s", self->name, why);
  stop_listening (self);
  set_state (self, VML_LOCKSPACE_LOST, why);
}

void
vml_lockspace_mark_lost_with_daemon (VmlLockspace *self, const char *why)
{
  vml_lockspace_mark_lost (self, why);
  self->lost_with_daemon = TRUE;
}

gboolean
vml_lockspace_lost_with_daemon (VmlLockspace *self)
{
  return self->state == VML_LOCKSPACE_LOST && self->lost_with_daemon;
}

static void
set_state (VmlLockspace *self, VmlLockspaceState state, const char *error)
{
  g_free (self->error);
  self->error = g_strdup (error);
  if (state != VML_LOCKSPACE_LOST)
    self->lost_with_daemon = FALSE;
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

/* ---------------------------------------------------------------------- */
/* Messages from other hosts                                              */

static void
stop_listening (VmlLockspace *self)
{
  g_clear_pointer (&self->listener, vml_listener_free);
}

static void
on_message (const VmlSanlockEvent *event, gpointer user_data)
{
  VmlLockspace *self = VML_LOCKSPACE (user_data);

  /* Meant for an earlier incarnation of this host: not ours. */
  if (event->to_generation != 0 && event->to_generation != self->generation)
    return;
  g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, event->from_host_id,
                 event->from_generation, event->event, event->data);
}

static void listen_for_messages (VmlLockspace *self, int fd);

static void
on_reopened (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLockspace *self = VML_LOCKSPACE (source);
  g_autoptr(GError) error = NULL;
  int fd = -1;
  VmlListenerReopen outcome = vml_listener_reopen_finish (result, &fd, &error);

  if (!vml_lockspace_is_joined (self) || self->leaving)
    {
      vml_sanlock_event_close (fd, self->name);   /* lost or left meanwhile */
      return;
    }
  switch (outcome)
    {
    case VML_LISTENER_REOPENED:
      listen_for_messages (self, fd);
      break;
    case VML_LISTENER_DAEMON_GONE:
      vml_lockspace_mark_lost_with_daemon (self, "the sanlock daemon is gone: the daemon "
                                           "that served this lockspace no longer runs");
      break;
    case VML_LISTENER_LEFT:
      vml_lockspace_mark_lost (self, "sanlock left it (it ended this host's listener for "
                               "messages there, and has it joined no more)");
      break;
    case VML_LISTENER_NONE:
      vml_lockspace_log (self, G_LOG_LEVEL_WARNING, NULL,
                         "No messages from other hosts of lockspace %s any more: %s",
                         self->name, error->message);
      break;
    }
}

/* sanlock ended the listener while the lockspace should be joined: the
 * daemon died (the lockspace went with it, even if a new daemon answers
 * already), or it left the lockspace, or it dropped a listener that was
 * slow to read. A worker asks sanlock for a new one, which tells which. */
static void
on_listener_ended (const VmlSanlockDaemonId *daemon, const char *why, gpointer user_data)
{
  VmlLockspace *self = VML_LOCKSPACE (user_data);

  stop_listening (self);
  if (!vml_lockspace_is_joined (self) || self->leaving)
    return;
  vml_lockspace_log (self, G_LOG_LEVEL_DEBUG, NULL, "sanlock ended the listener for "
                     "messages in lockspace %s (%s); asking for a new one", self->name, why);
  vml_listener_reopen_async (self->name, daemon, G_OBJECT (self), on_reopened, NULL);
}

/* Main loop: starts watching the listener @fd opened by the join thread. */
static void
listen_for_messages (VmlLockspace *self, int fd)
{
  stop_listening (self);
  if (fd >= 0)
    self->listener = vml_listener_new (self->name, fd, on_message, on_listener_ended, self);
}

/* This host's generation in the lockspace (worker threads). */
static guint64
own_generation (VmlLockspace *self)
{
  g_autoptr(GArray) hosts = vml_sanlock_get_hosts (self->name, NULL);

  for (guint i = 0; hosts && i < hosts->len; i++)
    if (g_array_index (hosts, VmlSanlockHost, i).host_id == self->host_id)
      return g_array_index (hosts, VmlSanlockHost, i).generation;
  return 0;
}

typedef struct {
  gboolean init;
  int      events_fd;
  guint64  generation;
  guint    sector_size;   /* what the lockspace was formatted with */
} JoinData;

/* The sector size the joined lockspace was formatted with: what the join
 * read, or, when sanlock had it joined already (vmleased restarted), read
 * now. If its storage cannot be read right now (restarted while it fails;
 * sanlock keeps it joined), assume the storage's own, which is what
 * vmleased formats with and the only size a join accepts on 4K storage. */
static guint
joined_sector_size (VmlLockspace *self, const VmlSanlockLockspace *spec, guint found_by_join)
{
  g_autoptr(GError) error = NULL;
  guint sector_size;

  if (found_by_join != 0)
    return found_by_join;
  if (vml_sanlock_check_lockspace (spec, &sector_size, NULL, &error))
    return sector_size;
  vml_lockspace_log (self, G_LOG_LEVEL_WARNING, NULL,
                     "Lockspace %s: cannot read the sector size it was formatted with (%s); "
                     "assuming %u, its storage's", self->name, error->message,
                     spec->sector_size);
  return spec->sector_size;
}

static void
join_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLockspace *self = VML_LOCKSPACE (source);
  JoinData *data = task_data;
  gboolean init = data->init;
  VmlSanlockLockspace spec;
  g_autoptr(GError) events_error = NULL;
  GError *error = NULL;
  guint64 lock_offset;
  guint found;

  vml_lockspace_get_spec (self, &spec);
  /* Formatted with the storage's sector size (udev's sysfs says which);
   * what a join finds formatted there is what every later call uses.
   * A fresh index gets the lease that serializes its updates as its first
   * entry; only one host formats, so this cannot race. */
  if (!usable_storage_sector_size (spec.path, &spec.sector_size, &error) ||
      (init && !vml_sanlock_format_lockspace (&spec, &error)) ||
      !vml_sanlock_join_lockspace (&spec, &found, &error) ||
      (init && !vml_sanlock_index_create (&spec, VML_INDEX_LOCK_NAME, &lock_offset, &error)))
    {
      g_task_return_error (task, error);
      return;
    }
  data->sector_size = joined_sector_size (self, &spec, found);
  /* Messages are a convenience (TransferRequested): without them the
   * lockspace still works. */
  data->events_fd = vml_sanlock_event_open (self->name, &events_error);
  if (data->events_fd < 0)
    vml_lockspace_log (self, G_LOG_LEVEL_WARNING, NULL,
                       "No messages from other hosts of lockspace %s: %s", self->name,
                       events_error->message);
  data->generation = own_generation (self);
  g_task_return_boolean (task, TRUE);
}

static void
on_joined (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLockspace *self = VML_LOCKSPACE (source);
  g_autoptr(GTask) outer = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      vml_lockspace_log (self, G_LOG_LEVEL_WARNING, NULL,
                         "Joining lockspace %s as host %" G_GUINT64_FORMAT " failed: %s",
                         self->name, self->host_id, error->message);
      set_state (self, VML_LOCKSPACE_LOST, error->message);
      g_task_return_error (outer, g_steal_pointer (&error));
      return;
    }
  JoinData *data = g_task_get_task_data (G_TASK (result));

  vml_lockspace_log (self, G_LOG_LEVEL_MESSAGE, VML_MSGID_LOCKSPACE_JOINED,
                     "Joined lockspace %s as host %" G_GUINT64_FORMAT " (%u-byte sectors)",
                     self->name, self->host_id, data->sector_size);
  self->generation = data->generation;
  g_atomic_int_set (&self->sector_size, (gint) data->sector_size);
  listen_for_messages (self, data->events_fd);
  data->events_fd = -1;
  set_state (self, VML_LOCKSPACE_JOINED, NULL);
  g_task_return_boolean (outer, TRUE);
}

void
vml_lockspace_join_async (VmlLockspace *self, gboolean init,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *outer = g_task_new (self, NULL, callback, user_data);
  g_autoptr(GTask) task = g_task_new (self, NULL, on_joined, outer);

  JoinData *data = g_new0 (JoinData, 1);

  data->init = init;
  data->events_fd = -1;
  set_state (self, VML_LOCKSPACE_JOINING, NULL);
  g_task_set_task_data (task, data, g_free);
  g_task_run_in_thread (task, join_thread);
}

gboolean
vml_lockspace_join_finish (VmlLockspace *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
leave_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlSanlockLockspace spec;
  GError *error = NULL;

  vml_lockspace_get_spec (VML_LOCKSPACE (source), &spec);
  if (!vml_sanlock_leave_lockspace (&spec, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_left (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLockspace *self = VML_LOCKSPACE (source);
  g_autoptr(GTask) outer = user_data;
  GError *error = NULL;

  self->leaving = FALSE;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (outer, error);
      return;
    }
  vml_lockspace_log (self, G_LOG_LEVEL_MESSAGE, VML_MSGID_LOCKSPACE_LEFT,
                     "Left lockspace %s", self->name);
  stop_listening (self);
  set_state (self, VML_LOCKSPACE_REMOVED, NULL);
  g_task_return_boolean (outer, TRUE);
}

void
vml_lockspace_leave_async (VmlLockspace *self, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *outer = g_task_new (self, NULL, callback, user_data);
  g_autoptr(GTask) task = g_task_new (self, NULL, on_left, outer);

  self->leaving = TRUE;

  g_task_run_in_thread (task, leave_thread);
}

gboolean
vml_lockspace_leave_finish (VmlLockspace *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
