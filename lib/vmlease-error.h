/* vmlease-error.h: the VMLEASE_ERROR domain, one code per D-Bus error name
 * org.example.VMLease.Error.* that vmleased returns (docs/errors.md). */
#pragma once

#if !defined (__VMLEASE_H_INSIDE__) && !defined (VMLEASE_COMPILATION)
#error "Only <vmlease.h> can be included directly."
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * VMLEASE_ERROR:
 *
 * The error domain of errors vmleased returns; see [enum@Vmlease.Error].
 */
#define VMLEASE_ERROR (vmlease_error_quark ())

/**
 * VmleaseError:
 * @VMLEASE_ERROR_FAILED: anything else (org.example.VMLease.Error.Failed):
 *   the sanlock daemon is not running, the holder could not start.
 * @VMLEASE_ERROR_NOT_AUTHORIZED: polkit refused the call, or did not answer.
 * @VMLEASE_ERROR_INVALID_ARGUMENT: the arguments are wrong.
 * @VMLEASE_ERROR_NOT_FOUND: the named lease, lockspace or storage does not exist.
 * @VMLEASE_ERROR_EXISTS: it already exists (or is already held here).
 * @VMLEASE_ERROR_BUSY: another host holds the lease, or it is in use; the
 *   message names the host.
 * @VMLEASE_ERROR_NOT_HELD: the lease is not held on this host.
 * @VMLEASE_ERROR_WRONG_STEP: a transfer step out of order or on the wrong
 *   side, or Acquire/Release during a hand-off.
 * @VMLEASE_ERROR_COMMITTED: cancel, or confirm of failure, after a
 *   post-copy perform.
 * @VMLEASE_ERROR_STALE_TOKEN: a transfer token for another lease or
 *   hand-off, outdated, changed or cut.
 * @VMLEASE_ERROR_LOCKSPACE_NOT_JOINED: the lockspace is not joined on this host.
 * @VMLEASE_ERROR_STORAGE_FAILURE: sanlock could not read or write the storage.
 *
 * The errors of vmleased. Each code is one D-Bus error name
 * `org.example.VMLease.Error.<Name>`, registered with
 * g_dbus_error_register_error_domain(), so an error reply of any call made
 * through this library (or any GDBus call in the process, once
 * vmlease_error_quark() has run) matches with
 * `g_error_matches (error, VMLEASE_ERROR, VMLEASE_ERROR_BUSY)`.
 *
 * The values are those of the service's own table, in the same order.
 */
typedef enum {
  VMLEASE_ERROR_FAILED,
  VMLEASE_ERROR_NOT_AUTHORIZED,
  VMLEASE_ERROR_INVALID_ARGUMENT,
  VMLEASE_ERROR_NOT_FOUND,
  VMLEASE_ERROR_EXISTS,
  VMLEASE_ERROR_BUSY,
  VMLEASE_ERROR_NOT_HELD,
  VMLEASE_ERROR_WRONG_STEP,
  VMLEASE_ERROR_COMMITTED,
  VMLEASE_ERROR_STALE_TOKEN,
  VMLEASE_ERROR_LOCKSPACE_NOT_JOINED,
  VMLEASE_ERROR_STORAGE_FAILURE,
} VmleaseError;

GQuark        vmlease_error_quark        (void);
const char   *vmlease_error_get_dbus_name (VmleaseError code);

G_END_DECLS
