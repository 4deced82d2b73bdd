/* vmlease-enums.h: the closed sets of the D-Bus API as enums: lease modes,
 * fence actions, transfer steps and the reasons a lease is lost. */
#pragma once

#if !defined (__VMLEASE_H_INSIDE__) && !defined (VMLEASE_COMPILATION)
#error "Only <vmlease.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * VmleaseMode:
 * @VMLEASE_MODE_EXCLUSIVE: only this host (or this VM, for a disk) holds it
 * @VMLEASE_MODE_SHARED: any number of hosts (VMs) hold it shared, and
 *   nobody exclusively
 *
 * How a lease or a disk lease is held. The nicks are the D-Bus strings.
 */
typedef enum {
  VMLEASE_MODE_EXCLUSIVE,
  VMLEASE_MODE_SHARED,
} VmleaseMode;

/**
 * VmleaseFence:
 * @VMLEASE_FENCE_DEFAULT: the service's default: `kill` with a pid, `none`
 *   without
 * @VMLEASE_FENCE_NONE: do nothing to the VM process when the lease is lost
 * @VMLEASE_FENCE_KILL: SIGKILL the VM process when the lease is lost
 * @VMLEASE_FENCE_PAUSE: SIGSTOP the VM process when the lease is lost
 *
 * What happens to the VM process (the fence target) when its lease is lost.
 */
typedef enum {
  VMLEASE_FENCE_DEFAULT,
  VMLEASE_FENCE_NONE,
  VMLEASE_FENCE_KILL,
  VMLEASE_FENCE_PAUSE,
} VmleaseFence;

/**
 * VmleaseTransferStep:
 * @VMLEASE_TRANSFER_STEP_NONE: no step (a migration not begun)
 * @VMLEASE_TRANSFER_STEP_BEGIN: source: exclusive to shared
 * @VMLEASE_TRANSFER_STEP_PREPARE: destination: taken shared
 * @VMLEASE_TRANSFER_STEP_PERFORM: source, at switchover: lets go
 * @VMLEASE_TRANSFER_STEP_FINISH: destination: shared to exclusive (or, on
 *   failure, lets go)
 * @VMLEASE_TRANSFER_STEP_CONFIRM: source: done (or, on failure, takes it back)
 * @VMLEASE_TRANSFER_STEP_CANCEL: either side: undoes that side
 *
 * The steps of the migration hand-off (`Transfer` in docs/api.md). The
 * nicks are the D-Bus step names.
 */
typedef enum {
  VMLEASE_TRANSFER_STEP_NONE,
  VMLEASE_TRANSFER_STEP_BEGIN,
  VMLEASE_TRANSFER_STEP_PREPARE,
  VMLEASE_TRANSFER_STEP_PERFORM,
  VMLEASE_TRANSFER_STEP_FINISH,
  VMLEASE_TRANSFER_STEP_CONFIRM,
  VMLEASE_TRANSFER_STEP_CANCEL,
} VmleaseTransferStep;

/**
 * VmleaseLostReason:
 * @VMLEASE_LOST_REASON_UNKNOWN: a reason this library does not know (a newer
 *   service); the details' `message` says it in words
 * @VMLEASE_LOST_REASON_LOCKSPACE_FAILED: this host could not renew its
 *   lockspace on storage
 * @VMLEASE_LOST_REASON_REVOKED: another host seized the lease
 * @VMLEASE_LOST_REASON_SANLOCK_GONE: the local sanlock daemon died or stopped
 * @VMLEASE_LOST_REASON_HOLDER_EXITED: the lease's holder process ended
 *   without a release
 * @VMLEASE_LOST_REASON_LOCKSPACE_REMOVED: RemoveLockspace with force
 *
 * Why a lease was lost: the `reason` of the `Lost` D-Bus signal. The nicks
 * are the D-Bus strings.
 */
typedef enum {
  VMLEASE_LOST_REASON_UNKNOWN,
  VMLEASE_LOST_REASON_LOCKSPACE_FAILED,
  VMLEASE_LOST_REASON_REVOKED,
  VMLEASE_LOST_REASON_SANLOCK_GONE,
  VMLEASE_LOST_REASON_HOLDER_EXITED,
  VMLEASE_LOST_REASON_LOCKSPACE_REMOVED,
} VmleaseLostReason;

G_END_DECLS
