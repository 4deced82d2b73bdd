/* vmleased: guards VM leases on shared storage for this host.
 *
 * Exports org.example.VMLease on the system bus (DBUS_SYSTEM_BUS_ADDRESS is
 * honoured, as by every GLib program) and keeps one vmlease-holder process
 * per held lease. Stopping vmleased never releases a lease: the holders
 * keep them, and the next vmleased adopts them again.
 *
 * Under systemd (vmleased.service, Type=dbus) it reports READY=1 and STATUS=
 * once it owns its bus name, STOPPING=1 on SIGTERM/SIGINT, and, when the unit
 * sets WatchdogSec=, WATCHDOG=1 from a main-loop timer every half of it: a
 * main loop that hangs stops the keep-alives and systemd restarts vmleased
 * (the holders, and so the leases, stay). Without systemd, sd_notify() does
 * nothing. */
#include "config.h"

#include <stdlib.h>
#include <glib-unix.h>
#include <systemd/sd-daemon.h>

#include "vml-error.h"
#include "vml-holder.h"
#include "vml-log.h"
#include "vml-manager.h"
#include "vml-store.h"

typedef struct {
  GMainLoop *loop;
  int        exit_status;
  gboolean   ready;
} Daemon;

/* sd_notify() with a formatted message; a failure to reach systemd is only
 * logged (debug): vmleased works the same without it. */
G_GNUC_PRINTF (1, 2) static void
notify (const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;
  int r;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  r = sd_notify (0, message);
  if (r < 0)
    vml_log (G_LOG_LEVEL_DEBUG, &(VmlLogAbout){ 0 }, "sd_notify: %s", g_strerror (-r));
}

static gboolean
on_watchdog (gpointer user_data)
{
  notify ("WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

/* WATCHDOG_USEC (and WATCHDOG_PID) are set by systemd when the unit has
 * WatchdogSec=. They are read, and unset so that the holders do not inherit
 * them, before any thread exists (setenv is not thread-safe). The timer is
 * attached now but only runs with the main loop: a loop that never runs or
 * hangs sends nothing. Returns the timer's id, or 0 without a watchdog. */
static guint
watchdog_setup (void)
{
  uint64_t usec = 0;
  guint interval_ms;
  int r;

  r = sd_watchdog_enabled (TRUE, &usec);
  if (r < 0)
    {
      vml_log (G_LOG_LEVEL_WARNING, &(VmlLogAbout){ 0 },
               "Ignoring the systemd watchdog settings: %s", g_strerror (-r));
      return 0;
    }
  if (r == 0 || usec == 0)
    return 0;
  interval_ms = (guint) MAX (usec / 2 / 1000, 1);
  vml_log (G_LOG_LEVEL_DEBUG, &(VmlLogAbout){ 0 },
           "Sending watchdog keep-alives every %u ms", interval_ms);
  return g_timeout_add (interval_ms, on_watchdog, NULL);
}

static gboolean
on_signal (gpointer user_data)
{
  Daemon *daemon = user_data;

  vml_log (G_LOG_LEVEL_MESSAGE, &(VmlLogAbout){ .message_id = VML_MSGID_SERVICE_STOPPING },
           "Stopping; leases stay held by their holder processes");
  notify ("STOPPING=1\nSTATUS=Stopping; leases stay held by their holder processes");
  g_main_loop_quit (daemon->loop);
  return G_SOURCE_REMOVE;
}

static void
on_name_acquired (GDBusConnection *bus, const char *name, gpointer user_data)
{
  Daemon *daemon = user_data;

  vml_log (G_LOG_LEVEL_MESSAGE, &(VmlLogAbout){ .message_id = VML_MSGID_SERVICE_STARTED },
           "vmleased %s ready as %s", VERSION, name);
  if (!daemon->ready)
    notify ("READY=1\nSTATUS=Serving %s on the system bus", name);
  daemon->ready = TRUE;
}

static void
on_name_lost (GDBusConnection *bus, const char *name, gpointer user_data)
{
  Daemon *daemon = user_data;

  if (daemon->ready)
    {
      vml_log (G_LOG_LEVEL_WARNING, &(VmlLogAbout){ .message_id = VML_MSGID_SERVICE_STOPPING },
               "Lost the bus name %s (did the bus go away?); exiting", name);
      notify ("STATUS=Lost the bus name %s; exiting", name);
    }
  else
    {
      vml_log (G_LOG_LEVEL_WARNING, &(VmlLogAbout){ .message_id = VML_MSGID_SERVICE_STOPPING },
               "Could not own the bus name %s (is another vmleased running, "
               "or does the bus policy forbid it?); exiting", name);
      notify ("STATUS=Could not own the bus name %s", name);
    }
  daemon->exit_status = EXIT_FAILURE;
  g_main_loop_quit (daemon->loop);
}

static GKeyFile *
load_config (const char *path, gboolean required, GError **error)
{
  g_autoptr(GKeyFile) config = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;

  if (g_key_file_load_from_file (config, path, G_KEY_FILE_NONE, &local_error))
    return g_steal_pointer (&config);
  if (!required && g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    return NULL;
  g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
               "cannot read configuration %s: %s", path, local_error->message);
  return NULL;
}

/* [daemon] max_leases: the ceiling on lease holders (vml-holder.h). */
static gboolean
set_ceiling (GKeyFile *config, const char *path, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  guint64 max = VML_HOLDER_CEILING_DEFAULT;

  if (config != NULL && g_key_file_has_key (config, "daemon", "max_leases", NULL))
    max = g_key_file_get_uint64 (config, "daemon", "max_leases", &local_error);
  if (local_error != NULL || max < 1 || max > VML_HOLDER_CEILING_MAX)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "max_leases in [daemon] of %s must be a number from 1 to %d (sanlock "
                   "serves 1,024 clients per host; see vmleased(8))",
                   path, VML_HOLDER_CEILING_MAX);
      return FALSE;
    }
  vml_holder_set_ceiling ((guint) max, path);
  return TRUE;
}

/* After vml_log_setup(): the reason goes to the log (the journal under
 * systemd, else stderr) and to systemd's STATUS=. */
static int
fail_startup (const char *message)
{
  /* One line: sd_notify() takes a newline as the end of the assignment. */
  g_autofree char *status = g_strdelimit (g_strdup (message), "\n", ' ');

  vml_log (G_LOG_LEVEL_WARNING, &(VmlLogAbout){ .message_id = VML_MSGID_SERVICE_STOPPING },
           "Cannot start: %s", message);
  notify ("STATUS=Failed to start: %s", status);
  return EXIT_FAILURE;
}

int
main (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *holder_path = NULL;
  g_autofree char *notes_dir = NULL;
  gboolean verbose = FALSE, version = FALSE;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "Configuration file (default " VML_CONFIG_FILE ")", "FILE" },
    { "state-dir", 's', 0, G_OPTION_ARG_FILENAME, &state_dir,
      "Where lease and lockspace records are kept (default " VML_STATE_DIR ")", "DIR" },
    { "holder", 0, 0, G_OPTION_ARG_FILENAME, &holder_path,
      "The vmlease-holder program (default " VML_HOLDER_PATH ")", "PATH" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages too", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- guard VM leases on shared storage");
  g_autoptr(GError) error = NULL;
  g_autoptr(GKeyFile) config = NULL;
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(VmlManager) manager = NULL;
  Daemon daemon = { NULL, EXIT_SUCCESS, FALSE };
  guint owner_id, watchdog_id;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "vmleased exports org.example.VMLease on the system bus. See vmleased(8).\n"
    "Environment: DBUS_SYSTEM_BUS_ADDRESS (the bus), SANLOCK_RUN_DIR (the sanlock daemon).");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("vmleased: %s\nTry 'vmleased --help'.\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("vmleased %s\n", VERSION);
      return EXIT_SUCCESS;
    }
  vml_log_setup (verbose);
  watchdog_id = watchdog_setup ();

  config = load_config (config_path ? config_path : VML_CONFIG_FILE, config_path != NULL, &error);
  if (error != NULL ||
      !set_ceiling (config, config_path ? config_path : VML_CONFIG_FILE, &error))
    return fail_startup (error->message);
  if (state_dir == NULL && config != NULL)
    state_dir = g_key_file_get_string (config, "daemon", "state_dir", NULL);
  if (state_dir == NULL)
    state_dir = g_strdup (VML_STATE_DIR);
  /* Holders (our children) leave their notes there; set before any thread
   * starts, as setenv() is not thread-safe. */
  notes_dir = vml_store_notes_dir (state_dir);
  g_setenv ("VMLEASE_NOTES_DIR", notes_dir, TRUE);

  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (bus == NULL)
    {
      g_autofree char *message = g_strdup_printf ("cannot connect to the system bus: %s",
                                                  error->message);
      return fail_startup (message);
    }
  manager = vml_manager_new (bus, state_dir,
                             holder_path ? holder_path : VML_HOLDER_PATH, &error);
  if (manager == NULL || !vml_manager_start (manager, config, &error))
    return fail_startup (error->message);

  daemon.loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_signal, &daemon);
  g_unix_signal_add (SIGINT, on_signal, &daemon);
  owner_id = g_bus_own_name_on_connection (bus, VML_BUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
                                           on_name_acquired, on_name_lost, &daemon, NULL);
  g_main_loop_run (daemon.loop);

  if (watchdog_id != 0)
    g_source_remove (watchdog_id);
  g_bus_unown_name (owner_id);
  g_main_loop_unref (daemon.loop);
  return daemon.exit_status;
}
