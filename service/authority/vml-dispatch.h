/* vml-dispatch.h: one way to serve the methods of an exported interface. An
 * interface gives a table of {member, describe, handler}; each call is
 * described (what it acts on), checked by the authority, and handed to its
 * handler only when polkit allowed it. A member missing from the table is
 * never answered by us (GDBus replies UnknownMethod), and one the action
 * table lacks is denied by the authority: deny by default twice. */
#pragma once

#include "vml-authority.h"

G_BEGIN_DECLS

/* Fills @target with what the call acts on (which lease or lockspace, whose
 * lease, whether it seizes), from @object and the call's arguments. Runs on
 * the main loop before polkit is asked; may set qdata on @invocation for
 * the handler. */
typedef void (*VmlDescribeFunc) (GObject               *object,
                                 GDBusMethodInvocation *invocation,
                                 VmlAuthTarget         *target);

typedef struct {
  const char        *member;    /* the D-Bus method name, e.g. "AddLockspace" */
  VmlDescribeFunc    describe;  /* NULL: the call acts on nothing in particular */
  VmlAuthorizedFunc  handler;   /* runs once the caller is authorized */
} VmlMethod;

/* Serves @methods (@n_methods of them; static storage) of @iface, a
 * gdbus-codegen skeleton, for @object, through @authority. Handlers are
 * connected for as long as @object lives. */
void vml_dispatch_serve (GObject                *object,
                         GDBusInterfaceSkeleton *iface,
                         VmlAuthority           *authority,
                         const VmlMethod        *methods,
                         gsize                   n_methods);

G_END_DECLS
