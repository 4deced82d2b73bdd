/* vml-disk.c: see vml-disk.h; and LeaseDisk, one disk lease of a VmlLease
 * (vml-lease-private.h), made and freed. */
#include "config.h"

#include <string.h>

#include "vml-disk.h"
#include "vml-error.h"
#include "vml-lease-private.h"

void
vml_disk_spec_free (VmlDiskSpec *spec)
{
  g_free (spec->key);
  g_free (spec->name);
  g_free (spec);
}

gboolean
vml_disk_check_key (const char *key, GError **error)
{
  gsize len = strlen (key);

  if (len == 0 || len > VML_DISK_KEY_MAX)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "a disk key has 1 to %d bytes (this one has %" G_GSIZE_FORMAT ")",
                   VML_DISK_KEY_MAX, len);
      return FALSE;
    }
  for (const char *c = key; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && strchr ("._:/@+-", *c) == NULL)
      {
        g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                     "a disk key is made of letters, digits and . _ : / @ + - only; "
                     "byte %d at position %" G_GSIZE_FORMAT " is not one",
                     (guchar) *c, (gsize) (c - key));
        return FALSE;
      }
  return TRUE;
}

char *
vml_disk_resource_name (const char *key)
{
  g_autofree char *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);

  return g_strdup_printf ("d%.40s", hex);
}

gboolean
vml_disk_mode_from_string (const char *str, VmlMode *mode, GError **error)
{
  if (*str == '\0')
    {
      *mode = VML_MODE_EXCLUSIVE;
      return TRUE;
    }
  return vml_mode_from_string (str, mode, error);
}

static int
compare_specs (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(VmlDiskSpec * const *) a)->key, (*(VmlDiskSpec * const *) b)->key);
}

GPtrArray *
vml_disks_parse (GVariant *disks, guint already_held, const char *method, GError **error)
{
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) vml_disk_spec_free);
  GVariantIter iter;
  const char *key, *mode;

  g_variant_iter_init (&iter, disks);
  while (g_variant_iter_next (&iter, "(&s&s)", &key, &mode))
    {
      g_autoptr(VmlDiskSpec) spec = g_new0 (VmlDiskSpec, 1);
      g_autoptr(GError) local_error = NULL;

      if (!vml_disk_check_key (key, &local_error) ||
          !vml_disk_mode_from_string (mode, &spec->mode, &local_error))
        {
          g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT, "%s: disk %u: %s", method,
                       specs->len + 1, local_error->message);
          return NULL;
        }
      spec->key = g_strdup (key);
      spec->name = vml_disk_resource_name (key);
      g_ptr_array_add (specs, g_steal_pointer (&spec));
    }
  if (specs->len + already_held > VML_DISKS_MAX)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "%s: at most %d disks per VM lease (%u asked for, %u held already)", method,
                   VML_DISKS_MAX, specs->len, already_held);
      return NULL;
    }
  g_ptr_array_sort (specs, compare_specs);
  for (guint i = 1; i < specs->len; i++)
    if (g_str_equal (((VmlDiskSpec *) specs->pdata[i - 1])->key,
                     ((VmlDiskSpec *) specs->pdata[i])->key))
      {
        g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                     "%s: disk key \"%s\" is named twice", method,
                     ((VmlDiskSpec *) specs->pdata[i])->key);
        return NULL;
      }
  return g_steal_pointer (&specs);
}

GVariant *
vml_disks_to_variant (GPtrArray *specs)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ss)"));
  for (guint i = 0; specs != NULL && i < specs->len; i++)
    {
      VmlDiskSpec *spec = specs->pdata[i];

      g_variant_builder_add (&builder, "(ss)", spec->key, vml_mode_to_string (spec->mode));
    }
  return g_variant_builder_end (&builder);
}

LeaseDisk *
lease_disk_new (const char *key, const char *name, VmlMode mode, guint64 offset)
{
  LeaseDisk *disk = g_new0 (LeaseDisk, 1);

  disk->key = g_strdup (key);
  disk->name = g_strdup (name);
  disk->mode = mode;
  disk->offset = offset;
  return disk;
}

LeaseDisk *
lease_disk_copy (const LeaseDisk *disk)
{
  LeaseDisk *copy = lease_disk_new (disk->key, disk->name, disk->mode, disk->offset);

  g_set_object (&copy->holder, disk->holder);
  copy->common = disk->common;
  return copy;
}

/* NULL-safe: arrays whose disks were moved out still free their slots. */
void
lease_disk_free (LeaseDisk *disk)
{
  if (disk == NULL)
    return;
  g_free (disk->key);
  g_free (disk->name);
  g_clear_object (&disk->holder);
  g_free (disk);
}
