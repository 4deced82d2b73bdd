/* vml-listener.h: this host's listener for messages from the other hosts
 * of one lockspace (sanlock's host events, vml-sanlock.h), watched on the
 * main loop. sanlock ends a listener when the daemon dies, when it leaves
 * the lockspace, or when the listener did not read in time; the listener
 * says which daemon served it, so that its owner can tell the first apart
 * (that daemon no longer runs): how vmleased learns of a sanlock daemon
 * that was killed and started again between two of its probes. */
#pragma once

#include <glib.h>

#include "vml-sanlock.h"

G_BEGIN_DECLS

typedef struct _VmlListener VmlListener;

typedef void (*VmlListenerMessageFunc) (const VmlSanlockEvent *event, gpointer user_data);
/* The listener ended (its fd is closed already; free it when convenient,
 * from here too). @daemon: the daemon that served it (pid 0: unknown), for
 * vml_sanlock_daemon_alive(); @why says what sanlock said. */
typedef void (*VmlListenerEndedFunc)   (const VmlSanlockDaemonId *daemon, const char *why,
                                        gpointer user_data);

/* Takes @fd (from vml_sanlock_event_open()) and watches it on the thread-
 * default main context. @user_data must outlive the listener. */
VmlListener *vml_listener_new  (const char            *lockspace,
                                int                    fd,
                                VmlListenerMessageFunc on_message,
                                VmlListenerEndedFunc   on_ended,
                                gpointer               user_data);
/* Stops watching and closes the fd (if it is still open). */
void         vml_listener_free (VmlListener *self);

/* After a listener served by @daemon ended while @lockspace should be
 * joined, a worker thread asks sanlock for a new one; what that tells: */
typedef enum {
  VML_LISTENER_REOPENED,     /* a new listener (*fd): sanlock dropped a slow one */
  VML_LISTENER_DAEMON_GONE,  /* the daemon died, even if a new one answers already */
  VML_LISTENER_LEFT,         /* the daemon lives, and has the lockspace no more */
  VML_LISTENER_NONE,         /* no new listener, for another reason (@error) */
} VmlListenerReopen;

void              vml_listener_reopen_async  (const char               *lockspace,
                                              const VmlSanlockDaemonId *daemon,
                                              GObject                  *source_object,
                                              GAsyncReadyCallback       callback,
                                              gpointer                  user_data);
/* *fd: the new listener's, or -1; @error: why not, for NONE (and the
 * others but REOPENED). */
VmlListenerReopen vml_listener_reopen_finish (GAsyncResult             *result,
                                              int                      *fd,
                                              GError                  **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmlListener, vml_listener_free)

G_END_DECLS
