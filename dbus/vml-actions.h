/* vml-actions.h: which authorization action guards each D-Bus member. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VML_MANAGER_INTERFACE "org.example.VMLease.Manager"
#define VML_LEASE_INTERFACE   "org.example.VMLease"

#define VML_ACTION_INQUIRE "org.example.vmlease.inquire"
#define VML_ACTION_ACQUIRE "org.example.vmlease.acquire"
#define VML_ACTION_MIGRATE "org.example.vmlease.migrate"
#define VML_ACTION_SEIZE   "org.example.vmlease.seize"
#define VML_ACTION_MANAGE  "org.example.vmlease.manage"

typedef struct {
  const char *interface;
  const char *member;
  const char *action;
  /* The action instead when the caller acts on a lease acquired by
   * another uid; NULL: the same action. */
  const char *action_on_others;
} VmlActionRule;

/* The rule for (@interface, @member), or NULL when the pair is not in the
 * table: callers must deny those (deny by default). */
const VmlActionRule *vml_action_rule_for   (const char *interface, const char *member);
/* Its action, for a caller acting on its own (or nobody's) lease. */
const char          *vml_action_for_member (const char *interface, const char *member);

/* The whole table, for tests that try every member. */
const VmlActionRule *vml_action_rules      (guint *n_rules);

G_END_DECLS
