/* test-disk.c: disk keys, modes and their sanlock resource names
 * (service/lease/vml-disk.c): what AttachDisks and Acquire's "disks"
 * accept, and that a key always hashes to the same short name. */
#include "config.h"

#include <string.h>

#include "vml-disk.h"
#include "vml-error.h"

static GPtrArray *
parse (const char *text, guint held, GError **error)
{
  g_autoptr(GVariant) v = g_variant_parse (G_VARIANT_TYPE ("a(ss)"), text, NULL, NULL, NULL);

  g_assert_nonnull (v);
  return vml_disks_parse (v, held, "Test", error);
}

static void
test_keys (void)
{
  g_autofree char *max = g_strnfill (VML_DISK_KEY_MAX, 'k');
  g_autofree char *over = g_strnfill (VML_DISK_KEY_MAX + 1, 'k');
  const char *good[] = { "a", "vol-1", "/dev/vg0/lv_1", "iscsi:iqn.2001-04.com.example@x+y",
                         max };
  const char *bad[] = { "", "a b", "a\tb", "a;b", "ü", "a*", "a\\b", over };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (vml_disk_check_key (good[i], NULL));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (vml_disk_check_key (bad[i], &error));
      g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_names (void)
{
  g_autofree char *a = vml_disk_resource_name ("vol-1");
  g_autofree char *a2 = vml_disk_resource_name ("vol-1");
  g_autofree char *b = vml_disk_resource_name ("vol-2");
  g_autofree char *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "vol-1", -1);

  g_assert_cmpuint (strlen (a), ==, VML_DISK_NAME_LEN);
  g_assert_cmpuint (strlen (a), <=, 47);
  g_assert_cmpstr (a, ==, a2);
  g_assert_cmpstr (a, !=, b);
  g_assert_true (a[0] == 'd' && strncmp (a + 1, hex, 40) == 0);
}

static void
test_parse (void)
{
  g_autoptr(GPtrArray) ok = parse ("[('b', ''), ('a', 'shared'), ('c', 'exclusive')]", 0, NULL);
  g_autoptr(GString) many = g_string_new ("[");
  struct { const char *text; guint held; } bad[] = {
    { "[('a', ''), ('a', 'shared')]", 0 },
    { "[('a', 'sometimes')]", 0 },
    { "[('a b', '')]", 0 },
    { "[('a', '')]", VML_DISKS_MAX },
  };

  g_assert_nonnull (ok);
  g_assert_cmpuint (ok->len, ==, 3);
  g_assert_cmpstr (((VmlDiskSpec *) ok->pdata[0])->key, ==, "a");
  g_assert_cmpint (((VmlDiskSpec *) ok->pdata[0])->mode, ==, VML_MODE_SHARED);
  g_assert_cmpint (((VmlDiskSpec *) ok->pdata[1])->mode, ==, VML_MODE_EXCLUSIVE);
  g_assert_cmpint (((VmlDiskSpec *) ok->pdata[2])->mode, ==, VML_MODE_EXCLUSIVE);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) r = parse (bad[i].text, bad[i].held, &error);

      g_assert_null (r);
      g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, "Test: "));
    }
  for (guint i = 0; i <= VML_DISKS_MAX; i++)
    g_string_append_printf (many, "%s('k%u', '')", i ? ", " : "", i);
  g_string_append (many, "]");
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) r = parse (many->str, 0, &error);

    g_assert_null (r);
    g_assert_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/disk/keys", test_keys);
  g_test_add_func ("/disk/names", test_names);
  g_test_add_func ("/disk/parse", test_parse);
  return g_test_run ();
}
