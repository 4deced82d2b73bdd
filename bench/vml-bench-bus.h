/* vml-bench-bus.h: what the benchmark programs share about talking to
 * vmleased: its bus names, and one method call. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define BUS_NAME        "org.example.VMLease"
#define MANAGER_PATH    "/org/example/VMLease"
#define MANAGER_IFACE   "org.example.VMLease.Manager"
#define LEASE_IFACE     "org.example.VMLease"
#define CALL_TIMEOUT_MS (60 * 1000)

/* Calls @method of vmleased's @path on @bus, waiting up to CALL_TIMEOUT_MS;
 * @reply_type (a type string) is checked unless NULL. */
GVariant *vml_bench_bus_call (GDBusConnection *bus, const char *path, const char *iface,
                              const char *method, GVariant *params, const char *reply_type,
                              GError **error);

G_END_DECLS
