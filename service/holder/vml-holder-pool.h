/* vml-holder-pool.h: keeps a spare vmlease-holder registered with sanlock,
 * so that starting a process (about 1 ms) is not on the Acquire path. */
#pragma once

#include "vml-holder.h"

G_BEGIN_DECLS

#define VML_TYPE_HOLDER_POOL (vml_holder_pool_get_type ())
G_DECLARE_FINAL_TYPE (VmlHolderPool, vml_holder_pool, VML, HOLDER_POOL, GObject)

VmlHolderPool *vml_holder_pool_new            (const char *holder_path,
                                               guint       spares);
const char    *vml_holder_pool_get_holder_path (VmlHolderPool *self);

/* Main loop only. A spare holder, or NULL when none is ready (then start
 * one with vml_holder_spawn). Starts a replacement in the background. */
VmlHolder     *vml_holder_pool_take           (VmlHolderPool *self);

/* Main loop only. Takes back a holder that never got its lease (a failed
 * Acquire), as a spare if the pool has room, else stops it. */
void           vml_holder_pool_give           (VmlHolderPool *self,
                                               VmlHolder     *holder);

/* Main loop only: (re)fill the pool, e.g. once sanlock answers. */
void           vml_holder_pool_fill           (VmlHolderPool *self);

G_END_DECLS
