/* vml-holder.h: one vmlease-holder process, the sanlock client that keeps
 * one VM's lease. vmleased acquires and releases on its behalf; the process
 * outlives vmleased, so a restart of the service never drops a lease. */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "vml-options.h"

G_BEGIN_DECLS

#define VML_TYPE_HOLDER (vml_holder_get_type ())
G_DECLARE_FINAL_TYPE (VmlHolder, vml_holder, VML, HOLDER, GObject)

/* Starts a holder and returns once it is registered with sanlock.
 * BLOCKS (up to a few seconds): call from a worker thread. */
VmlHolder *vml_holder_spawn          (const char *holder_path,
                                      const char *uuid,
                                      guint       fence_pid,
                                      VmlFence    fence,
                                      GError    **error);
/* Takes over a holder started by an earlier vmleased; fails unless @pid is
 * alive and really is the holder of @uuid. */
VmlHolder *vml_holder_adopt          (pid_t       pid,
                                      const char *uuid,
                                      GError    **error);

pid_t      vml_holder_get_pid        (VmlHolder *self);
gboolean   vml_holder_is_alive       (VmlHolder *self);

/* Main loop only: from now on, emit "exited" when the process ends without
 * having been asked to stop. */
void       vml_holder_watch          (VmlHolder *self);

/* Asks the holder to exit (it holds nothing by then) and waits up to
 * @timeout_ms for it. Safe from a worker thread. TRUE if it is gone. */
gboolean   vml_holder_stop           (VmlHolder *self,
                                      guint      timeout_ms);

G_END_DECLS
