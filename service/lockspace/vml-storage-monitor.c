/* vml-storage-monitor.c: see vml-storage-monitor.h. */
#include "config.h"

#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <gudev/gudev.h>

#include "vml-storage-monitor.h"

struct _VmlStorageMonitor {
  GObject      parent_instance;
  GUdevClient *client;
  GHashTable  *watches;   /* VmlLockspace → Watch */
};

typedef struct {
  VmlStorageMonitor *monitor;
  VmlLockspace      *lockspace;
  dev_t              number;
  gboolean           read_only;  /* as last seen; reported once per change to 1 */
  gulong             state_handler;
  guint              check_source;
} Watch;

static void
watch_free (Watch *watch)
{
  g_signal_handler_disconnect (watch->lockspace, watch->state_handler);
  g_clear_handle_id (&watch->check_source, g_source_remove);
  g_object_unref (watch->lockspace);
  g_free (watch);
}

G_DEFINE_TYPE (VmlStorageMonitor, vml_storage_monitor, G_TYPE_OBJECT)

enum { SIGNAL_DEVICE_FAILING, SIGNAL_DEVICE_RECOVERED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* The device's number: from its uevent properties (MAJOR/MINOR, also on
 * "remove"), else from its sysfs "dev" attribute. 0 if it has none. */
static dev_t
device_number (GUdevDevice *device)
{
  GUdevDeviceNumber number = g_udev_device_get_device_number (device);
  const char *attr;
  unsigned int major_nr, minor_nr;

  if (number != 0)
    return number;
  attr = g_udev_device_get_sysfs_attr (device, "dev");
  if (attr != NULL && sscanf (attr, "%u:%u", &major_nr, &minor_nr) == 2)
    return makedev (major_nr, minor_nr);
  return 0;
}

/* sysfs "ro" and the uevent's DISK_RO: "1" for a read-only device. */
static gboolean
says_read_only (const char *ro)
{
  return ro != NULL && g_str_has_prefix (ro, "1");
}

/* What a uevent means for a lockspace on the device. */
typedef enum {
  EVENT_NOTHING,
  EVENT_TROUBLE,     /* removed, or went read-only */
  EVENT_RECOVERED,   /* writable again after it went read-only */
} EventKind;

/* What @action on @device means for a lockspace on it, and *why in words.
 * "change" is trouble when the device becomes read-only, and a recovery
 * when it becomes writable again. */
static EventKind
classify (const char *action, GUdevDevice *device, Watch *watch, char **why)
{
  const char *name = g_udev_device_get_device_file (device);
  const char *ro;
  gboolean was_read_only = watch->read_only;

  if (name == NULL)
    name = g_udev_device_get_sysfs_path (device);
  if (g_str_equal (action, "remove"))
    {
      *why = g_strdup_printf ("block device %s was removed", name);
      return EVENT_TROUBLE;
    }
  if (!g_str_equal (action, "change"))
    return EVENT_NOTHING;
  /* The kernel's own change event for it carries DISK_RO (race-free);
   * other change events: what sysfs says now. */
  ro = g_udev_device_get_property (device, "DISK_RO");
  if (ro == NULL)
    ro = g_udev_device_get_sysfs_attr_uncached (device, "ro");
  watch->read_only = says_read_only (ro);
  if (watch->read_only == was_read_only)
    return EVENT_NOTHING;
  *why = g_strdup_printf (watch->read_only ? "block device %s went read-only"
                                           : "block device %s is writable again", name);
  return watch->read_only ? EVENT_TROUBLE : EVENT_RECOVERED;
}

static void
report (VmlStorageMonitor *self, VmlLockspace *ls, EventKind kind, const char *why)
{
  if (kind == EVENT_RECOVERED)
    {
      vml_lockspace_log (ls, G_LOG_LEVEL_MESSAGE, VML_MSGID_STORAGE_RECOVERED,
                         "Storage under lockspace %s: %s", vml_lockspace_get_name (ls), why);
      vml_lockspace_mark_recovered (ls, why);
      g_signal_emit (self, signals[SIGNAL_DEVICE_RECOVERED], 0, ls, why);
      return;
    }
  /* mark_failing logs the event itself when it acts. */
  if (!vml_lockspace_mark_failing (ls, why))
    vml_lockspace_log (ls, G_LOG_LEVEL_MESSAGE, VML_MSGID_STORAGE_FAILING,
                       "Storage trouble under lockspace %s (%s, so left as it is): %s",
                       vml_lockspace_get_name (ls),
                       vml_lockspace_state_to_string (vml_lockspace_get_state (ls)), why);
  g_signal_emit (self, signals[SIGNAL_DEVICE_FAILING], 0, ls, why);
}

/* A device that was read-only before any uevent said so (vmleased started,
 * or the lockspace was added, while it was): once its lockspace is joined,
 * that is trouble as much as the change event would have been. */
static gboolean
check_read_only (gpointer user_data)
{
  Watch *watch = user_data;
  VmlLockspace *ls = watch->lockspace;
  g_autoptr(GUdevDevice) device = NULL;
  g_autofree char *why = NULL;
  const char *ro;

  watch->check_source = 0;
  if (vml_lockspace_get_state (ls) != VML_LOCKSPACE_JOINED)
    return G_SOURCE_REMOVE;
  device = g_udev_client_query_by_device_number (watch->monitor->client,
                                                 G_UDEV_DEVICE_TYPE_BLOCK, watch->number);
  ro = device ? g_udev_device_get_sysfs_attr_uncached (device, "ro") : NULL;
  if (!says_read_only (ro))
    return G_SOURCE_REMOVE;
  watch->read_only = TRUE;
  why = g_strdup_printf ("block device %s is read-only", vml_lockspace_get_path (ls));
  report (watch->monitor, g_object_ref (ls), EVENT_TROUBLE, why);
  g_object_unref (ls);   /* handlers may have unwatched it, freeing @watch */
  return G_SOURCE_REMOVE;
}

/* Looked at from the main loop, after every handler of this change ran. */
static void
on_watched_state (VmlLockspace *ls, GParamSpec *pspec, gpointer user_data)
{
  Watch *watch = user_data;

  if (vml_lockspace_get_state (ls) == VML_LOCKSPACE_JOINED && watch->check_source == 0)
    watch->check_source = g_idle_add (check_read_only, watch);
}

/* One lockspace a uevent concerns, kept while handlers run. */
typedef struct {
  VmlLockspace *ls;
  EventKind     kind;
  char         *why;
} Hit;

static void
hit_clear (Hit *hit)
{
  g_clear_object (&hit->ls);
  g_clear_pointer (&hit->why, g_free);
}

static void
on_uevent (GUdevClient *client, const char *action, GUdevDevice *device, gpointer user_data)
{
  VmlStorageMonitor *self = VML_STORAGE_MONITOR (user_data);
  g_autoptr(GArray) hits = g_array_new (FALSE, FALSE, sizeof (Hit));
  dev_t number = device_number (device);
  GHashTableIter iter;
  gpointer key, value;

  if (number == 0)
    return;
  g_array_set_clear_func (hits, (GDestroyNotify) hit_clear);
  g_hash_table_iter_init (&iter, self->watches);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Watch *watch = value;
      Hit hit = { NULL, EVENT_NOTHING, NULL };

      if (watch->number != number ||
          (hit.kind = classify (action, device, watch, &hit.why)) == EVENT_NOTHING)
        continue;
      hit.ls = g_object_ref (key);
      g_array_append_val (hits, hit);
    }
  /* Handlers may unwatch: act on our own list. */
  for (guint i = 0; i < hits->len; i++)
    {
      Hit *hit = &g_array_index (hits, Hit, i);

      report (self, hit->ls, hit->kind, hit->why);
    }
}

static void
vml_storage_monitor_finalize (GObject *object)
{
  VmlStorageMonitor *self = VML_STORAGE_MONITOR (object);

  g_signal_handlers_disconnect_by_data (self->client, self);
  g_clear_object (&self->client);
  g_hash_table_unref (self->watches);
  G_OBJECT_CLASS (vml_storage_monitor_parent_class)->finalize (object);
}

static void
vml_storage_monitor_class_init (VmlStorageMonitorClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vml_storage_monitor_finalize;

  /* "device-failing" (lockspace, why): the block device under @lockspace
   * was removed or went read-only. */
  signals[SIGNAL_DEVICE_FAILING] = g_signal_new ("device-failing", G_TYPE_FROM_CLASS (klass),
                                                 G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                 G_TYPE_NONE, 2, VML_TYPE_LOCKSPACE,
                                                 G_TYPE_STRING);
  /* "device-recovered" (lockspace, why): the block device under @lockspace
   * is writable again after it went read-only. */
  signals[SIGNAL_DEVICE_RECOVERED] = g_signal_new ("device-recovered",
                                                   G_TYPE_FROM_CLASS (klass),
                                                   G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                   G_TYPE_NONE, 2, VML_TYPE_LOCKSPACE,
                                                   G_TYPE_STRING);
}

static void
vml_storage_monitor_init (VmlStorageMonitor *self)
{
  const char *const subsystems[] = { "block", NULL };

  self->client = g_udev_client_new (subsystems);
  g_signal_connect (self->client, "uevent", G_CALLBACK (on_uevent), self);
  self->watches = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref,
                                         (GDestroyNotify) watch_free);
}

VmlStorageMonitor *
vml_storage_monitor_new (void)
{
  return g_object_new (VML_TYPE_STORAGE_MONITOR, NULL);
}

gboolean
vml_storage_monitor_watch (VmlStorageMonitor *self, VmlLockspace *lockspace)
{
  const char *path = vml_lockspace_get_path (lockspace);
  struct stat st;
  Watch *watch;

  vml_storage_monitor_unwatch (self, lockspace);
  if (stat (path, &st) < 0 || !S_ISBLK (st.st_mode) || st.st_rdev == 0)
    {
      vml_lockspace_log (lockspace, G_LOG_LEVEL_DEBUG, NULL,
                         "Lockspace %s: %s is not a block device; not watched",
                         vml_lockspace_get_name (lockspace), path);
      return FALSE;
    }
  watch = g_new0 (Watch, 1);
  watch->monitor = self;
  watch->lockspace = g_object_ref (lockspace);
  watch->number = st.st_rdev;
  watch->state_handler = g_signal_connect (lockspace, "notify::state",
                                           G_CALLBACK (on_watched_state), watch);
  g_hash_table_insert (self->watches, g_object_ref (lockspace), watch);
  vml_lockspace_log (lockspace, G_LOG_LEVEL_DEBUG, NULL,
                     "Lockspace %s: watching block device %s (%u:%u)",
                     vml_lockspace_get_name (lockspace), path, major (st.st_rdev),
                     minor (st.st_rdev));
  on_watched_state (lockspace, NULL, watch);
  return TRUE;
}

void
vml_storage_monitor_unwatch (VmlStorageMonitor *self, VmlLockspace *lockspace)
{
  g_hash_table_remove (self->watches, lockspace);
}
