/* vml-cli-bus.c: vmleased through libvmlease-1: the client (connected on
 * first use), finding a lease, waiting for the library's async calls with a
 * spinner on a terminal, and what the client follows (leases, manager
 * properties) in the shapes the output code prints. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* (transfer none). The library's client: its connection carries every
 * call. Only a failure to reach the bus is "unreachable" here; a bus that
 * answers with an error (vmleased not activatable) goes on as that error. */
VmleaseClient *
vml_cli_client (VmlCli  *cli,
                GError **error)
{
  g_autoptr(GError) local_error = NULL;

  if (cli->client != NULL)
    return cli->client;

  if (cli->address == NULL)
    cli->client = vmlease_client_new_sync (NULL, &local_error);
  else
    cli->client = vmlease_client_new_for_address_sync (cli->address, NULL, &local_error);
  if (cli->client == NULL)
    {
      g_autofree char *bus = NULL;

      if (g_dbus_error_is_remote_error (local_error))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      bus = vml_cli_bus_name_for_humans (cli);
      g_set_error (error, VML_CLI_ERROR, VML_CLI_ERROR_UNREACHABLE,
                   "cannot connect to %s: %s", bus, local_error->message);
      return NULL;
    }

  /* monitor notices a closed connection itself; never exit behind its back. */
  g_dbus_connection_set_exit_on_close (vmlease_client_get_connection (cli->client), FALSE);
  /* Every call that changes state lets polkit ask the user. */
  vmlease_client_set_allow_interactive_authorization (cli->client, TRUE);
  return cli->client;
}

/* (transfer none) */
GDBusConnection *
vml_cli_connection (VmlCli  *cli,
                    GError **error)
{
  VmleaseClient *client = vml_cli_client (cli, error);

  return client != NULL ? vmlease_client_get_connection (client) : NULL;
}

/* (transfer full): the lease of @uuid (GetLease). */
VmleaseLease *
vml_cli_find_lease (VmlCli     *cli,
                    const char *uuid,
                    GError    **error)
{
  VmleaseClient *client = vml_cli_client (cli, error);

  if (client == NULL)
    return NULL;
  return vmlease_client_get_lease_sync (client, uuid, NULL, error);
}

/* ---- the spinner --------------------------------------------------------- */

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
} VmlCliSpin;

static gboolean
spinner_tick (gpointer user_data)
{
  static const char frames[] = "|/-\\";
  VmlCliSpin *wait = user_data;
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
  VmlCliSpin *wait = user_data;

  wait->interrupted = TRUE;
  g_cancellable_cancel (wait->cancellable);
  return G_SOURCE_CONTINUE;
}

/* ---- waiting for one of the library's async calls ----------------------- */

struct _VmlCliWait {
  VmlCliSpin    base;         /* spinner and Ctrl-C, as for a proxy call */
  GAsyncResult  *result;
  char          *what;
  int            timeout_ms;
  gboolean       timed_out;
};

VmlCliWait *
vml_cli_wait_new (int         timeout_ms,
                  const char *progress_format,
                  ...)
{
  VmlCliWait *wait = g_new0 (VmlCliWait, 1);
  va_list ap;

  va_start (ap, progress_format);
  wait->what = g_strdup_vprintf (progress_format, ap);
  va_end (ap);
  wait->base.what = wait->what;
  wait->base.cancellable = g_cancellable_new ();
  wait->timeout_ms = timeout_ms;
  return wait;
}

GCancellable *
vml_cli_wait_cancellable (VmlCliWait *wait)
{
  return wait->base.cancellable;
}

void
vml_cli_wait_done (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  VmlCliWait *wait = user_data;

  wait->result = g_object_ref (result);
  wait->base.done = TRUE;
}

static gboolean
on_wait_timeout (gpointer user_data)
{
  VmlCliWait *wait = user_data;

  wait->timed_out = TRUE;
  g_cancellable_cancel (wait->base.cancellable);
  return G_SOURCE_REMOVE;
}

GAsyncResult *
vml_cli_wait_run (VmlCliWait *wait)
{
  gboolean spin = isatty (STDERR_FILENO);
  guint tick = 0, sigint = 0, timer = 0;

  wait->base.started = g_get_monotonic_time ();
  if (spin)
    {
      tick = g_timeout_add (SPINNER_PERIOD_MS, spinner_tick, &wait->base);
      sigint = g_unix_signal_add (SIGINT, on_interrupt, &wait->base);
    }
  if (wait->timeout_ms != VML_CLI_TIMEOUT_LONG)
    timer = g_timeout_add (wait->timeout_ms, on_wait_timeout, wait);

  /* Cancelling still completes the call, so @wait is never left dangling. */
  while (!wait->base.done)
    g_main_context_iteration (NULL, TRUE);

  if (tick != 0)
    g_source_remove (tick);
  if (sigint != 0)
    g_source_remove (sigint);
  if (timer != 0 && !wait->timed_out)
    g_source_remove (timer);
  if (wait->base.shown)
    fputs ("\r\033[K", stderr);
  return wait->result;
}

gboolean
vml_cli_wait_end (VmlCliWait *wait,
                  gboolean    ok,
                  GError    **error)
{
  if (ok)
    return TRUE;
  if (wait->base.interrupted)
    {
      g_clear_error (error);
      g_set_error (error, VML_CLI_ERROR, VML_CLI_ERROR_INTERRUPTED,
                   "interrupted; vmleased may still complete the request (%s)", wait->what);
    }
  else if (wait->timed_out)
    {
      g_clear_error (error);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                   "no reply from vmleased in %d s (%s)", wait->timeout_ms / 1000, wait->what);
    }
  return FALSE;
}

void
vml_cli_wait_free (VmlCliWait *wait)
{
  g_clear_object (&wait->result);
  g_clear_object (&wait->base.cancellable);
  g_free (wait->what);
  g_free (wait);
}

char *
vml_cli_progress_wait (guint64 wait)
{
  if (wait == 0)
    return g_strdup ("");
  return g_strdup_printf (" (waiting up to %" G_GUINT64_FORMAT " s)", wait);
}

/* ---- what the library follows ------------------------------------------- */

gboolean
vml_cli_check_service (VmlCli  *cli,
                       GError **error)
{
  VmleaseClient *client = vml_cli_client (cli, error);
  g_autofree char *owner = NULL;

  if (client == NULL)
    return FALSE;
  owner = vmlease_client_get_name_owner (client);
  if (owner != NULL)
    return TRUE;
  /* As a call would have failed: exit 3, "vmleased is not running". */
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN,
               "the name %s has no owner", VML_CLI_BUS_NAME);
  return FALSE;
}

static int
compare_names (const void *a,
               const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The D-Bus properties of @lease as they are now: its proxy's, which the
 * client keeps current. */
static GVariant *
lease_props (VmleaseLease *lease)
{
  g_autoptr(GDBusProxy) proxy = NULL;
  g_auto(GStrv) names = NULL;
  GVariantBuilder props;

  g_object_get (lease, "proxy", &proxy, NULL);
  /* Sorted: the proxy's own order is a hash table's. */
  names = g_dbus_proxy_get_cached_property_names (proxy);
  if (names != NULL)
    qsort (names, g_strv_length (names), sizeof (char *), compare_names);
  g_variant_builder_init (&props, G_VARIANT_TYPE_VARDICT);
  for (gsize i = 0; names != NULL && names[i] != NULL; i++)
    {
      g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property (proxy, names[i]);

      if (value != NULL)
        g_variant_builder_add (&props, "{sv}", names[i], value);
    }
  return g_variant_builder_end (&props);
}

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
  g_autoptr(GPtrArray) leases = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  GList *list;

  if (!vml_cli_check_service (cli, error))
    return NULL;
  list = vmlease_client_get_leases (cli->client);
  for (GList *l = list; l != NULL; l = l->next)
    g_ptr_array_add (leases, g_variant_ref_sink (
                       g_variant_new ("(o@a{sv})", vmlease_lease_get_object_path (l->data),
                                      lease_props (l->data))));
  g_list_free_full (list, g_object_unref);
  g_ptr_array_sort (leases, compare_leases);
  return g_steal_pointer (&leases);
}

GVariant *
vml_cli_get_manager_props (VmlCli  *cli,
                           GError **error)
{
  g_autoptr(GPtrArray) lockspaces = NULL;
  g_autoptr(GVariant) details = NULL;
  GVariantBuilder props, list;
  const char *version;

  if (!vml_cli_check_service (cli, error))
    return NULL;
  g_variant_builder_init (&props, G_VARIANT_TYPE_VARDICT);
  version = vmlease_client_get_version (cli->client);
  if (version != NULL)
    g_variant_builder_add (&props, "{sv}", "Version", g_variant_new_string (version));
  lockspaces = vmlease_client_get_lockspaces (cli->client);
  g_variant_builder_init (&list, G_VARIANT_TYPE ("a(ststsu)"));
  for (guint i = 0; i < lockspaces->len; i++)
    {
      VmleaseLockspace *ls = g_ptr_array_index (lockspaces, i);

      g_variant_builder_add (&list, "(ststsu)", vmlease_lockspace_get_name (ls),
                             vmlease_lockspace_get_host_id (ls), vmlease_lockspace_get_path (ls),
                             vmlease_lockspace_get_offset (ls), vmlease_lockspace_get_state (ls),
                             vmlease_lockspace_get_io_timeout (ls));
    }
  g_variant_builder_add (&props, "{sv}", "Lockspaces", g_variant_builder_end (&list));
  details = vmlease_client_dup_lockspace_details (cli->client);
  if (details != NULL)
    g_variant_builder_add (&props, "{sv}", "LockspaceDetails", details);
  return g_variant_ref_sink (g_variant_builder_end (&props));
}
