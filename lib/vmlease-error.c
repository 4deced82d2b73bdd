/* vmlease-error.c: registers the org.example.VMLease.Error.* names as the
 * VMLEASE_ERROR domain, so an error reply arrives as that domain and code. */
#include "vmlease-private.h"

/* One entry per VmleaseError value, in enum order: the same names, in the
 * same order, as the service's table (dbus/vml-error.c); tests/lib/
 * test-lib-errors.c checks both against each other. */
static const GDBusErrorEntry vmlease_error_entries[] = {
  { VMLEASE_ERROR_FAILED,               "org.example.VMLease.Error.Failed" },
  { VMLEASE_ERROR_NOT_AUTHORIZED,       "org.example.VMLease.Error.NotAuthorized" },
  { VMLEASE_ERROR_INVALID_ARGUMENT,     "org.example.VMLease.Error.InvalidArgument" },
  { VMLEASE_ERROR_NOT_FOUND,            "org.example.VMLease.Error.NotFound" },
  { VMLEASE_ERROR_EXISTS,               "org.example.VMLease.Error.Exists" },
  { VMLEASE_ERROR_BUSY,                 "org.example.VMLease.Error.Busy" },
  { VMLEASE_ERROR_NOT_HELD,             "org.example.VMLease.Error.NotHeld" },
  { VMLEASE_ERROR_WRONG_STEP,           "org.example.VMLease.Error.WrongStep" },
  { VMLEASE_ERROR_COMMITTED,            "org.example.VMLease.Error.Committed" },
  { VMLEASE_ERROR_STALE_TOKEN,          "org.example.VMLease.Error.StaleToken" },
  { VMLEASE_ERROR_LOCKSPACE_NOT_JOINED, "org.example.VMLease.Error.LockspaceNotJoined" },
  { VMLEASE_ERROR_STORAGE_FAILURE,      "org.example.VMLease.Error.StorageFailure" },
};

/**
 * vmlease_error_quark:
 *
 * The quark of [error@Vmlease.Error]. The first call registers the D-Bus
 * error names with GDBus.
 *
 * Returns: the `VMLEASE_ERROR` quark
 */
GQuark
vmlease_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("vmlease-error-quark",
                                      &quark,
                                      vmlease_error_entries,
                                      G_N_ELEMENTS (vmlease_error_entries));
  return (GQuark) quark;
}

/**
 * vmlease_error_get_dbus_name:
 * @code: a [error@Vmlease.Error] code
 *
 * The D-Bus error name of @code, e.g. `org.example.VMLease.Error.Busy`.
 *
 * Returns: (nullable): the name, or %NULL for a value not in the enum
 */
const char *
vmlease_error_get_dbus_name (VmleaseError code)
{
  if ((guint) code >= G_N_ELEMENTS (vmlease_error_entries))
    return NULL;
  return vmlease_error_entries[code].dbus_error_name;
}

/* A remote error of a known name is already in VMLEASE_ERROR (the domain is
 * registered before any call); its message still starts with GDBus's
 * "GDBus.Error:<name>: ", which says nothing the code does not. */
void
_vmlease_error_tidy (GError *error)
{
  if (error != NULL && error->domain == VMLEASE_ERROR)
    g_dbus_error_strip_remote_error (error);
}
