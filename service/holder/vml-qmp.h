/* vml-qmp.h: a QEMU monitor (QMP) client in plain C (libc only), compiled
 * into both vmlease-holder and vmleased: the pause fence stops a guest
 * with it (vml-fence-apply.h), and a finish with "resume" starts the
 * migrated guest with it (vml-lease-transfer-steps.c). Every call blocks
 * up to its timeout: never on vmleased's main loop. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

typedef struct _VmlQmp VmlQmp;

/* Connects to QEMU's QMP unix socket @qmp_path, reads the greeting and
 * leaves the capabilities negotiation, all within @timeout_ms. The
 * socket's server must be process @pid itself or run as @pid's user
 * (SO_PEERCRED), so that a path cannot aim a command at someone else's VM.
 * NULL on failure, and @why (@why_len bytes) says what failed. */
VmlQmp *vml_qmp_open    (const char *qmp_path,
                         pid_t       pid,
                         int         timeout_ms,
                         char       *why,
                         size_t      why_len);

/* Runs the QMP command @command (no arguments: "stop", "cont") and waits
 * for its "return", events in between skipped, within @timeout_ms. 0 when
 * QEMU answered so; else -1 and @why says what failed (QEMU's error). */
int     vml_qmp_execute (VmlQmp     *qmp,
                         const char *command,
                         int         timeout_ms,
                         char       *why,
                         size_t      why_len);

/* vml_qmp_execute() in two halves: vml_qmp_send() hands the command to
 * the socket without waiting (a line this short goes into an empty socket
 * buffer at once: a main loop may call it; -1 if it would block), and
 * vml_qmp_wait_return() waits for QEMU's "return" to it (blocks). */
int     vml_qmp_send        (VmlQmp     *qmp,
                             const char *command,
                             char       *why,
                             size_t      why_len);
int     vml_qmp_wait_return (VmlQmp     *qmp,
                             const char *command,
                             int         timeout_ms,
                             char       *why,
                             size_t      why_len);

/* Waits for QEMU's event @event ("RESUME"), or finds it among the last
 * few events that came since vml_qmp_send() while this connection waited
 * for the answer. 0 when
 * seen; -1 and @why after @timeout_ms, or when QEMU went. */
int     vml_qmp_wait_event  (VmlQmp     *qmp,
                             const char *event,
                             int         timeout_ms,
                             char       *why,
                             size_t      why_len);

void    vml_qmp_close   (VmlQmp *qmp);

/* vml_qmp_open(), vml_qmp_execute() and vml_qmp_close(), all within
 * @timeout_ms. */
int     vml_qmp_run     (const char *qmp_path,
                         pid_t       pid,
                         const char *command,
                         int         timeout_ms,
                         char       *why,
                         size_t      why_len);
