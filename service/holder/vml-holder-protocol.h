/* vml-holder-protocol.h: what vmleased and vmlease-holder say to each other,
 * in plain C (the holder links only libc and libsanlock_client): the words
 * of the line protocol on the holder's stdin and stdout, the holder's exit
 * statuses, the fence kinds with their names, and the limits both sides
 * rely on. vmlease-holder.c describes the protocol as a whole. */
#pragma once

/* The holder's one line on stdout once registered with sanlock, or the
 * word that starts its line saying why it could not ("error <text>"). */
#define VML_HOLDER_SAY_READY  "ready"
#define VML_HOLDER_SAY_ERROR  "error"

/* Lines vmleased writes on the holder's stdin, each ended by '\n':
 *   claim <uuid> <fence name> <fence pid> [<qmp>]
 *                                           hold one VM's lease (pid 0: none);
 *                                           <qmp>: pause the VM with QMP stop
 *                                           on this socket (fence pause only)
 *   lock <name>                             hold one of vmleased's own locks
 *   spare                                   a claimed holder that holds nothing
 *                                           is a spare again
 *   fence <fence name> <fence pid> [<qmp>]  a claimed holder fences this process
 *                                           from now on (Transfer finish) */
#define VML_HOLDER_CMD_CLAIM  "claim"
#define VML_HOLDER_CMD_LOCK   "lock"
#define VML_HOLDER_CMD_SPARE  "spare"
#define VML_HOLDER_CMD_FENCE  "fence"

/* The holder as sanlock's kill path: "vmlease-holder --revoke <pid> <start>". */
#define VML_HOLDER_ARG_REVOKE "--revoke"

/* Longest line on stdin, '\n' included, and longest lease or lock name
 * (sanlock's resource name, SANLK_NAME_LEN). */
#define VML_HOLDER_LINE_MAX   255
#define VML_HOLDER_NAME_MAX   48
/* Longest QMP socket path, '\0' included: a unix socket's sun_path. */
#define VML_HOLDER_QMP_MAX    108

/* How the holder ends. With 3 and 4 a claimed holder ended its lease
 * itself, fencing the VM first, and left a note for vmleased (vml-store.c
 * reads it). Run as the kill path (--revoke), it exits 0, 1 when it could
 * not signal the holder, or 2 for bad arguments. */
typedef enum {
  VML_HOLDER_EXIT_STOPPED      = 0,  /* stopped holding nothing, never claimed, or
                                      * a spare or lock whose stdin ended */
  VML_HOLDER_EXIT_START_FAILED = 1,  /* could not register with sanlock, set up its
                                      * connection, or say it was ready */
  VML_HOLDER_EXIT_USAGE        = 2,  /* bad arguments, or a bad line on stdin */
  VML_HOLDER_EXIT_DAEMON_GONE  = 3,  /* the sanlock daemon closed its connection */
  VML_HOLDER_EXIT_REVOKED      = 4,  /* sanlock took the lease away */
} VmlHolderExit;

/* What stops a VM process whose lease is lost: the Fence property and
 * "fence" option of the D-Bus API, the claim line, and the state store
 * all use these names, in this order. */
typedef enum {
  VML_FENCE_NONE,
  VML_FENCE_KILL,
  VML_FENCE_PAUSE,
} VmlFence;

#define VML_FENCE_N 3

/* "none", "kill", "pause"; "" for a value out of range. */
const char *vml_fence_name      (VmlFence fence);
/* 1 and @fence set when @name is one of them, else 0. */
int         vml_fence_from_name (const char *name, VmlFence *fence);
