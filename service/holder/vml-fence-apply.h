/* vml-fence-apply.h: stopping a VM process as its fence says, in plain C
 * (libc only), compiled into both vmlease-holder and vmleased: the one way
 * either of them applies a fence. Who applies it, and when, is theirs to
 * say (vmlease-holder.c end_lease(), vml-lease-loss.c apply_fence()). */
#pragma once

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
