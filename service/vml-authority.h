/* vml-authority.h: decides, without blocking, whether the caller of a D-Bus
 * method may run it. The action comes from the static table in
 * dbus/vml-actions.c; members not in the table are denied. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VML_TYPE_AUTHORITY (vml_authority_get_type ())
G_DECLARE_FINAL_TYPE (VmlAuthority, vml_authority, VML, AUTHORITY, GObject)

/* Called on the main loop once the caller is authorized; @uid is theirs. */
typedef void (*VmlAuthorizedFunc) (GObject               *object,
                                   GDBusMethodInvocation *invocation,
                                   guint                  uid);

VmlAuthority *vml_authority_new            (GDBusConnection *bus);

/* Checks @invocation's caller; on success calls @func(@object, ...), on
 * failure replies NotAuthorized itself. Takes a reference on @object. */
void          vml_authority_run_authorized (VmlAuthority          *self,
                                            GDBusMethodInvocation *invocation,
                                            GObject               *object,
                                            VmlAuthorizedFunc      func);

G_END_DECLS
