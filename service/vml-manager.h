/* vml-manager.h: the service's root object, /org/example/VMLease: the
 * lockspaces this host uses and the lease objects below it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VML_TYPE_MANAGER (vml_manager_get_type ())
G_DECLARE_FINAL_TYPE (VmlManager, vml_manager, VML, MANAGER, GObject)

VmlManager *vml_manager_new   (GDBusConnection *bus,
                               const char      *state_dir,
                               const char      *holder_path,
                               GError         **error);

/* Exports the objects, then re-joins the configured and remembered
 * lockspaces and re-adopts the leases still held. @config may be NULL. */
gboolean    vml_manager_start (VmlManager *self,
                               GKeyFile   *config,
                               GError    **error);

G_END_DECLS
