/* Unit tests for the state records: atomic replace, and that damaged or
 * foreign records are skipped instead of stopping the daemon. */
#include "config.h"

#include <glib/gstdio.h>

#include "vml-store.h"

/* Warnings the code under test logged, so tests can check them (GLib's
 * g_test_expect_message does not see structured logging). */
static GPtrArray *warnings;

static GLogWriterOutput
record_warnings (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  for (gsize i = 0; i < n_fields; i++)
    if ((level & G_LOG_LEVEL_WARNING) && g_str_equal (fields[i].key, "MESSAGE"))
      g_ptr_array_add (warnings, g_strdup (fields[i].value));
  return G_LOG_WRITER_HANDLED;
}

static gboolean
saw_warning (const char *fragment)
{
  for (guint i = 0; i < warnings->len; i++)
    if (strstr (warnings->pdata[i], fragment))
      return TRUE;
  return FALSE;
}

typedef struct {
  char     *dir;
  VmlStore *store;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->dir = g_dir_make_tmp ("vml-store-XXXXXX", NULL);
  fx->store = vml_store_new (fx->dir, &error);
  g_assert_no_error (error);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_clear_object (&fx->store);
  remove_tree (fx->dir);
  g_free (fx->dir);
}

static void
write_raw (Fixture *fx, const char *name, const char *contents)
{
  g_autofree char *path = g_build_filename (fx->dir, "leases", name, NULL);

  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
}

static void
test_save_load_remove (Fixture *fx, gconstpointer data)
{
  g_autoptr(GKeyFile) record = g_key_file_new ();
  g_autoptr(GHashTable) loaded = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *state = NULL;
  GKeyFile *back;

  g_key_file_set_string (record, "lease", "state", "held");
  g_assert_true (vml_store_save (fx->store, VML_RECORD_LEASE, "abc", record, &error));
  g_key_file_set_string (record, "lease", "state", "free");
  g_assert_true (vml_store_save (fx->store, VML_RECORD_LEASE, "abc", record, &error));

  loaded = vml_store_load_all (fx->store, VML_RECORD_LEASE);
  g_assert_cmpuint (g_hash_table_size (loaded), ==, 1);
  back = g_hash_table_lookup (loaded, "abc");
  g_assert_nonnull (back);
  state = g_key_file_get_string (back, "lease", "state", NULL);
  g_assert_cmpstr (state, ==, "free");

  g_assert_true (vml_store_remove (fx->store, VML_RECORD_LEASE, "abc", &error));
  g_assert_true (vml_store_remove (fx->store, VML_RECORD_LEASE, "abc", &error));
  g_clear_pointer (&loaded, g_hash_table_unref);
  loaded = vml_store_load_all (fx->store, VML_RECORD_LEASE);
  g_assert_cmpuint (g_hash_table_size (loaded), ==, 0);
}

static void
test_damaged_records_skipped (Fixture *fx, gconstpointer data)
{
  g_autoptr(GKeyFile) record = g_key_file_new ();
  g_autoptr(GHashTable) loaded = NULL;

  g_key_file_set_string (record, "lease", "state", "held");
  g_assert_true (vml_store_save (fx->store, VML_RECORD_LEASE, "good", record, NULL));
  write_raw (fx, "garbled.lease", "\x01\x02 this is [not a keyfile");
  write_raw (fx, "truncated.lease", "[record]\nform");
  write_raw (fx, "future.lease", "[record]\nformat=99\n[lease]\nstate=held\n");
  write_raw (fx, "leftover.lease.new", "[record]\nformat=1\n");

  g_ptr_array_set_size (warnings, 0);
  loaded = vml_store_load_all (fx->store, VML_RECORD_LEASE);
  g_assert_cmpuint (g_hash_table_size (loaded), ==, 1);
  /* One warning per bad file, naming it; in directory order. */
  g_assert_cmpuint (warnings->len, ==, 3);
  g_assert_true (saw_warning ("garbled.lease"));
  g_assert_true (saw_warning ("truncated.lease"));
  g_assert_true (saw_warning ("format 99"));
  g_assert_true (g_hash_table_contains (loaded, "good"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  warnings = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (record_warnings, NULL, NULL);
  g_test_add ("/store/save-load-remove", Fixture, NULL, fixture_setup,
              test_save_load_remove, fixture_teardown);
  g_test_add ("/store/damaged-records-skipped", Fixture, NULL, fixture_setup,
              test_damaged_records_skipped, fixture_teardown);
  return g_test_run ();
}
