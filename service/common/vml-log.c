/* vml-log.c: see vml-log.h. */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "vml-log.h"

static gboolean log_verbose;
static gboolean log_to_journal;

static const char *
field_value (const GLogField *fields, gsize n_fields, const char *key)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, key) && fields[i].length < 0)
      return fields[i].value;
  return NULL;
}

static const char *
level_name (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "error";
  if (level & G_LOG_LEVEL_CRITICAL)
    return "critical";
  if (level & G_LOG_LEVEL_WARNING)
    return "warning";
  if (level & G_LOG_LEVEL_MESSAGE)
    return "notice";
  if (level & G_LOG_LEVEL_INFO)
    return "info";
  return "debug";
}

static GLogWriterOutput
vml_log_writer (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  const char *message, *uuid, *lockspace;
  g_autofree char *now = NULL;
  g_autoptr(GDateTime) dt = NULL;

  if ((level & G_LOG_LEVEL_DEBUG) && !log_verbose)
    return G_LOG_WRITER_HANDLED;

  if (log_to_journal &&
      g_log_writer_journald (level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;

  message = field_value (fields, n_fields, "MESSAGE");
  uuid = field_value (fields, n_fields, "VMLEASE_UUID");
  lockspace = field_value (fields, n_fields, "VMLEASE_LOCKSPACE");
  dt = g_date_time_new_now_local ();
  now = g_date_time_format (dt, "%H:%M:%S.%f");
  now[12] = '\0'; /* milliseconds are enough */

  fprintf (stderr, "%s vmleased[%d] %s: %s%s%s%s%s%s\n",
           now, (int) getpid (), level_name (level),
           lockspace ? "[" : "", lockspace ? lockspace : "", lockspace ? "] " : "",
           uuid ? uuid : "", uuid ? ": " : "",
           message ? message : "");
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

void
vml_log_setup (gboolean verbose)
{
  log_verbose = verbose || g_getenv ("VMLEASE_DEBUG") != NULL;
  log_to_journal = g_log_writer_is_journald (fileno (stderr));
  g_log_set_writer_func (vml_log_writer, NULL, NULL);
}

static void
log_about (GLogLevelFlags level, const VmlLogAbout *about, const char *message)
{
  char host_id[24], uid[16], pid[16];
  GLogField fields[12];
  gsize n = 0;

  fields[n++] = (GLogField) { "MESSAGE", message, -1 };
  fields[n++] = (GLogField) { "GLIB_DOMAIN", "vmleased", -1 };
  fields[n++] = (GLogField) { "PRIORITY", level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL) ? "3" :
                                          level & G_LOG_LEVEL_WARNING ? "4" :
                                          level & G_LOG_LEVEL_MESSAGE ? "5" :
                                          level & G_LOG_LEVEL_INFO ? "6" : "7", -1 };
  if (about->uuid)
    fields[n++] = (GLogField) { "VMLEASE_UUID", about->uuid, -1 };
  if (about->lockspace)
    fields[n++] = (GLogField) { "VMLEASE_LOCKSPACE", about->lockspace, -1 };
  if (about->path)
    fields[n++] = (GLogField) { "VMLEASE_PATH", about->path, -1 };
  if (about->host_id != 0)
    {
      g_snprintf (host_id, sizeof host_id, "%" G_GUINT64_FORMAT, about->host_id);
      fields[n++] = (GLogField) { "VMLEASE_HOST_ID", host_id, -1 };
    }
  if (about->has_caller)
    {
      g_snprintf (uid, sizeof uid, "%u", about->caller_uid);
      fields[n++] = (GLogField) { "VMLEASE_CALLER_UID", uid, -1 };
    }
  if (about->holder_pid > 0)
    {
      g_snprintf (pid, sizeof pid, "%d", about->holder_pid);
      fields[n++] = (GLogField) { "VMLEASE_HOLDER_PID", pid, -1 };
    }
  if (about->step)
    fields[n++] = (GLogField) { "VMLEASE_TRANSFER_STEP", about->step, -1 };
  if (about->message_id)
    fields[n++] = (GLogField) { "MESSAGE_ID", about->message_id, -1 };

  g_log_structured_array (level, fields, n);
}

static void
log_about_valist (GLogLevelFlags level, const VmlLogAbout *about, const char *format,
                  va_list args)
{
  g_autofree char *message = g_strdup_vprintf (format, args);

  log_about (level, about, message);
}

void
vml_log (GLogLevelFlags level, const VmlLogAbout *about, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  log_about_valist (level, about, format, args);
  va_end (args);
}

void
vml_log_lockspace (GLogLevelFlags level, const char *lockspace, const char *message_id,
                   const char *format, ...)
{
  VmlLogAbout about = { .lockspace = lockspace, .message_id = message_id };
  va_list args;

  va_start (args, format);
  log_about_valist (level, &about, format, args);
  va_end (args);
}

void
vml_log_lease (GLogLevelFlags level,
               const char    *uuid,
               const char    *lockspace,
               const char    *message_id,
               const char    *format,
               ...)
{
  VmlLogAbout about = { .uuid = uuid, .lockspace = lockspace, .message_id = message_id };
  va_list args;

  va_start (args, format);
  log_about_valist (level, &about, format, args);
  va_end (args);
}

void
vml_log_lease_step (const char *uuid,
                    const char *lockspace,
                    const char *step,
                    const char *message)
{
  VmlLogAbout about = {
    .uuid = uuid, .lockspace = lockspace, .step = step,
    .message_id = VML_MSGID_LEASE_TRANSFERRED,
  };

  log_about (G_LOG_LEVEL_MESSAGE, &about, message);
}
