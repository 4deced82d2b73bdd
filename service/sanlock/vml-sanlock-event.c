/* vml-sanlock-event.c: short messages between the hosts of a lockspace
 * (sanlock's host events); see vml-sanlock.h.
 *
 * How sanlock carries them (lockspace.c, 3.8.5): set_event stores one
 * {target generation, event, data} per lockspace on the sending host and
 * sets the target's bit in the bitmap of the sender's host lease. Both go
 * to storage with each renewal of the sender for 6 × io_timeout
 * (set_bitmap_seconds); each renewal of the target reads them
 * (check_other_leases()) and sends them to every fd registered for that
 * lockspace on the target, with the sender's host id and generation.
 */
#define _GNU_SOURCE   /* struct ucred */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <stdint.h>   /* sanlock's headers use uint32_t without including it */
#include <string.h>
#include <unistd.h>

#include <sanlock.h>
#include <sanlock_admin.h>
#include <sanlock_rv.h>

#include "vml-error.h"
#include "vml-sanlock.h"
#include "vml-sanlock-private.h"

/* Field 22 of /proc/<pid>/stat (starttime); 0 if the process is gone or
 * a zombie (killed, not yet reaped by its parent). The command name
 * (field 2) may hold spaces and parentheses: count from the last ')'. */
static guint64
process_start_time (gint pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *stat = NULL;
  g_auto(GStrv) fields = NULL;
  const char *after_name;

  if (!g_file_get_contents (path, &stat, NULL, NULL) ||
      (after_name = strrchr (stat, ')')) == NULL)
    return 0;
  fields = g_strsplit (after_name + 1, " ", 0);
  /* fields[0] is "" (the space after ')'), fields[1] field 3 (state) */
  if (g_strv_length (fields) < 21 || g_str_equal (fields[1], "Z") || g_str_equal (fields[1], "X"))
    return 0;
  return g_ascii_strtoull (fields[20], NULL, 10);
}

gboolean
vml_sanlock_event_daemon_of (int fd, VmlSanlockDaemonId *id)
{
  struct ucred cred = { 0 };
  socklen_t len = sizeof cred;

  if (fd < 0 || getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0)
    return FALSE;
  id->pid = cred.pid;
  id->start_time = process_start_time (cred.pid);
  return id->start_time != 0;
}

gboolean
vml_sanlock_daemon_alive (const VmlSanlockDaemonId *id)
{
  return id->pid > 0 && process_start_time (id->pid) == id->start_time;
}

int
vml_sanlock_event_open (const char *lockspace, GError **error)
{
  char name[SANLK_NAME_LEN + 1] = { 0 };
  int fd;

  if (!vml_sanlock_priv_copy_name (name, lockspace, "lockspace", error) ||
      !vml_sanlock_clients_reserve ("a listener for messages from other hosts", error))
    return -1;
  /* A listener stays connected: counted as a kept client, not a command. */
  fd = sanlock_reg_event (name, NULL, 0);
  if (fd >= 0)
    return fd;
  vml_sanlock_clients_unreserve ();
  /* lockspace_reg_event(): -ENOENT not joined, -ENOCSI all 32 slots taken */
  if (fd == -ENOENT && !vml_sanlock_priv_daemon_unreachable (fd))
    vml_sanlock_priv_fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, fd,
                           "Cannot listen for messages from the hosts of lockspace '%s': "
                           "this host has not joined it", lockspace);
  else if (fd == -ENOCSI)
    vml_sanlock_priv_fail (error, VML_ERROR_FAILED, fd,
                           "Cannot listen for messages from the hosts of lockspace '%s': "
                           "sanlock serves at most 32 listeners per lockspace", lockspace);
  else
    {
      g_autofree char *action = g_strdup_printf ("listen for messages from the hosts of "
                                                 "lockspace '%s'", lockspace);
      vml_sanlock_priv_fail_common (error, fd, action, NULL, "its lockspace area");
    }
  return -1;
}

gboolean
vml_sanlock_event_read (int fd, VmlSanlockEvent *event, GError **error)
{
  struct sanlk_host_event he = { 0 };
  uint64_t from_host_id = 0, from_generation = 0;
  int rv = sanlock_get_event (fd, 0, &he, &from_host_id, &from_generation);

  if (rv == -EAGAIN || rv == -EINTR)
    return FALSE;
  if (rv < 0)
    {
      /* -1: recv() found the connection closed (lockspace left, daemon
       * stopped, or it dropped us for not reading: it never blocks). */
      vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                             "sanlock closed the channel for messages from other hosts; "
                             "open it again once the lockspace is joined");
      return FALSE;
    }
  *event = (VmlSanlockEvent) {
    .from_host_id = from_host_id,
    .from_generation = from_generation,
    .to_generation = he.generation,
    .event = he.event,
    .data = he.data,
  };
  return TRUE;
}

void
vml_sanlock_event_close (int fd, const char *lockspace)
{
  char name[SANLK_NAME_LEN + 1] = { 0 };

  if (fd < 0)
    return;
  /* sanlock_end_event() closes fd, then tells the daemon on a command
   * connection. Called from the main loop: it never waits for an entry;
   * without one the daemon finds out at its next message to the fd. */
  if (!vml_sanlock_priv_copy_name (name, lockspace, "lockspace", NULL) ||
      VML_SANLOCK_CALL_WAITING (0, sanlock_end_event (fd, name, 0)) == VML_SANLOCK_NO_ROOM)
    close (fd);
  vml_sanlock_clients_unreserve ();
}

gboolean
vml_sanlock_event_send (const char *lockspace, guint64 host_id, guint64 generation,
                        guint64 event, guint64 data, GError **error)
{
  char name[SANLK_NAME_LEN + 1] = { 0 };
  struct sanlk_host_event he = {
    .host_id = host_id, .generation = generation, .event = event, .data = data,
  };
  int rv;

  if (!vml_sanlock_priv_copy_name (name, lockspace, "lockspace", error))
    return FALSE;
  if (host_id < 1 || host_id > VML_SANLOCK_HOST_ID_MAX || event == 0)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "Cannot send message %" G_GINT64_MODIFIER "x to host %" G_GUINT64_FORMAT
                   " of lockspace '%s': the host id must be 1 to %d, the message not 0",
                   event, host_id, lockspace, VML_SANLOCK_HOST_ID_MAX);
      return FALSE;
    }
  rv = VML_SANLOCK_CALL (sanlock_set_event (name, &he, 0));
  switch (rv)
    {
    case 0:
      return TRUE;
    case -EBUSY:
      /* lockspace_set_event(): another event value, set less than
       * set_bitmap_seconds ago, would be overwritten before it was read */
      return vml_sanlock_priv_fail (error, VML_ERROR_BUSY, rv,
                                    "Cannot send message %" G_GINT64_MODIFIER "x to host %"
                                    G_GUINT64_FORMAT " of lockspace '%s': this host sent "
                                    "another one less than 6 × io_timeout ago, and sanlock "
                                    "carries one at a time; try again then",
                                    event, host_id, lockspace);
    case -ENOENT:
      if (!vml_sanlock_priv_daemon_unreachable (rv))
        return vml_sanlock_priv_fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, rv,
                                      "Cannot send a message to host %" G_GUINT64_FORMAT
                                      " of lockspace '%s': this host has not joined it",
                                      host_id, lockspace);
      G_GNUC_FALLTHROUGH;
    default:
      {
        g_autofree char *action = g_strdup_printf ("send a message to host %" G_GUINT64_FORMAT
                                                   " of lockspace '%s'", host_id, lockspace);
        return vml_sanlock_priv_fail_common (error, rv, action, NULL, "its lockspace area");
      }
    }
}
