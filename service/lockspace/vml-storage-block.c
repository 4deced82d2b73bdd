/* vml-storage-block.c: see vml-storage-block.h. */
#include "config.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "vml-storage-block.h"

guint
vml_storage_logical_block_size (const char *path)
{
  /* The attribute sits on the disk: a partition's is one level up. */
  static const char *const where[] = { "queue", "../queue" };
  struct stat st;

  if (stat (path, &st) < 0 || !S_ISBLK (st.st_mode))
    return 0;
  for (guint i = 0; i < G_N_ELEMENTS (where); i++)
    {
      g_autofree char *attr = g_strdup_printf ("/sys/dev/block/%u:%u/%s/logical_block_size",
                                               major (st.st_rdev), minor (st.st_rdev), where[i]);
      g_autofree char *text = NULL;
      guint64 size;

      if (g_file_get_contents (attr, &text, NULL, NULL) &&
          g_ascii_string_to_unsigned (g_strstrip (text), 10, 512, 65536, &size, NULL))
        return (guint) size;
    }
  return 0;
}
