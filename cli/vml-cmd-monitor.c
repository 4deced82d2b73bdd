/* vml-cmd-monitor.c: "vmleasectl monitor": prints what vmleased signals, as
 * it happens, until interrupted. One subscription to everything vmleased
 * sends; a table maps (interface, member) to a printer, and anything not in
 * the table (a newer vmleased's signals) is still printed, generically. */
#include "config.h"

#include <signal.h>
#include <stdio.h>

#include <glib-unix.h>

#include "vml-cmd.h"

static const char monitor_help[] =
  "Prints events as they happen until interrupted (Ctrl-C): lockspace state\n"
  "changes (LockspaceChanged), lost leases (Lost), warnings on held leases\n"
  "(Warning, e.g. storage-failing: their lockspace's device was removed or\n"
  "went read-only), lease property changes (PropertiesChanged, e.g.\n"
  "storage_state), leases exported and unexported (InterfacesAdded,\n"
  "InterfacesRemoved), and vmleased itself appearing on or leaving the bus.\n"
  "Waits for vmleased if it is not running. With --json, prints one JSON\n"
  "object per line: {\"time\", \"event\", \"path\", \"uuid\" (lease events), ...}.\n"
  "\n"
  "Examples:\n"
  "  vmleasectl monitor\n"
  "  vmleasectl monitor --json | jq -c 'select(.event == \"lost\")'";

static const VmleaseError monitor_errors[] = { VML_CLI_ERRORS_END };

typedef struct {
  VmlCli    *cli;
  GMainLoop *loop;
  GError    *error;
} Monitor;

static void
emit_json (GDateTime  *now,
           const char *event,
           const char *path,
           GVariant   *members)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *stamp = g_date_time_format_iso8601 (now);
  g_autofree char *uuid = path ? vml_cli_uuid_from_path (path) : NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "time");
  json_builder_add_string_value (builder, stamp);
  json_builder_set_member_name (builder, "event");
  json_builder_add_string_value (builder, event);
  if (path != NULL)
    {
      json_builder_set_member_name (builder, "path");
      json_builder_add_string_value (builder, path);
    }
  if (uuid != NULL)
    {
      json_builder_set_member_name (builder, "uuid");
      json_builder_add_string_value (builder, uuid);
    }
  if (members != NULL)
    vml_cli_json_add_props (builder, members);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  vml_cli_print_json (root, FALSE);
}

/* Prints one event. @fields (floating or NULL) become the JSON members after
 * time, event, path and uuid; @human is the line people read. */
static void
emit (Monitor    *monitor,
      const char *event,
      const char *path,
      GVariant   *fields,
      const char *human)
{
  g_autoptr(GVariant) members = fields ? g_variant_ref_sink (fields) : NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = NULL;

  if (monitor->cli->json)
    {
      emit_json (now, event, path, members);
      return;
    }
  stamp = g_date_time_format (now, "%H:%M:%S");
  g_print ("%s.%03d  %s\n", stamp, g_date_time_get_microsecond (now) / 1000, human);
  fflush (stdout);
}

/* "lease <uuid>", "vmleased" (the manager) or the object path. */
static char *
subject (const char *path)
{
  g_autofree char *uuid = vml_cli_uuid_from_path (path);

  if (uuid != NULL)
    return g_strdup_printf ("lease %s", uuid);
  if (g_str_equal (path, VML_CLI_MANAGER_PATH))
    return g_strdup ("vmleased");
  return g_strdup (path);
}

/* ---- printers, one per signal ------------------------------------------ */

typedef void (*SignalPrinter) (Monitor *monitor, const char *path, GVariant *params);

static void
print_lockspace_changed (Monitor    *monitor,
                         const char *path,
                         GVariant   *params)
{
  const char *name, *state;
  g_autoptr(GVariant) details = NULL;
  g_autofree char *shown = NULL;
  g_autofree char *human = NULL;

  g_variant_get (params, "(&s&s@a{sv})", &name, &state, &details);
  shown = vml_cli_format_details (details);
  human = g_strdup_printf ("lockspace %s: %s%s%s", name, state, *shown ? "  " : "", shown);
  emit (monitor, "lockspace-changed", path,
        g_variant_new_parsed ("{'name': <%s>, 'state': <%s>, 'details': <%@a{sv}>}",
                              name, state, details),
        human);
}

/* Lost(reason, details) and Warning(kind, details): a word, then details;
 * in JSON the word under @key. */
static void
print_word_and_details (Monitor    *monitor,
                        const char *path,
                        GVariant   *params,
                        const char *event,
                        const char *label,
                        const char *key)
{
  const char *word;
  g_autoptr(GVariant) details = NULL;
  g_autofree char *who = subject (path);
  g_autofree char *shown = NULL;
  g_autofree char *human = NULL;

  g_variant_get (params, "(&s@a{sv})", &word, &details);
  shown = vml_cli_format_details (details);
  human = g_strdup_printf ("%s: %s (%s)%s%s", who, label, word, *shown ? "  " : "", shown);
  emit (monitor, event, path,
        g_variant_new_parsed ("{%s: <%s>, 'details': <%@a{sv}>}", key, word, details),
        human);
}

static void
print_lost (Monitor    *monitor,
            const char *path,
            GVariant   *params)
{
  print_word_and_details (monitor, path, params, "lost", "LOST", "reason");
}

static void
print_warning (Monitor    *monitor,
               const char *path,
               GVariant   *params)
{
  print_word_and_details (monitor, path, params, "warning", "WARNING", "kind");
}

/* (transfer floating) */
static GVariant *
snake_names (const char * const *names)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_STRING_ARRAY);

  for (gsize i = 0; names[i] != NULL; i++)
    {
      g_autofree char *name = vml_cli_snake_case (names[i]);

      g_variant_builder_add (&builder, "s", name);
    }
  return g_variant_builder_end (&builder);
}

static void
print_properties_changed (Monitor    *monitor,
                          const char *path,
                          GVariant   *params)
{
  const char *interface;
  g_autoptr(GVariant) changed = NULL;
  g_autofree const char **invalidated = NULL;
  g_autofree char *who = subject (path);
  g_autofree char *shown = NULL;
  g_autofree char *gone = NULL;
  g_autofree char *human = NULL;

  g_variant_get (params, "(&s@a{sv}^a&s)", &interface, &changed, &invalidated);
  shown = vml_cli_format_details (changed);
  gone = g_strjoinv (", ", (char **) invalidated);
  human = g_strdup_printf ("%s: %s%s%s", who, shown,
                           *gone ? "  invalidated: " : "", gone);
  emit (monitor, "properties-changed", path,
        g_variant_new_parsed ("{'interface': <%s>, 'changed': <%@a{sv}>, 'invalidated': <%@as>}",
                              interface, vml_cli_snake_props (changed),
                              snake_names (invalidated)),
        human);
}

/* (transfer floating): a{sa{sv}} with every interface's properties under
 * their snake_case names, as in "vmleasectl list --json". */
static GVariant *
snake_interfaces (GVariant *interfaces)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{sa{sv}}"));
  GVariantIter iter;
  const char *interface;
  GVariant *props;

  g_variant_iter_init (&iter, interfaces);
  while (g_variant_iter_loop (&iter, "{&s@a{sv}}", &interface, &props))
    g_variant_builder_add (&builder, "{s@a{sv}}", interface, vml_cli_snake_props (props));
  return g_variant_builder_end (&builder);
}

static char *
describe_added (const char *who,
                GVariant   *interfaces)
{
  g_autoptr(GVariant) props = g_variant_lookup_value (interfaces,
                                                      VML_CLI_LEASE_IFACE,
                                                      G_VARIANT_TYPE_VARDICT);
  const char *name = "", *lockspace = "", *state = "";

  if (props == NULL)
    return g_strdup_printf ("%s: added", who);

  g_variant_lookup (props, "Name", "&s", &name);
  g_variant_lookup (props, "Lockspace", "&s", &lockspace);
  g_variant_lookup (props, "State", "&s", &state);
  return g_strdup_printf ("%s: added  name=%s lockspace=%s state=%s",
                          who, *name ? name : "-", lockspace, state);
}

/* InterfacesAdded (oa{sa{sv}}) and InterfacesRemoved (oas): an object
 * exported or unexported. The event is about that object, not about the
 * manager that sent it. */
static void
print_interfaces (Monitor    *monitor,
                  const char *path,
                  GVariant   *params)
{
  gboolean added = g_variant_is_of_type (params, G_VARIANT_TYPE ("(oa{sa{sv}})"));
  const char *object;
  g_autoptr(GVariant) interfaces = NULL;
  g_autofree char *who = NULL;
  g_autofree char *human = NULL;

  g_variant_get (params, "(&o@*)", &object, &interfaces);
  who = subject (object);
  human = added ? describe_added (who, interfaces) : g_strdup_printf ("%s: removed", who);
  emit (monitor, added ? "interfaces-added" : "interfaces-removed", object,
        g_variant_new_parsed ("{'interfaces': <%@*>}",
                              added ? snake_interfaces (interfaces) : interfaces),
        human);
}

static void
print_other (Monitor    *monitor,
             const char *path,
             const char *interface,
             const char *member,
             GVariant   *params)
{
  g_autofree char *who = subject (path);
  g_autofree char *args = g_variant_print (params, FALSE);
  g_autofree char *human = g_strdup_printf ("%s: %s.%s %s", who, interface, member, args);

  emit (monitor, "signal", path,
        g_variant_new_parsed ("{'interface': <%s>, 'member': <%s>, 'args': <%@*>}",
                              interface, member, params),
        human);
}

static const struct {
  const char    *interface;
  const char    *member;
  const char    *signature;
  SignalPrinter  print;
} printers[] = {
  { "org.example.VMLease.Manager",        "LockspaceChanged",  "(ssa{sv})",     print_lockspace_changed },
  { "org.example.VMLease",                "Lost",              "(sa{sv})",      print_lost },
  { "org.example.VMLease",                "Warning",           "(sa{sv})",      print_warning },
  { "org.freedesktop.DBus.Properties",    "PropertiesChanged", "(sa{sv}as)",    print_properties_changed },
  { "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",   "(oa{sa{sv}})",  print_interfaces },
  { "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", "(oas)",         print_interfaces },
};

static void
on_signal (GDBusConnection *connection,
           const char      *sender,
           const char      *path,
           const char      *interface,
           const char      *member,
           GVariant        *params,
           gpointer         user_data)
{
  Monitor *monitor = user_data;

  for (gsize i = 0; i < G_N_ELEMENTS (printers); i++)
    {
      if (g_str_equal (printers[i].interface, interface) &&
          g_str_equal (printers[i].member, member) &&
          g_variant_is_of_type (params, G_VARIANT_TYPE (printers[i].signature)))
        {
          printers[i].print (monitor, path, params);
          return;
        }
    }
  print_other (monitor, path, interface, member, params);
}

/* ---- vmleased coming and going, the bus going away, Ctrl-C ------------- */

static void
on_appeared (GDBusConnection *connection,
             const char      *name,
             const char      *owner,
             gpointer         user_data)
{
  g_autofree char *human = g_strdup_printf ("vmleased is on the bus (%s)", owner);

  emit (user_data, "service-appeared", NULL,
        g_variant_new_parsed ("{'owner': <%s>}", owner), human);
}

static void
on_vanished (GDBusConnection *connection,
             const char      *name,
             gpointer         user_data)
{
  Monitor *monitor = user_data;

  /* Also called when the connection closes; on_closed reports that. */
  if (connection == NULL || g_dbus_connection_is_closed (connection))
    return;
  emit (monitor, "service-vanished", NULL, NULL, "vmleased is not on the bus");
}

static void
on_closed (GDBusConnection *connection,
           gboolean         remote_peer_vanished,
           GError          *error,
           gpointer         user_data)
{
  Monitor *monitor = user_data;

  g_set_error (&monitor->error, VML_CLI_ERROR, VML_CLI_ERROR_UNREACHABLE,
               "the bus connection was closed%s%s",
               error ? ": " : "", error ? error->message : "");
  g_main_loop_quit (monitor->loop);
}

static gboolean
on_quit_signal (gpointer user_data)
{
  Monitor *monitor = user_data;

  g_main_loop_quit (monitor->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
run_monitor (Monitor          *monitor,
             GDBusConnection  *connection,
             GError          **error)
{
  guint subscription, watch, sigint, sigterm;
  gulong closed;

  subscription = g_dbus_connection_signal_subscribe (connection, VML_CLI_BUS_NAME,
                                                     NULL, NULL, NULL, NULL,
                                                     G_DBUS_SIGNAL_FLAGS_NONE,
                                                     on_signal, monitor, NULL);
  watch = g_bus_watch_name_on_connection (connection, VML_CLI_BUS_NAME,
                                          G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_appeared, on_vanished, monitor, NULL);
  closed = g_signal_connect (connection, "closed", G_CALLBACK (on_closed), monitor);
  sigint = g_unix_signal_add (SIGINT, on_quit_signal, monitor);
  sigterm = g_unix_signal_add (SIGTERM, on_quit_signal, monitor);

  g_main_loop_run (monitor->loop);

  g_source_remove (sigterm);
  g_source_remove (sigint);
  g_signal_handler_disconnect (connection, closed);
  g_bus_unwatch_name (watch);
  g_dbus_connection_signal_unsubscribe (connection, subscription);

  if (monitor->error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&monitor->error));
      return FALSE;
    }
  return TRUE;
}

VML_CLI_HANDLER (vml_cmd_monitor)
{
  const VmlCliSpec spec = { NULL, monitor_help, monitor_errors, 0, 0 };
  g_autoptr(GMainLoop) loop = NULL;
  GDBusConnection *connection;
  Monitor monitor = { cli, NULL, NULL };

  if (!vml_cli_parse (cli, cmd, &spec, &argc, &argv, error))
    return FALSE;
  connection = vml_cli_connection (cli, error);
  if (connection == NULL)
    return FALSE;

  loop = g_main_loop_new (NULL, FALSE);
  monitor.loop = loop;
  return run_monitor (&monitor, connection, error);
}
