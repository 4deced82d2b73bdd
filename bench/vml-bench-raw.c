/* vml-bench-raw.c: see vml-bench-raw.h. */
#include "vml-bench-raw.h"

#include <errno.h>
#include <string.h>

#include <sanlock_admin.h>

gboolean
vml_bench_sanlock_failed (int rv, const char *what, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s (%d)", what,
               rv <= -200 ? "sanlock error" : g_strerror (-rv), rv);
  return FALSE;
}

static gboolean
copy_name (char *dst, const char *src)
{
  if (strlen (src) >= SANLK_NAME_LEN)
    return FALSE;
  memset (dst, 0, SANLK_NAME_LEN);
  memcpy (dst, src, strlen (src));
  return TRUE;
}

struct sanlk_resource *
vml_bench_raw_resource_new (const char *lockspace, const char *name, const char *path,
                            guint64 offset, GError **error)
{
  g_autofree struct sanlk_resource *res = NULL;
  int rv;

  res = g_malloc0 (sizeof (struct sanlk_resource) + sizeof (struct sanlk_disk));
  if (!copy_name (res->lockspace_name, lockspace) || !copy_name (res->name, name) ||
      strlen (path) >= SANLK_PATH_LEN)
    {
      vml_bench_sanlock_failed (-ENAMETOOLONG, "raw resource name or lease file path", error);
      return NULL;
    }
  res->num_disks = 1;
  strcpy (res->disks[0].path, path);
  res->disks[0].offset = offset;
  res->flags = SANLK_RES_ALIGN1M | SANLK_RES_SECTOR512;
  rv = sanlock_write_resource (res, 0, 0, 0);
  res->flags = 0;
  if (rv < 0)
    {
      g_autofree char *what = g_strdup_printf ("cannot write the raw resource at %s:%"
                                               G_GUINT64_FORMAT, path, offset);
      vml_bench_sanlock_failed (rv, what, error);
      return NULL;
    }
  return g_steal_pointer (&res);
}

void
vml_bench_raw_resource_free (struct sanlk_resource *res)
{
  int rv;

  if (res == NULL)
    return;
  res->flags = SANLK_RES_ALIGN1M | SANLK_RES_SECTOR512;
  rv = sanlock_write_resource (res, 0, 0, SANLK_WRITE_CLEAR);
  if (rv < 0)
    g_printerr ("cannot clear the raw resource %s: %d\n", res->name, rv);
  g_free (res);
}
