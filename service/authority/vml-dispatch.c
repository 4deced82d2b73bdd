/* vml-dispatch.c: see vml-dispatch.h. */
#include "config.h"

#include "vml-dispatch.h"

typedef struct {
  VmlAuthority    *authority;
  const VmlMethod *methods;
  gsize            n_methods;
} Dispatch;

static void
dispatch_free (gpointer data)
{
  Dispatch *dispatch = data;

  g_object_unref (dispatch->authority);
  g_free (dispatch);
}

/* One table per interface an object serves, found by the interface name. */
static GQuark
dispatch_quark (const char *interface_name)
{
  g_autofree char *key = g_strconcat ("vml-dispatch:", interface_name, NULL);

  return g_quark_from_string (key);
}

/* gdbus-codegen emits "handle-add-lockspace" for AddLockspace. */
static char *
handler_signal_name (const char *member)
{
  GString *name = g_string_new ("handle");

  for (const char *c = member; *c != '\0'; c++)
    {
      if (g_ascii_isupper (*c))
        g_string_append_c (name, '-');
      g_string_append_c (name, g_ascii_tolower (*c));
    }
  return g_string_free (name, FALSE);
}

/* Connected swapped, so @object comes first and the invocation second
 * whatever arguments the member has; the rest are read from the
 * invocation's parameters by whoever needs them. */
static gboolean
on_handle_method (GObject *object, GDBusMethodInvocation *invocation)
{
  const char *interface_name = g_dbus_method_invocation_get_interface_name (invocation);
  const char *member = g_dbus_method_invocation_get_method_name (invocation);
  Dispatch *dispatch = g_object_get_qdata (object, dispatch_quark (interface_name));
  VmlAuthTarget target = { .owner_uid = VML_UID_NONE };

  g_return_val_if_fail (dispatch != NULL, FALSE);
  for (gsize i = 0; i < dispatch->n_methods; i++)
    {
      const VmlMethod *method = &dispatch->methods[i];

      if (!g_str_equal (method->member, member))
        continue;
      if (method->describe != NULL)
        method->describe (object, invocation, &target);
      vml_authority_run_authorized (dispatch->authority, invocation, object, &target,
                                    method->handler);
      return TRUE;
    }
  return FALSE;
}

void
vml_dispatch_serve (GObject                *object,
                    GDBusInterfaceSkeleton *iface,
                    VmlAuthority           *authority,
                    const VmlMethod        *methods,
                    gsize                   n_methods)
{
  GDBusInterfaceInfo *info = g_dbus_interface_skeleton_get_info (iface);
  Dispatch *dispatch = g_new0 (Dispatch, 1);

  dispatch->authority = g_object_ref (authority);
  dispatch->methods = methods;
  dispatch->n_methods = n_methods;
  g_object_set_qdata_full (object, dispatch_quark (info->name), dispatch, dispatch_free);
  for (gsize i = 0; i < n_methods; i++)
    {
      g_autofree char *signal = handler_signal_name (methods[i].member);

      g_signal_connect_object (iface, signal, G_CALLBACK (on_handle_method), object,
                               G_CONNECT_SWAPPED);
    }
}
