/* vmlease-lockspace-private.h: how the client makes VmleaseLockspace
 * snapshots from the manager's Lockspaces property. */
#pragma once

#include "vmlease-lockspace.h"

VmleaseLockspace *_vmlease_lockspace_new_from_variant (GVariant *entry);
