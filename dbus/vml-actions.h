/* vml-actions.h: which authorization action guards each D-Bus member. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VML_MANAGER_INTERFACE "org.example.VMLease.Manager"
#define VML_LEASE_INTERFACE   "org.example.VMLease"

#define VML_ACTION_INQUIRE "org.example.vmlease.inquire"
#define VML_ACTION_ACQUIRE "org.example.vmlease.acquire"
#define VML_ACTION_MANAGE  "org.example.vmlease.manage"

typedef struct {
  const char *interface;
  const char *member;
  const char *action;
} VmlActionRule;

/* The action for (@interface, @member), or NULL when the pair is not in the
 * table: callers must deny those (deny by default). */
const char          *vml_action_for_member (const char *interface, const char *member);

/* The whole table, for tests that try every member. */
const VmlActionRule *vml_action_rules      (guint *n_rules);

G_END_DECLS
