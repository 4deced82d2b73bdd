/* vml-fence-apply.h: stopping a VM process as its fence says, in plain C
 * (libc only), compiled into both vmlease-holder and vmleased: the one way
 * either of them applies a fence. Who applies it, and when, is theirs to
 * say (vmlease-holder.c end_lease(), vml-lease-loss.c apply_fence()). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "vml-holder-protocol.h"

/* Field 22 of /proc/PID/stat: when process @pid started, in clock ticks
 * since boot; with the pid it names one process for the life of the host.
 * 0 when there is no such process. */
unsigned long long vml_process_start_time (pid_t pid);

/* The signal @fence sends: SIGKILL for kill, SIGSTOP for pause; 0 for none. */
int                vml_fence_signal       (VmlFence fence);

/* Sends @fence's signal to the VM process pinned when the fence was
 * chosen: through @pidfd, so a process that got its pid since is never
 * hit; without one (-1: kernels before 5.3, valgrind) to @pid, only while
 * it still started at @start_time. 0 when sent; else -1 with errno set,
 * ESRCH when the process is gone. @fence must not be VML_FENCE_NONE. */
int                vml_fence_apply        (VmlFence           fence,
                                           int                pidfd,
                                           pid_t              pid,
                                           unsigned long long start_time);

/* How long a QMP fence may take, connect to reply, before it falls back
 * to SIGSTOP. */
#define VML_FENCE_QMP_TIMEOUT_MS 1000

/* Pauses the guest of QEMU process @pid with QMP "stop" on the unix socket
 * @qmp_path: connect, read the greeting, "qmp_capabilities", "stop", and a
 * "return" for each, all within @timeout_ms. The socket's server must be
 * @pid itself or run as @pid's user (SO_PEERCRED), so that a path cannot
 * aim the fence at someone else's VM. 0 when QEMU answered; else -1 and
 * @why (@why_len bytes) says what failed. Blocks: never on vmleased's
 * main loop. */
int                vml_fence_qmp_stop     (const char *qmp_path,
                                           pid_t       pid,
                                           int         timeout_ms,
                                           char       *why,
                                           size_t      why_len);

/* vml_fence_apply(), but a pause with @qmp_path (not NULL or "") pauses
 * the guest with vml_fence_qmp_stop() and falls back to the signal when
 * that fails. *@via (if not NULL) gets "qmp" or "signal"; @why (if the QMP
 * stop failed) says why it fell back. Blocks up to the QMP timeout. */
int                vml_fence_apply_qmp    (VmlFence           fence,
                                           const char        *qmp_path,
                                           int                pidfd,
                                           pid_t              pid,
                                           unsigned long long start_time,
                                           const char       **via,
                                           char              *why,
                                           size_t             why_len);
