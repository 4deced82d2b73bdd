/* vml-actions.c: the {interface, member, action} table. It sits next to the
 * introspection XML because it is part of the contract: adding a method to
 * the XML without a row here leaves that method denied. */
#include "vml-actions.h"

static const VmlActionRule vml_action_table[] = {
  { VML_MANAGER_INTERFACE, "AddLockspace",    VML_ACTION_MANAGE,  NULL },
  { VML_MANAGER_INTERFACE, "RemoveLockspace", VML_ACTION_MANAGE,  NULL },
  { VML_MANAGER_INTERFACE, "CreateLease",     VML_ACTION_MANAGE,  NULL },
  { VML_MANAGER_INTERFACE, "DeleteLease",     VML_ACTION_MANAGE,  NULL },
  { VML_MANAGER_INTERFACE, "GetLease",        VML_ACTION_INQUIRE, NULL },
  { VML_LEASE_INTERFACE,   "Acquire",         VML_ACTION_ACQUIRE, NULL },
  { VML_LEASE_INTERFACE,   "Release",         VML_ACTION_ACQUIRE, VML_ACTION_MANAGE },
  { VML_LEASE_INTERFACE,   "AttachDisks",     VML_ACTION_ACQUIRE, VML_ACTION_MANAGE },
  { VML_LEASE_INTERFACE,   "DetachDisks",     VML_ACTION_ACQUIRE, VML_ACTION_MANAGE },
  { VML_LEASE_INTERFACE,   "Transfer",        VML_ACTION_MIGRATE, VML_ACTION_MANAGE },
  { VML_LEASE_INTERFACE,   "Inquire",         VML_ACTION_INQUIRE, NULL },
};

const VmlActionRule *
vml_action_rule_for (const char *interface, const char *member)
{
  for (guint i = 0; i < G_N_ELEMENTS (vml_action_table); i++)
    {
      const VmlActionRule *rule = &vml_action_table[i];

      if (g_str_equal (rule->interface, interface) && g_str_equal (rule->member, member))
        return rule;
    }
  return NULL;
}

const char *
vml_action_for_member (const char *interface, const char *member)
{
  const VmlActionRule *rule = vml_action_rule_for (interface, member);

  return rule ? rule->action : NULL;
}

const VmlActionRule *
vml_action_rules (guint *n_rules)
{
  *n_rules = G_N_ELEMENTS (vml_action_table);
  return vml_action_table;
}
