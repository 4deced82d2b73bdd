/* vml-holder.h: one vmlease-holder process, the sanlock client that keeps
 * one VM's lease, and the ceiling on how many vmleased keeps. vmleased
 * acquires and releases on its behalf; the process outlives vmleased, so a
 * restart of the service never drops a lease. What vmleased tells it, and
 * its exit statuses, are vml-holder-protocol.h's. */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "vml-fence.h"
#include "vml-fence-apply.h"   /* vml_process_start_time() */

G_BEGIN_DECLS

#define VML_TYPE_HOLDER (vml_holder_get_type ())
G_DECLARE_FINAL_TYPE (VmlHolder, vml_holder, VML, HOLDER, GObject)

/* The ceiling on lease holders per host: every holder vmleased keeps for
 * leases (claimed, spares, the source's during a hand-off, adopted after a
 * restart) counts, from its start until it is told to go or is gone. Lock
 * holders (vmleased's own short locks) do not count against it. Each holder
 * is one entry in sanlock's client table of 1,024 (vml-sanlock.h), so the
 * ceiling leaves room there for the commands, listeners and lock holders of
 * vmleased and for other programs: 900 by default (docs/decisions.md,
 * "Sanlock's client table", has the arithmetic), at most
 * VML_HOLDER_CEILING_MAX. @config names the file that sets it (as
 * max_leases in [daemon]), for messages. Main thread, before any holder. */
#define VML_HOLDER_CEILING_DEFAULT 900
#define VML_HOLDER_CEILING_MAX     1000
void       vml_holder_set_ceiling    (guint       max_leases,
                                      const char *config);
typedef enum {
  VML_HOLDER_FOR_LEASE,   /* counted against the ceiling */
  VML_HOLDER_FOR_SPARE,   /* the same, but never takes the last place under
                           * it: an Acquire that starts a holder of its own
                           * while the spare starts must find one */
  VML_HOLDER_FOR_LOCK,    /* one of vmleased's own short locks */
} VmlHolderUse;

/* Whether a holder for @use would be counted now. */
gboolean   vml_holder_fits           (VmlHolderUse use);

/* Starts a holder and returns once it is registered with sanlock; it holds
 * nothing until claimed. BUSY at once when the ceiling (for a lease) or
 * sanlock's client table has no room for it. BLOCKS (up to a few seconds):
 * worker threads only. */
VmlHolder *vml_holder_spawn          (const char  *holder_path,
                                      VmlHolderUse use,
                                      GError     **error);
/* Dedicates a spare holder to one lease (and the VM process to fence;
 * @qmp, or NULL: the QMP socket a pause fence uses, vml_check_qmp_path()).
 * @uuid, like a lock's @name, is at most VML_HOLDER_NAME_MAX bytes. */
gboolean   vml_holder_claim          (VmlHolder  *self,
                                      const char *uuid,
                                      VmlFence    fence,
                                      guint       fence_pid,
                                      const char *qmp,
                                      GError    **error);
/* A claimed holder fences @fence_pid with @fence (and @qmp) from now on. */
gboolean   vml_holder_set_fence      (VmlHolder  *self,
                                      VmlFence    fence,
                                      guint       fence_pid,
                                      const char *qmp,
                                      GError     **error);
/* Dedicates a spare to one of vmleased's own locks named @name: unlike a
 * lease holder, it exits when vmleased goes away. */
gboolean   vml_holder_claim_lock     (VmlHolder  *self,
                                      const char *name,
                                      GError    **error);
/* Makes a holder that holds nothing (claimed, or never claimed) a spare
 * again. FALSE when it cannot be told (adopted after a restart, or gone). */
gboolean   vml_holder_unclaim        (VmlHolder  *self);
/* The pids of every vmlease-holder process on the machine (other hosts'
 * too, in a sandbox: ask sanlock which are this host's). */
GArray    *vml_holder_find_running   (void);
/* Takes over a holder started by an earlier vmleased: fails unless @pid is
 * a live vmlease-holder that started at @start_time (so a recycled pid is
 * never mistaken for it). Whether it holds the lease is sanlock's to say. */
VmlHolder *vml_holder_adopt          (pid_t       pid,
                                      guint64     start_time,
                                      GError    **error);

pid_t      vml_holder_get_pid        (VmlHolder *self);
/* The process's start time (clock ticks since boot, /proc/PID/stat). */
guint64    vml_holder_get_start_time (VmlHolder *self);
gboolean   vml_holder_is_alive       (VmlHolder *self);

/* Main loop only: from now on, emit "exited" when the process ends without
 * having been asked to stop. */
void       vml_holder_watch          (VmlHolder *self);
/* Main loop only: whether a watch saw the process end already (whoever
 * listened to "exited" then), and its @status as "exited" gave it. */
gboolean   vml_holder_has_exited     (VmlHolder *self, int *status);

/* Stops a holder that may still hold leases, at once: SIGTERM, which it
 * takes as a revocation (it fences its VM process and exits; sanlock then
 * frees what it held, whether vmleased is running or not). Through its
 * pidfd (or pid and start time), so a recycled pid is never hit. Its
 * "exited" is not emitted; it counts against the ceiling until it is gone. */
void       vml_holder_revoke         (VmlHolder *self);
/* Asks the holder to exit (it holds nothing by then) and waits up to
 * @timeout_ms for it. Safe from a worker thread. TRUE if it is gone. */
gboolean   vml_holder_stop           (VmlHolder *self,
                                      guint      timeout_ms);
/* The same without waiting. Only for a holder that holds nothing: one
 * started here is told so over its stdin; an adopted one gets SIGTERM. */
void       vml_holder_terminate      (VmlHolder *self);

G_END_DECLS
