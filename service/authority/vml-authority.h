/* vml-authority.h: decides, without blocking, whether the caller of a D-Bus
 * method may run it. The action comes from the static table in
 * dbus/vml-actions.c (members not in it are denied); polkit decides. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VML_TYPE_AUTHORITY (vml_authority_get_type ())
G_DECLARE_FINAL_TYPE (VmlAuthority, vml_authority, VML, AUTHORITY, GObject)

#define VML_UID_NONE G_MAXUINT

/* How long a call waits for polkit's answer before it is refused
 * (NotAuthorized, "timed out"): below the 25 s most D-Bus clients wait for
 * a reply (GDBus', sd-bus', dbus-python's default), so a caller hears the
 * refusal rather than a timeout of its own. docs/authorization.md. */
#define VML_POLKIT_TIMEOUT_S 25

/* Calls of one uid other than 0 in flight at once (arrived, not yet
 * answered; a waiting Acquire counts): more are answered Busy.
 * docs/api.md. */
#define VML_CALLS_IN_FLIGHT_MAX 32

/* What a call acts on: chooses the action (another uid's lease needs
 * .manage) and tells the polkit agent what to show. All fields optional. */
typedef struct {
  guint       owner_uid;   /* who acquired the lease, VML_UID_NONE if nobody */
  gboolean    seize;       /* takes the lease away from another host: .seize */
  gboolean    fence_others; /* names a fence target the caller could not signal
                             * itself, of uid fence_uid: .manage */
  guint       fence_uid;
  const char *vm_uuid;
  const char *vm_name;
  const char *lockspace;
} VmlAuthTarget;

/* Called on the main loop once the caller is authorized; @uid is theirs. */
typedef void (*VmlAuthorizedFunc) (GObject               *object,
                                   GDBusMethodInvocation *invocation,
                                   guint                  uid);

VmlAuthority *vml_authority_new            (GDBusConnection *bus);

/* Checks @invocation's caller; on success calls @func(@object, ...), on
 * failure replies NotAuthorized itself. Takes a reference on @object;
 * @target (may be NULL) is copied. */
void          vml_authority_run_authorized (VmlAuthority          *self,
                                            GDBusMethodInvocation *invocation,
                                            GObject               *object,
                                            const VmlAuthTarget   *target,
                                            VmlAuthorizedFunc      func);

/* Cancelled when the caller of @invocation (a call that went through
 * vml_authority_run_authorized) leaves the bus; NULL for other
 * invocations. Owned by the invocation. */
GCancellable *vml_authority_call_cancellable (GDBusMethodInvocation *invocation);

G_END_DECLS
