/* vml-options.c: the checks of vml-options.h: an options argument's keys
 * and types, names, ids, offsets, waits and storage paths. They run on the
 * main loop before an operation is queued, so bad input never reaches
 * sanlock and never changes state. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vml-error.h"
#include "vml-options.h"
#include "vml-sanlock.h"

#define VML_VM_NAME_MAX     255
#define VML_IO_TIMEOUT_MAX  60

static char *
known_keys (const VmlOptionSpec *specs)
{
  g_autoptr(GString) keys = g_string_new (NULL);

  for (const VmlOptionSpec *s = specs; s->key; s++)
    g_string_append_printf (keys, "%s%s (%s)", keys->len ? ", " : "", s->key, s->type);
  return keys->len ? g_string_free (g_steal_pointer (&keys), FALSE) : g_strdup ("none");
}

static const VmlOptionSpec *
find_spec (const VmlOptionSpec *specs, const char *key)
{
  for (const VmlOptionSpec *s = specs; s->key; s++)
    if (g_str_equal (s->key, key))
      return s;
  return NULL;
}

gboolean
vml_options_check (GVariant            *options,
                   const char          *method,
                   const VmlOptionSpec *specs,
                   GError             **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    {
      const VmlOptionSpec *spec = find_spec (specs, key);

      if (spec == NULL)
        {
          g_autofree char *known = known_keys (specs);
          g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                       "%s does not take the option '%s'; it takes: %s",
                       method, key, known);
          g_variant_unref (value);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (spec->type)))
        {
          g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                       "%s option '%s' must be of type '%s', not '%s'",
                       method, key, spec->type, g_variant_get_type_string (value));
          g_variant_unref (value);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
vml_check_uuid (const char *uuid, GError **error)
{
  if (!g_uuid_string_is_valid (uuid))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a UUID; expected the form "
                   "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)", uuid);
      return FALSE;
    }
  return TRUE;
}

static gboolean
is_name_char (char c)
{
  return g_ascii_isalnum (c) || c == '_' || c == '-' || c == '.';
}

gboolean
vml_check_lockspace_name (const char *name, GError **error)
{
  size_t len = strlen (name);

  if (len == 0 || len > VML_SANLOCK_NAME_MAX)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "lockspace name must be 1 to %d bytes long (got %zu)",
                   VML_SANLOCK_NAME_MAX, len);
      return FALSE;
    }
  for (size_t i = 0; i < len; i++)
    if (!is_name_char (name[i]))
      {
        g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                     "lockspace name '%s' may only contain letters, digits, "
                     "'_', '-' and '.'", name);
        return FALSE;
      }
  return TRUE;
}

gboolean
vml_check_vm_name (const char *name, GError **error)
{
  size_t len = strlen (name);

  if (len > VML_VM_NAME_MAX)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "VM name is %zu bytes long; at most %d are allowed",
                   len, VML_VM_NAME_MAX);
      return FALSE;
    }
  for (const char *p = name; *p; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      {
        g_set_error_literal (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                             "VM name must not contain control characters");
        return FALSE;
      }
  return TRUE;
}

gboolean
vml_check_host_id (guint64 host_id, GError **error)
{
  if (host_id < 1 || host_id > VML_SANLOCK_HOST_ID_MAX)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "host id %" G_GUINT64_FORMAT " is out of range; "
                   "it must be 1 to %d and unique among the hosts sharing the lockspace",
                   host_id, VML_SANLOCK_HOST_ID_MAX);
      return FALSE;
    }
  return TRUE;
}

gboolean
vml_check_io_timeout (guint io_timeout, GError **error)
{
  if (io_timeout < 1 || io_timeout > VML_IO_TIMEOUT_MAX)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "io_timeout %u is out of range; it must be 1 to %d seconds",
                   io_timeout, VML_IO_TIMEOUT_MAX);
      return FALSE;
    }
  return TRUE;
}

/* Larger than any storage, and small enough that an offset plus the areas
 * vmleased puts behind it (a few MiB) fits a signed 64-bit file offset. */
#define VML_OFFSET_MAX (G_GUINT64_CONSTANT (1) << 62)

gboolean
vml_check_aligned_offset (guint64 offset, GError **error)
{
  if (offset > VML_OFFSET_MAX)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "offset %" G_GUINT64_FORMAT " is beyond any storage (at most %"
                   G_GUINT64_FORMAT ")", offset, VML_OFFSET_MAX);
      return FALSE;
    }
  if (offset % VML_SANLOCK_ALIGN != 0)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "offset %" G_GUINT64_FORMAT " is not a multiple of 1 MiB (%d bytes); "
                   "try %" G_GUINT64_FORMAT,
                   offset, VML_SANLOCK_ALIGN,
                   (offset / VML_SANLOCK_ALIGN + 1) * VML_SANLOCK_ALIGN);
      return FALSE;
    }
  return TRUE;
}

gboolean
vml_check_wait (guint wait_s, const char *method, GError **error)
{
  if (wait_s <= VML_WAIT_MAX_S)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
               "wait %u s is longer than the maximum, %d s (an hour); to wait longer, "
               "call %s again", wait_s, VML_WAIT_MAX_S, method);
  return FALSE;
}

gboolean
vml_check_storage_path (const char *path, GError **error)
{
  struct stat st;

  if (!g_path_is_absolute (path))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "storage path '%s' must be absolute", path);
      return FALSE;
    }
  if (strlen (path) >= 1024)
    {
      g_set_error_literal (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                           "storage path is longer than sanlock's limit of 1023 bytes");
      return FALSE;
    }
  if (stat (path, &st) != 0)
    {
      int saved = errno;
      VmlError code = saved == ENOENT || saved == ENOTDIR ? VML_ERROR_NOT_FOUND
                                                          : VML_ERROR_INVALID_ARGUMENT;

      g_set_error (error, VML_ERROR, code,
                   "storage path '%s' cannot be used: %s", path, g_strerror (saved));
      return FALSE;
    }
  if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "storage path '%s' is neither a regular file nor a block device", path);
      return FALSE;
    }
  if (access (path, R_OK | W_OK) != 0)
    {
      int saved = errno;
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "storage path '%s' is not readable and writable: %s",
                   path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

gboolean
vml_check_storage_range (const char *path, guint64 offset, guint64 length, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  off_t size;

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "cannot open storage path '%s': %s", path, g_strerror (saved));
      return FALSE;
    }
  size = lseek (fd, 0, SEEK_END);
  close (fd);
  /* offset + length must not wrap around: a caller chooses both */
  if (size < 0 || offset > G_MAXUINT64 - length || (guint64) size < offset + length)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "'%s' is %" G_GINT64_FORMAT " bytes long; the area at offset %"
                   G_GUINT64_FORMAT " needs %" G_GUINT64_FORMAT " bytes up to %" G_GUINT64_FORMAT,
                   path, (gint64) size, offset, length, offset + length);
      return FALSE;
    }
  return TRUE;
}
