/* vmlease-util.c: small helpers the library's types share: disk lists in
 * options and enum nicks as the D-Bus strings. */
#include "vmlease-private.h"

static void
disk_clear (gpointer p)
{
  g_free (((VmleaseDisk *) p)->key);
}

GArray *
_vmlease_disk_list_new (void)
{
  GArray *disks = g_array_new (FALSE, TRUE, sizeof (VmleaseDisk));

  g_array_set_clear_func (disks, disk_clear);
  return disks;
}

/* The service refuses a key twice in one call; the last mode given wins. */
void
_vmlease_disk_list_add (GArray *disks, const char *key, VmleaseMode mode)
{
  VmleaseDisk d = { g_strdup (key), mode };

  for (guint i = 0; i < disks->len; i++)
    {
      VmleaseDisk *e = &g_array_index (disks, VmleaseDisk, i);

      if (g_str_equal (e->key, key))
        {
          e->mode = mode;
          g_free (d.key);
          return;
        }
    }
  g_array_append_val (disks, d);
}

/* a(ss): (key, mode), as Acquire, AttachDisks and prepare take them. */
GVariant *
_vmlease_disk_list_to_variant (GArray *disks)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ss)"));
  for (guint i = 0; i < disks->len; i++)
    {
      VmleaseDisk *e = &g_array_index (disks, VmleaseDisk, i);

      g_variant_builder_add (&b, "(ss)", e->key, _vmlease_enum_nick (VMLEASE_TYPE_MODE, e->mode));
    }
  return g_variant_builder_end (&b);
}

const char *
_vmlease_enum_nick (GType type, int value)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);

  return v != NULL ? v->value_nick : "";
}

int
_vmlease_enum_from_nick (GType type, const char *nick, int fallback)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (type);
  GEnumValue *v = nick != NULL ? g_enum_get_value_by_nick (klass, nick) : NULL;

  return v != NULL ? v->value : fallback;
}

/* Sets a string property's field to a copy of @value and notifies @pspec,
 * if it changes. */
void
_vmlease_set_string (GObject *object, char **field, const char *value, GParamSpec *pspec)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (object, pspec);
}
