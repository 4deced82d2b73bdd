/* vml-object-path.c: see vml-object-path.h. */
#include "config.h"

#include "vml-object-path.h"

char *
vml_lease_object_path (const char *uuid)
{
  g_autofree char *element = g_strdelimit (g_ascii_strdown (uuid, -1), "-", '_');

  return g_strconcat (VML_LEASE_PATH_PREFIX, element, NULL);
}
