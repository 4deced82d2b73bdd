/* vmlease.h: the one header of libvmlease-1, the client library of
 * vmleased's D-Bus API (docs/libvmlease.md). */
#pragma once

#define __VMLEASE_H_INSIDE__

#include "vmlease-enums.h"
#include "vmlease-enum-types.h"
#include "vmlease-error.h"
#include "vmlease-acquire-options.h"
#include "vmlease-transfer-options.h"
#include "vmlease-lockspace.h"
#include "vmlease-lease.h"
#include "vmlease-client.h"
#include "vmlease-migration.h"

#undef __VMLEASE_H_INSIDE__
