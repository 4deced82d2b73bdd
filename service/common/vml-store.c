/* vml-store.c: see vml-store.h.
 *
 * Writes go to a temporary file that is renamed over the record, so a crash
 * of vmleased leaves either the old or the new record, never half of one.
 * There is deliberately no fsync: the default state directory is on tmpfs
 * (/run), whose contents die with the host exactly like the leases do. */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>

#include "vml-error.h"
#include "vml-log.h"
#include "vml-store.h"

struct _VmlStore {
  GObject  parent_instance;
  char    *dir;
};

G_DEFINE_TYPE (VmlStore, vml_store, G_TYPE_OBJECT)

static const struct {
  const char *subdir;
  const char *suffix;
} kinds[] = {
  [VML_RECORD_LOCKSPACE] = { "lockspaces", ".conf" },
  [VML_RECORD_LEASE] = { "leases", ".lease" },
  [VML_RECORD_NOTE] = { "notes", ".note" },
};

static void
vml_store_finalize (GObject *object)
{
  VmlStore *self = VML_STORE (object);

  g_free (self->dir);
  G_OBJECT_CLASS (vml_store_parent_class)->finalize (object);
}

static void
vml_store_class_init (VmlStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vml_store_finalize;
}

static void
vml_store_init (VmlStore *self)
{
}

VmlStore *
vml_store_new (const char *state_dir, GError **error)
{
  g_autoptr(VmlStore) self = g_object_new (VML_TYPE_STORE, NULL);

  self->dir = g_strdup (state_dir);
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autofree char *sub = g_build_filename (state_dir, kinds[i].subdir, NULL);

      if (g_mkdir_with_parents (sub, 0700) != 0)
        {
          int saved = errno;
          g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                       "cannot create state directory %s: %s", sub, g_strerror (saved));
          return NULL;
        }
    }
  return g_steal_pointer (&self);
}

const char *
vml_store_get_dir (VmlStore *self)
{
  return self->dir;
}

char *
vml_store_notes_dir (const char *state_dir)
{
  return g_build_filename (state_dir, kinds[VML_RECORD_NOTE].subdir, NULL);
}

static char *
record_path (VmlStore *self, VmlRecordKind kind, const char *id)
{
  g_autofree char *file = g_strconcat (id, kinds[kind].suffix, NULL);

  return g_build_filename (self->dir, kinds[kind].subdir, file, NULL);
}

static gboolean
write_then_rename (const char *path, const char *data, gsize len, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".new", NULL);
  g_autoptr(GError) local_error = NULL;

  if (!g_file_set_contents_full (tmp, data, len, G_FILE_SET_CONTENTS_NONE, 0600, &local_error))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                   "cannot write state record %s: %s", tmp, local_error->message);
      return FALSE;
    }
  if (g_rename (tmp, path) != 0)
    {
      int saved = errno;
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                   "cannot replace state record %s: %s", path, g_strerror (saved));
      g_unlink (tmp);
      return FALSE;
    }
  return TRUE;
}

gboolean
vml_store_save (VmlStore      *self,
                VmlRecordKind  kind,
                const char    *id,
                GKeyFile      *record,
                GError       **error)
{
  g_autofree char *path = record_path (self, kind, id);
  g_autofree char *data = NULL;
  gsize len;

  g_key_file_set_integer (record, "record", "format", VML_STORE_FORMAT);
  data = g_key_file_to_data (record, &len, NULL);
  return write_then_rename (path, data, len, error);
}

gboolean
vml_store_remove (VmlStore      *self,
                  VmlRecordKind  kind,
                  const char    *id,
                  GError       **error)
{
  g_autofree char *path = record_path (self, kind, id);

  if (g_unlink (path) != 0 && errno != ENOENT)
    {
      int saved = errno;
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                   "cannot remove state record %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static GKeyFile *
load_record (const char *path, GError **error)
{
  g_autoptr(GKeyFile) record = g_key_file_new ();
  gint64 format;

  if (!g_key_file_load_from_file (record, path, G_KEY_FILE_NONE, error))
    return NULL;
  format = g_key_file_get_int64 (record, "record", "format", NULL);
  if (format != VML_STORE_FORMAT)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                   "record format %" G_GINT64_FORMAT " is not %d (written by another "
                   "version of vmleased, or damaged)", format, VML_STORE_FORMAT);
      return NULL;
    }
  return g_steal_pointer (&record);
}

/* A record vmleased cannot read, about the lockspace or lease it names. */
static void
log_unreadable (VmlRecordKind kind, const char *id, const char *path, const GError *error)
{
  VmlLogAbout about = { 0 };

  if (kind == VML_RECORD_LOCKSPACE)
    about.lockspace = id;
  else
    about.uuid = id;
  vml_log (G_LOG_LEVEL_WARNING, &about, "Skipping unreadable state record %s: %s",
           path, error->message);
}

GHashTable *
vml_store_load_all (VmlStore *self, VmlRecordKind kind)
{
  g_autofree char *sub = g_build_filename (self->dir, kinds[kind].subdir, NULL);
  g_autoptr(GDir) dir = g_dir_open (sub, 0, NULL);
  GHashTable *records = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) g_key_file_unref);
  const char *entry;

  while (dir && (entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (sub, entry, NULL);
      g_autofree char *id = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GKeyFile) record = NULL;

      if (!g_str_has_suffix (entry, kinds[kind].suffix))
        continue;
      id = g_strndup (entry, strlen (entry) - strlen (kinds[kind].suffix));
      record = load_record (path, &error);
      if (record == NULL)
        {
          log_unreadable (kind, id, path, error);
          continue;
        }
      g_hash_table_insert (records, g_steal_pointer (&id), g_steal_pointer (&record));
    }
  return records;
}

/* A holder's note: <uuid>.<pid>.note; before holders named their pid,
 * <uuid>.note (a holder started by an older vmleased still writes it). */
static char *
note_path (VmlStore *self, const char *uuid, pid_t pid)
{
  g_autofree char *id = g_strdup_printf ("%s.%d", uuid, (int) pid);
  char *path = record_path (self, VML_RECORD_NOTE, id);

  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return path;
  g_free (path);
  return record_path (self, VML_RECORD_NOTE, uuid);
}

gboolean
vml_store_take_note (VmlStore *self, const char *uuid, pid_t pid, int *status, gboolean *fenced)
{
  g_autofree char *path = note_path (self, uuid, pid);
  g_autoptr(GKeyFile) note = g_key_file_new ();
  g_autoptr(GError) error = NULL;

  if (!g_key_file_load_from_file (note, path, G_KEY_FILE_NONE, NULL) ||
      g_key_file_get_int64 (note, "holder", "pid", NULL) != pid)
    return FALSE;   /* none, or another holder's (of an earlier hold) */
  *status = (int) g_key_file_get_integer (note, "holder", "status", &error);
  *fenced = g_key_file_get_boolean (note, "holder", "fenced", NULL);
  g_unlink (path);
  return error == NULL;
}

void
vml_store_drop_notes (VmlStore *self, const char *uuid)
{
  g_autofree char *dir_path = g_build_filename (self->dir, kinds[VML_RECORD_NOTE].subdir, NULL);
  g_autofree char *prefix = g_strconcat (uuid, ".", NULL);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *entry;

  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (entry, prefix) && g_str_has_suffix (entry, kinds[VML_RECORD_NOTE].suffix))
      {
        g_autofree char *path = g_build_filename (dir_path, entry, NULL);

        g_unlink (path);
      }
}
