/* vml-lease-transfer-marker.c: the transfer marker after a post-copy
 * perform. The source has let go of the lease for good, but the marker it
 * holds still keeps third hosts from taking the lease shared, which would
 * make the destination's finish (shared → exclusive) fail with no way
 * back. So the source's holder keeps the marker, holding nothing else,
 * until the destination holds the lease exclusively (or holds it no
 * more), and only then lets go of it: after perform's reply, off the
 * guest's blackout (docs/decisions.md, "Hand-off details"). confirm drops
 * it at once (vml-lease-transfer-steps.c). */
#include "config.h"

#include "vml-lease-private.h"
#include "vml-lease-transfer-private.h"

/* How often the source looks whether the destination finished. */
#define MARKER_LOOK_MS 100

typedef struct {
  VmlLease  *lease;
  VmlHolder *holder;
  guint64    dest;
} KeptMarker;

static void
kept_marker_free (KeptMarker *kept)
{
  g_clear_object (&kept->holder);
  g_clear_object (&kept->lease);
  g_free (kept);
}

/* thread: whether the marker must stay (the destination holds the lease
 * shared and has not finished); if not, it is dropped now. */
static void
look_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  KeptMarker *kept = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VmlLeaseOwners) owners = NULL;
  gboolean keep;

  if (!vml_holder_is_alive (kept->holder))
    keep = FALSE;
  else if ((owners = lease_sanlock_read_owners (self->sanlock, &error)) == NULL)
    keep = TRUE;   /* storage did not answer this time: look again */
  else
    keep = owners->owners_live && owners->owner == 0 &&
           lease_owners_hold_shared (owners, kept->dest);
  if (!keep)
    lease_sanlock_marker_drop (self->sanlock, kept->holder);
  g_task_return_boolean (task, keep);
}

static gboolean on_look_due (gpointer user_data);

static void
on_looked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  KeptMarker *kept = user_data;
  gboolean keep = g_task_propagate_boolean (G_TASK (result), NULL);

  if (self->marker_holder != kept->holder)
    kept_marker_free (kept);   /* confirm dropped it meanwhile */
  else if (keep)
    g_timeout_add (MARKER_LOOK_MS, on_look_due, kept);
  else
    {
      vml_log (G_LOG_LEVEL_DEBUG, LEASE_ABOUT (self, .host_id = kept->dest),
               "%s: the destination finished; the transfer marker is let go", self->uuid);
      transfer_marker_let_go (self);
      kept_marker_free (kept);
    }
}

static gboolean
on_look_due (gpointer user_data)
{
  KeptMarker *kept = user_data;
  g_autoptr(GTask) task = NULL;

  if (kept->lease->marker_holder != kept->holder)
    {
      kept_marker_free (kept);
      return G_SOURCE_REMOVE;
    }
  task = g_task_new (kept->lease, NULL, on_looked, kept);
  g_task_set_task_data (task, kept, NULL);
  g_task_run_in_thread (task, look_thread);
  return G_SOURCE_REMOVE;
}

void
transfer_marker_keep (VmlLease *self, VmlHolder *holder, guint64 dest)
{
  KeptMarker *kept;

  transfer_marker_let_go (self);   /* an earlier hand-off's, if any */
  if (holder == NULL)
    return;
  self->marker_holder = g_object_ref (holder);
  kept = g_new0 (KeptMarker, 1);
  kept->lease = g_object_ref (self);
  kept->holder = g_object_ref (holder);
  kept->dest = dest;
  g_timeout_add (MARKER_LOOK_MS, on_look_due, kept);   /* not in perform's reply */
}

void
transfer_marker_let_go (VmlLease *self)
{
  if (self->marker_holder == NULL)
    return;
  /* It holds nothing but the marker: it goes without fencing anything,
   * and sanlock lets go of the marker with it if a drop did not. */
  vml_holder_terminate (self->marker_holder);
  g_clear_object (&self->marker_holder);
}
