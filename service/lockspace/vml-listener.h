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

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmlListener, vml_listener_free)

G_END_DECLS
