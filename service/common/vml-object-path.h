/* vml-object-path.h: the D-Bus object path of a lease object, which the
 * manager (creating and finding leases) and the lease itself both name. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* /org/example/VMLease/vm/<uuid with '-' replaced by '_'>; @uuid must be valid. */
char        *vml_lease_object_path      (const char *uuid);

G_END_DECLS
