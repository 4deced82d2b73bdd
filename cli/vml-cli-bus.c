/* vml-cli-bus.c: the connection to the bus, proxies for the manager and a
 * lease, and method calls, with a spinner on a terminal for the slow ones. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <glib-unix.h>

#include "vml-cli.h"

/* A spinner appears only if the reply takes longer than this. */
#define SPINNER_DELAY_US   (1 * G_USEC_PER_SEC)
#define SPINNER_PERIOD_MS  100

char *
vml_cli_bus_name_for_humans (VmlCli *cli)
{
  if (cli->address != NULL)
    return g_strdup_printf ("the bus at %s", cli->address);
  return g_strdup ("the system bus");
}

static GDBusConnection *
open_bus (VmlCli  *cli,
          GError **error)
{
  if (cli->address == NULL)
    return g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, error);

  return g_dbus_connection_new_for_address_sync (cli->address,
                                                 G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                 NULL, NULL, error);
}

/* (transfer none) */
GDBusConnection *
vml_cli_connection (VmlCli  *cli,
                    GError **error)
{
  g_autoptr(GError) local_error = NULL;

  if (cli->connection != NULL)
    return cli->connection;

  cli->connection = open_bus (cli, &local_error);
  if (cli->connection == NULL)
    {
      g_autofree char *bus = vml_cli_bus_name_for_humans (cli);

      g_set_error (error, VML_CLI_ERROR, VML_CLI_ERROR_UNREACHABLE,
                   "cannot connect to %s: %s", bus, local_error->message);
      return NULL;
    }

  /* monitor notices a closed connection itself; never exit behind its back. */
  g_dbus_connection_set_exit_on_close (cli->connection, FALSE);
  return cli->connection;
}

/* (transfer none). Without DO_NOT_AUTO_START, so the bus may activate
 * vmleased; if it is neither running nor activatable the first call fails
 * with ServiceUnknown (exit code 3). */
VmlDbusManager *
vml_cli_manager (VmlCli  *cli,
                 GError **error)
{
  GDBusConnection *connection;

  if (cli->manager != NULL)
    return cli->manager;

  connection = vml_cli_connection (cli, error);
  if (connection == NULL)
    return NULL;

  cli->manager = vml_dbus_manager_proxy_new_sync (connection,
                                                  G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                                  G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                                  VML_BUS_NAME,
                                                  VML_MANAGER_PATH,
                                                  NULL, error);
  return cli->manager;
}

/* (transfer full): the lease object for @uuid, found with GetLease. */
VmlDbusLease *
vml_cli_lease (VmlCli     *cli,
               const char *uuid,
               GError    **error)
{
  VmlDbusManager *manager = vml_cli_manager (cli, error);
  g_autoptr(GVariant) reply = NULL;
  const char *path;

  if (manager == NULL)
    return NULL;

  reply = vml_cli_call (manager, "GetLease", g_variant_new ("(s)", uuid),
                        VML_CLI_CALL_READ, VML_CLI_TIMEOUT_READ, NULL, error);
  if (reply == NULL)
    return NULL;

  /* The proxy checks replies against the introspection data: "(o)". */
  g_variant_get (reply, "(&o)", &path);
  return vml_dbus_lease_proxy_new_sync (cli->connection,
                                        G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                        G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS |
                                        G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                        VML_BUS_NAME, path, NULL, error);
}

/* ---- a call with a spinner --------------------------------------------- */

typedef struct {
  const char   *what;
  gint64        started;
  guint         frame;
  gboolean      shown;
  gboolean      interrupted;
  gboolean      done;
  GCancellable *cancellable;
  GVariant     *reply;
  GError       *error;
} VmlCliWait;

static gboolean
spinner_tick (gpointer user_data)
{
  static const char frames[] = "|/-\\";
  VmlCliWait *wait = user_data;
  gint64 elapsed = g_get_monotonic_time () - wait->started;

  if (elapsed < SPINNER_DELAY_US)
    return G_SOURCE_CONTINUE;

  fprintf (stderr, "\r%c %s... %" G_GINT64_FORMAT " s ",
           frames[wait->frame++ % 4], wait->what, elapsed / G_USEC_PER_SEC);
  fflush (stderr);
  wait->shown = TRUE;
  return G_SOURCE_CONTINUE;
}

static gboolean
on_interrupt (gpointer user_data)
{
  VmlCliWait *wait = user_data;

  wait->interrupted = TRUE;
  g_cancellable_cancel (wait->cancellable);
  return G_SOURCE_CONTINUE;
}

static void
call_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  VmlCliWait *wait = user_data;

  wait->reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &wait->error);
  wait->done = TRUE;
}

/* Runs the main loop until @wait's call is done, the spinner turning. */
static GVariant *
wait_for_reply (VmlCliWait *wait,
                GError    **error)
{
  guint tick = g_timeout_add (SPINNER_PERIOD_MS, spinner_tick, wait);
  guint sigint = g_unix_signal_add (SIGINT, on_interrupt, wait);

  /* Cancelling still completes the call, so wait is never left dangling. */
  while (!wait->done)
    g_main_context_iteration (NULL, TRUE);

  g_source_remove (tick);
  g_source_remove (sigint);
  if (wait->shown)
    fputs ("\r\033[K", stderr);

  if (wait->reply != NULL)
    return wait->reply;
  if (wait->interrupted)
    {
      g_clear_error (&wait->error);
      g_set_error (error, VML_CLI_ERROR, VML_CLI_ERROR_INTERRUPTED,
                   "interrupted; vmleased may still complete the request (%s)",
                   wait->what);
      return NULL;
    }
  g_propagate_error (error, wait->error);
  return NULL;
}

/* Calls @method on a generated proxy (the manager or a lease). The generated
 * *_call_*_sync() functions take neither call flags nor a timeout, and every
 * state change must allow interactive authorization, hence this. @progress
 * (or NULL) names the operation for the spinner shown while it runs, if
 * stderr is a terminal. */
GVariant *
vml_cli_call (gpointer        proxy,
              const char     *method,
              GVariant       *parameters,
              GDBusCallFlags  flags,
              int             timeout_ms,
              const char     *progress,
              GError        **error)
{
  g_autoptr(GCancellable) cancellable = NULL;
  VmlCliWait wait = { .what = progress };

  if (progress == NULL || !isatty (STDERR_FILENO))
    return g_dbus_proxy_call_sync (G_DBUS_PROXY (proxy), method, parameters,
                                   flags, timeout_ms, NULL, error);

  cancellable = g_cancellable_new ();
  wait.started = g_get_monotonic_time ();
  wait.cancellable = cancellable;
  g_dbus_proxy_call (G_DBUS_PROXY (proxy), method, parameters, flags, timeout_ms,
                     cancellable, call_done, &wait);
  return wait_for_reply (&wait, error);
}

gboolean
vml_cli_change (VmlCli *cli, const char *uuid, const char *method, GVariant *parameters,
                int timeout_ms, GVariant **reply, GError **error,
                const char *progress_format, ...)
{
  g_autoptr(GVariant) args = g_variant_ref_sink (parameters);
  g_autoptr(VmlDbusLease) lease = NULL;
  g_autoptr(GVariant) answer = NULL;
  g_autofree char *progress = NULL;
  gpointer proxy;
  va_list ap;

  if (uuid != NULL)
    proxy = lease = vml_cli_lease (cli, uuid, error);
  else
    proxy = vml_cli_manager (cli, error);
  if (proxy == NULL)
    return FALSE;
  va_start (ap, progress_format);
  progress = g_strdup_vprintf (progress_format, ap);
  va_end (ap);
  answer = vml_cli_call (proxy, method, args, VML_CLI_CALL_CHANGE, timeout_ms, progress, error);
  if (answer == NULL)
    return FALSE;
  if (reply != NULL)
    *reply = g_steal_pointer (&answer);
  return TRUE;
}

char *
vml_cli_progress_wait (guint64 wait)
{
  if (wait == 0)
    return g_strdup ("");
  return g_strdup_printf (" (waiting up to %" G_GUINT64_FORMAT " s)", wait);
}

/* Calls a standard interface (Properties, ObjectManager) on vmleased. */
GVariant *
vml_cli_call_std (VmlCli             *cli,
                  const char         *path,
                  const char         *interface,
                  const char         *method,
                  GVariant           *parameters,
                  const GVariantType *reply_type,
                  GError            **error)
{
  g_autoptr(GVariant) args = parameters ? g_variant_ref_sink (parameters) : NULL;
  GDBusConnection *connection = vml_cli_connection (cli, error);

  if (connection == NULL)
    return NULL;

  return g_dbus_connection_call_sync (connection, VML_BUS_NAME, path,
                                      interface, method, args, reply_type,
                                      G_DBUS_CALL_FLAGS_NONE,
                                      VML_CLI_TIMEOUT_READ, NULL, error);
}

/* ---- the exported leases ---------------------------------------------------- */

static int
compare_leases (gconstpointer a,
                gconstpointer b)
{
  const char *path_a, *path_b;

  g_variant_get (*(GVariant **) a, "(&o@a{sv})", &path_a, NULL);
  g_variant_get (*(GVariant **) b, "(&o@a{sv})", &path_b, NULL);
  return g_strcmp0 (path_a, path_b);
}

GPtrArray *
vml_cli_get_leases (VmlCli  *cli,
                    GError **error)
{
  const char *interface = vml_dbus_lease_interface_info ()->name;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GPtrArray) leases = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  GVariantIter iter;
  const char *path;
  GVariant *interfaces;

  reply = vml_cli_call_std (cli, VML_MANAGER_PATH,
                            "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                            NULL, G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), error);
  if (reply == NULL)
    return NULL;

  objects = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_loop (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      g_autoptr(GVariant) props = g_variant_lookup_value (interfaces, interface,
                                                          G_VARIANT_TYPE_VARDICT);
      if (props != NULL)
        g_ptr_array_add (leases, g_variant_ref_sink (g_variant_new ("(o@a{sv})", path, props)));
    }
  g_ptr_array_sort (leases, compare_leases);
  return g_steal_pointer (&leases);
}
