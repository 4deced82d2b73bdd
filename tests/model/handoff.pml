/* tests/model/handoff.pml: a Promela model of vmleased's migration hand-off
 * (Transfer begin, prepare, perform, finish, confirm, cancel), of the hosts
 * taking part and of a third host, with sanlock abstracted, checked with
 * spin by tests/model/check-model (docs/model.md explains it).
 *
 * Hosts: S (1) the source, D (2) the destination, T (3) a third host.
 * Every transition that stands for code names the function of service/
 * that does it, as "@fn <name>"; tests/model/check-model fails when one of
 * those names is no longer defined in service/, so the model cannot drift
 * away from the code silently.
 *
 * Variants (spin -D...):
 *   BAD_PERFORM    perform lets go without checking that the destination
 *                  holds the lease shared (the check of work_perform
 *                  removed): spin must find a moment with no holder.
 *   MARKER_AT_PERFORM  a post-copy perform lets the marker go at once (as
 *                  the service once did): a third host may then share the
 *                  lease and the destination's background conversion fails
 *                  with no fault at all (invariant 5).
 *   NO_WRITE_AHEAD perform records nothing before its release (as the
 *                  service once did): a crash of vmleased after the release
 *                  loses the hand-off, finding 1 of docs/model.md.
 *   FAULTS=n       how many faults (vmleased crash and restart, holder
 *                  death, sanlock daemon death) one run may suffer (2).
 *   T_ACTIONS=n    how many operations the third host tries (2).
 */

#ifndef FAULTS
#define FAULTS 2
#endif
#ifndef T_ACTIONS
#define T_ACTIONS 2
#endif

#define S 1
#define D 2
#define T 3
#define NH 4            /* host ids 1..3; slot 0 unused */

/* sanlock's modes of one host on the lease */
#define M_NONE 0
#define M_SH   1
#define M_EX   2

mtype = { FREE, HELD, HELD_SH, MIG_OUT, MIG_IN, CONVERTING, LOST };   /* LeaseState */
mtype = { R_NONE, R_SRC, R_DST };                          /* VmlTransferRole */
mtype = { ST_NONE, ST_BEGIN, ST_PREPARE, ST_PERFORMING, ST_PERFORM };   /* transfer_step */
mtype = { OFF, RUN, PAUSED };                              /* the VM on a host */

/* ---- sanlock and the shared storage --------------------------------- */
byte mode[NH];      /* each host's mode block on the lease; cleared once the
                       host's host lease expired (sanlock ignores it then) */
byte lver = 1;      /* the lease version: every paxos acquire raises it */
byte marker;        /* host whose holder holds x-<uuid>, 0 none */
bool up[NH];        /* the host's sanlock daemon runs */
bool alive[NH];     /* its host lease is valid (others see it live) */
byte gen[NH];       /* its host generation */
bool holder[NH];    /* the lease's vmlease-holder on that host exists */

/* ---- vmleased on each host: the lease record (saved at every step) --- */
mtype st[NH];
mtype role[NH];
mtype step[NH];
byte  tlver;        /* S: transfer_lver, the version seen at perform */
bool  committed;    /* S: committed_transfer (post-copy perform done) */
bool  mwatch;       /* S: after a post-copy perform, the source's holder
                       keeps the marker (vml-lease-transfer-marker.c) */

/* ---- the VMs, as the virt manager has them --------------------------- */
mtype vm[NH];

/* ---- tokens the virt manager carries between the hosts --------------- */
byte t1_gen;        /* T1: the source's generation at begin */
byte t2_gen;        /* T2: the destination's generation at prepare */
bool t3_post;       /* T3: perform was post-copy */

/* ---- bookkeeping for the invariants ---------------------------------- */
bool gap_ok;        /* a give-up or fault after which a gap is by design */
bool pc_done;       /* the source let go in a post-copy perform */
byte faults = FAULTS;

/* ---- invariants ------------------------------------------------------- */
#define holds(h)      (mode[h] != M_NONE)
#define nobody_holds  (!holds(S) && !holds(D) && !holds(T))
#define in_handoff    (role[S] == R_SRC || role[D] == R_DST)
#define two_ex        ((mode[S] == M_EX && (mode[D] == M_EX || mode[T] == M_EX)) || \
                       (mode[D] == M_EX && mode[T] == M_EX))
#define unheld_run(h) (vm[h] == RUN && !holds(h))

active proctype invariants()
{
  /* spin runs this process at every reachable state */
  assert(!two_ex);                                            /* 1 */
  assert(!unheld_run(S) && !unheld_run(D) && !unheld_run(T)); /* 2 */
  assert(!(in_handoff && !gap_ok && nobody_holds));           /* 3 */
  assert(!(pc_done && holds(S)))                              /* 4 */
}

/* ---- sanlock, abstracted ---------------------------------------------- */
#define others_hold(h)   ((h != S && holds(S)) || (h != D && holds(D)) || (h != T && holds(T)))
#define others_ex(h)     ((h != S && mode[S] == M_EX) || (h != D && mode[D] == M_EX) || \
                          (h != T && mode[T] == M_EX))

/* @fn vml_sanlock_acquire: exclusive, refused while anyone else holds it
 * (or, with a version, when the lease's version is another) */
inline sl_acquire_ex(h, want_lver, ok)
{
  if
  :: up[h] && holder[h] && !others_hold(h) && (want_lver == 0 || want_lver == lver) ->
       mode[h] = M_EX; lver++; ok = true
  :: else -> ok = false
  fi
}

/* @fn vml_sanlock_acquire: shared, refused while another holds it exclusively */
inline sl_acquire_sh(h, ok)
{
  if
  :: up[h] && holder[h] && !others_ex(h) -> mode[h] = M_SH; lver++; ok = true
  :: else -> ok = false
  fi
}

/* @fn vml_sanlock_convert: shared → exclusive needs nobody else holding it */
inline sl_convert(h, to_shared, ok)
{
  if
  :: up[h] && holder[h] && to_shared && mode[h] == M_EX -> mode[h] = M_SH; ok = true
  :: up[h] && holder[h] && !to_shared && mode[h] == M_SH && !others_hold(h) ->
       mode[h] = M_EX; lver++; ok = true
  :: else -> ok = false
  fi
}

/* @fn vml_sanlock_release */
inline sl_release(h, ok)
{
  if
  :: up[h] && holder[h] -> mode[h] = M_NONE; ok = true
  :: else -> ok = false
  fi
}

/* ---- the virt manager's side of the VM -------------------------------- */
/* The fence is a kill (fence "kill"): a guest fenced is gone, and
 * resuming it does nothing. */
inline fence(h)   { atomic { if :: vm[h] != OFF -> vm[h] = OFF :: else -> skip fi } }
inline resume(h)  { atomic { if :: vm[h] == PAUSED -> vm[h] = RUN :: else -> skip fi } }
inline pause(h)   { atomic { if :: vm[h] == RUN -> vm[h] = PAUSED :: else -> skip fi } }

/* ---- vmleased's reactions --------------------------------------------- */

/* @fn lease_transfer_clear */
inline transfer_clear(h) { role[h] = R_NONE; step[h] = ST_NONE }

/* @fn transfer_let_go: this host's part is over, it holds nothing: its holder ends */
inline let_go(h)
{
  if :: marker == h && !(h == S && mwatch) -> marker = 0 :: else -> skip fi;
  mode[h] = M_NONE; holder[h] = false;
  transfer_clear(h); st[h] = FREE
}

/* @fn on_holder_exited: a holder that ends unasked makes the lease lost at
 * once and vmleased applies the fence (@fn lease_report_holder_end,
 * @fn apply_fence) — except on the source after perform, which holds
 * nothing and may take the lease back with a new holder. */
inline holder_exited(h)
{
  if
  :: role[h] == R_SRC && step[h] == ST_PERFORM -> skip
  :: else ->
       if
       :: st[h] == HELD || st[h] == HELD_SH || st[h] == MIG_OUT || st[h] == MIG_IN ||
          st[h] == CONVERTING ->
            transfer_clear(h); st[h] = LOST; fence(h)
       :: else -> skip
       fi
  fi
}

/* @fn start_restore, @fn restore_thread, @fn restored_in_transfer,
 * @fn on_restored (with @fn manager_restore_leases first, which trusts what
 * sanlock says the holder holds): vmleased restarted; the record says
 * where it was, the holder what it holds. */
inline restore(h)
{
  held = holder[h] && holds(h);
  if  /* @fn restored_performing: perform's write-ahead record */
  :: role[h] == R_SRC && step[h] == ST_PERFORMING ->
       if
       :: held -> step[h] = ST_BEGIN      /* not released: perform was not done */
       :: else -> step[h] = ST_PERFORM    /* released: done, as pre-copy (never answered) */
       fi
  :: else -> skip
  fi;
  idle_expected = (role[h] == R_SRC && step[h] == ST_PERFORM);
  orphan = (st[h] == MIG_IN && role[h] == R_NONE);
  if  /* @fn vml_lease_restore_held_by: sanlock's word first */
  :: held && (st[h] == FREE || st[h] == LOST) ->
       st[h] = (mode[h] == M_SH -> HELD_SH : HELD)
  :: else -> skip
  fi;
  if
  :: st[h] == FREE || st[h] == LOST -> skip
  :: st[h] == CONVERTING ->
       /* @fn restored_converting: the conversion goes on if the holder
        * still holds the share, is over if it holds it exclusively, and
        * the guest is fenced if it holds nothing */
       if
       :: held && mode[h] == M_SH -> skip
       :: held && mode[h] == M_EX ->
            st[h] = HELD; if :: marker == h -> marker = 0 :: else -> skip fi
       :: else ->
            if :: marker == h -> marker = 0 :: else -> skip fi;
            if :: holder[h] -> mode[h] = M_NONE; holder[h] = false :: else -> skip fi;
            st[h] = LOST; fence(h)
       fi
  :: else ->
       if
       :: holder[h] && !held && !idle_expected && !orphan && marker == h ->
            /* @fn vml_sanlock_holder_holds_any: the holder holds something
             * (the marker): taken as another lease's holder, left running */
            transfer_clear(h); st[h] = FREE
       :: else ->
            if
            :: holder[h] && ((!held && !idle_expected) || orphan) ->
                 /* @fn vml_holder_stop: of no use, or a prepare never answered */
                 if :: marker == h -> marker = 0 :: else -> skip fi;
                 mode[h] = M_NONE; holder[h] = false
            :: else -> skip
            fi;
            if
            :: st[h] == MIG_OUT || st[h] == MIG_IN ->
                 if
                 :: orphan -> transfer_clear(h); st[h] = FREE
                 :: !orphan && (idle_expected || (held && mode[h] == M_SH)) -> skip
                 :: else -> transfer_clear(h); st[h] = LOST; fence(h)
                 fi
            :: else ->
                 if
                 :: held -> st[h] = (mode[h] == M_SH -> HELD_SH : HELD)
                 :: else -> st[h] = LOST; fence(h)
                 fi
            fi
       fi
  fi
}

/* A crash of vmleased at this point of a step, and its restart: the step's
 * caller gets an error, the holder keeps what it holds. */
inline maybe_crash(h)
{
  if
  :: atomic { faults > 0 -> faults--; restore(h); crashed = true }
  :: true -> skip
  fi
}

/* ---- the Transfer steps ----------------------------------------------- */

/* @fn check_begin, @fn work_begin, @fn done_begin */
inline begin_step(ok)
{
  ok = false; crashed = false;
  atomic {
    if
    :: st[S] == HELD && role[S] == R_NONE && up[S] && holder[S] && (marker == 0 || marker == S) ->
         marker = S; ok = true                           /* @fn lease_sanlock_marker_take */
    :: else -> skip
    fi
  };
  if
  :: ok ->
       maybe_crash(S);
       if
       :: !crashed ->
            atomic {
              t1_gen = gen[S];                           /* @fn issue_begun, @fn lease_sanlock_note_begin */
              sl_convert(S, true, ok);                   /* @fn lease_sanlock_convert */
              if :: !ok -> if :: marker == S -> marker = 0 :: else -> skip fi   /* @fn lease_sanlock_marker_drop */
                 :: else -> skip fi
            };
            if
            :: ok ->
                 maybe_crash(S);
                 if
                 :: atomic { !crashed && holder[S] ->
                      role[S] = R_SRC; step[S] = ST_BEGIN; st[S] = MIG_OUT; gap_ok = false }
                 :: else -> ok = false
                 fi
            :: else -> skip
            fi
       :: else -> ok = false
       fi
  :: else -> skip
  fi
}

/* @fn check_prepare, @fn work_prepare, @fn done_prepare */
inline prepare_step(ok)
{
  ok = false; crashed = false;
  atomic {
    if
    :: role[D] == R_NONE && (st[D] == FREE || st[D] == LOST) && up[D] ->
         st[D] = MIG_IN; ok = true                       /* @fn start_step records it */
    :: else -> skip
    fi
  };
  if
  :: ok ->
       atomic {
         /* @fn lease_sanlock_host_generation, @fn lease_sanlock_read_owners,
          * @fn lease_owners_hold_shared, @fn lease_sanlock_note_vouches */
         if
         :: alive[S] && gen[S] == t1_gen && mode[S] == M_SH && !others_ex(D) &&
            !holds(T) && marker == S ->
              holder[D] = true;                          /* @fn vml_holder_spawn, @fn vml_holder_claim */
              sl_acquire_sh(D, ok);                      /* @fn lease_sanlock_acquire */
              if :: ok -> t2_gen = gen[D] :: else -> skip fi
         :: else -> ok = false
         fi;
         if  /* @fn undo_prepare */
         :: !ok -> holder[D] = false; st[D] = FREE
         :: else -> skip
         fi
       };
       if
       :: ok ->
            maybe_crash(D);
            if
            :: atomic { !crashed && holder[D] -> role[D] = R_DST; step[D] = ST_PREPARE; st[D] = MIG_IN }
            :: else -> ok = false       /* @fn lost_meanwhile, or crashed */
            fi
       :: else -> skip
       fi
  :: else -> skip
  fi
}

/* @fn check_perform, @fn work_perform, @fn done_perform. Between the
 * checks and the release, the step "performing" is recorded with the lease
 * version the checks read (@fn perform_write_ahead), so that a crash after
 * the release finds, at restart, a hand-off it can still end. The source
 * commits to a post-copy perform only once it answers (its token is what
 * lets the destination finish and the guest start there). */
inline perform_step(post, ok)
{
  ok = false; crashed = false;
#ifndef NO_WRITE_AHEAD
  /* "performing" is recorded first, on the main loop, with the lease
   * version T2 names (start_step); the worker checks storage next and
   * records again if its version differs */
  atomic {
    if
    :: role[S] == R_SRC && step[S] == ST_BEGIN && holder[S] -> step[S] = ST_PERFORMING   /* @fn perform_write_ahead */
    :: else -> skip
    fi
  };
  maybe_crash(S);
#endif
  if
  :: !crashed ->
       atomic {
#ifdef BAD_PERFORM
         ok = (role[S] == R_SRC && (step[S] == ST_BEGIN || step[S] == ST_PERFORMING));
#else
         /* @fn destination_is_live, @fn destination_holds_shared (@fn vml_mode_block_read) */
         ok = (role[S] == R_SRC && (step[S] == ST_BEGIN || step[S] == ST_PERFORMING) &&
               alive[D] && gen[D] == t2_gen && mode[D] == M_SH);
#endif
         if
         :: ok -> tlver = lver
         :: !ok && step[S] == ST_PERFORMING -> step[S] = ST_BEGIN   /* @fn perform_undo_write_ahead */
         :: else -> skip
         fi
       }
  :: else -> skip
  fi;
  if
  :: ok ->
       if
       :: !crashed && holder[S] ->
            atomic {
              sl_release(S, ok);                         /* @fn lease_sanlock_release */
              if
              :: !ok && step[S] == ST_PERFORMING -> step[S] = ST_BEGIN   /* @fn perform_undo_write_ahead */
              :: else -> skip
              fi
            };
            if
            :: ok ->
                 maybe_crash(S);   /* finding 1 of docs/model.md without the write-ahead */
                 if
                 :: atomic { !crashed && holder[S] ->
                      {
                        step[S] = ST_PERFORM; t3_post = post;
                        if
                        :: post ->
                             pc_done = true; committed = true;
#ifdef MARKER_AT_PERFORM
                             if :: marker == S -> marker = 0 :: else -> skip fi;   /* the marker dropped at perform */
#else
                             mwatch = (marker == S);     /* @fn transfer_marker_keep */
#endif
                             let_go(S)                   /* @fn transfer_let_go */
                        :: else -> skip
                        fi
                      } }
                 :: else -> ok = false
                 fi
            :: else -> skip
            fi
       :: else -> ok = false
       fi
  :: else -> skip
  fi
}

/* @fn check_finish, @fn work_finish, @fn done_finish */
inline finish_step(success, ok)
{
  ok = false; crashed = false;
  if
  :: role[D] == R_DST && holder[D] ->
       if
       :: !success ->
            atomic {
              sl_release(D, ok);                         /* @fn lease_sanlock_release */
              if :: ok -> gap_ok = true :: else -> skip fi
            }
       :: success ->
            /* @fn finish_may_return: the source's share gone on storage
             * (@fn vml_mode_block_read of the source's dblock), the
             * destination's share held under the generation of its T2
             * (@fn lease_sanlock_host_generation): the guest may resume */
            atomic {
              ok = (mode[S] == M_NONE && mode[D] == M_SH && alive[D] && gen[D] == t2_gen)
            }
       fi;
       if
       :: ok ->
            maybe_crash(D);
            if
            :: atomic { !crashed && (holder[D] || !success) ->
                 {
                   if
                   :: success -> transfer_clear(D); st[D] = CONVERTING   /* @fn start_conversion */
                   :: else -> let_go(D)
                   fi
                 } }
            :: else -> ok = false
            fi
       :: else -> skip
       fi
  :: else -> skip
  fi
}

/* @fn take_back (@fn lease_is_free_by): the source takes the lease back
 * exclusively with the version it saw at perform */
inline take_back(ok)
{
  atomic {
    if
    :: nobody_holds && up[S] ->
         holder[S] = true;                               /* @fn vml_holder_spawn when it died */
         sl_acquire_ex(S, tlver, ok);                    /* @fn lease_sanlock_acquire */
         if
         :: ok -> if :: marker == S -> marker = 0 :: else -> skip fi
         :: else -> taken = true; if :: marker == S -> marker = 0 :: else -> skip fi
         fi
    :: else -> ok = false
    fi
  }
}

/* @fn convert_back: cancel before perform, once the destination let go */
inline convert_back(ok)
{
  atomic {
    sl_convert(S, false, ok);                            /* @fn lease_sanlock_convert */
    if :: ok && marker == S -> marker = 0 :: else -> skip fi
  }
}

/* @fn transfer_check_cancel, @fn transfer_work_cancel,
 * @fn transfer_done_cancel (source), and @fn transfer_check_confirm,
 * @fn transfer_work_confirm, @fn transfer_done_confirm with success false:
 * both undo the source's part the same way */
inline source_undo(ok)
{
  ok = false; crashed = false; taken = false;
  if
  :: role[S] == R_SRC && !committed ->
       if
       :: step[S] == ST_PERFORM -> take_back(ok)
       :: else -> if :: holder[S] -> convert_back(ok) :: else -> skip fi
       fi;
       if
       :: ok ->
            maybe_crash(S);
            if
            :: atomic { !crashed ->
                 transfer_clear(S);                           /* @fn transfer_source_holds_again */
                 if
                 :: holder[S] -> st[S] = HELD
                 :: else -> st[S] = LOST; fence(S)            /* @fn report_late_exit */
                 fi }
            :: else -> ok = false
            fi
       :: !ok && taken -> atomic { let_go(S) }               /* @fn transfer_source_gives_up */
       :: else -> skip
       fi
  :: else -> skip
  fi
}

/* @fn transfer_check_cancel, @fn transfer_work_cancel,
 * @fn transfer_done_cancel on the destination */
inline dest_cancel(ok)
{
  ok = false; crashed = false;
  if
  :: role[D] == R_DST && holder[D] ->
       atomic {
         sl_release(D, ok);                              /* @fn lease_sanlock_release */
         if :: ok && step[S] == ST_PERFORM -> gap_ok = true :: else -> skip fi
       };
       if
       :: ok ->
            maybe_crash(D);
            if
            :: atomic { !crashed -> let_go(D) }
            :: else -> ok = false
            fi
       :: else -> skip
       fi
  :: else -> skip
  fi
}

/* @fn transfer_work_confirm, @fn transfer_done_confirm with success: the
 * destination holds it exclusively, the source's part ends */
inline confirm_success(ok)
{
  ok = false; crashed = false;
  atomic {
    if
    :: role[S] == R_SRC && step[S] == ST_PERFORM && !committed && mode[D] == M_EX ->
         ok = true; if :: marker == S -> marker = 0 :: else -> skip fi
    :: else -> skip
    fi
  };
  if
  :: ok ->
       maybe_crash(S);
       if
       :: atomic { !crashed -> let_go(S) }
       :: else -> ok = false
       fi
  :: else -> skip
  fi
}

/* ---- the virt manager migrating the guest from S to D ------------------ */
proctype migration()
{
  bool ok, post, success, crashed, taken, held, idle_expected, orphan;

  begin_step(ok);
  maybe_crash(S);                      /* between steps, too */
  if :: !ok -> goto out :: else -> skip fi;
  vm[D] = PAUSED;                      /* the incoming guest */
  prepare_step(ok);
  maybe_crash(D);
  if
  :: !ok -> vm[D] = OFF; goto giveup
  :: ok -> skip
  :: ok -> goto giveup                  /* the migration fails before switch-over */
  :: ok -> dest_cancel(ok)             /* the destination gives up on its own, the source goes on */
  fi;
  /* switch-over: the guest stops on S */
  pause(S);
  if :: post = false :: post = true fi;
  perform_step(post, ok);
  maybe_crash(S);
  if
  :: !ok -> goto giveup
  :: else -> skip
  fi;
  if :: success = true :: success = false fi;
  finish_step(success, ok);
  maybe_crash(D);
  if
  :: ok && success -> resume(D)
  :: !ok && success && mode[D] == M_EX && holder[D] ->
       /* finish's answer lost (D's vmleased died after its record): the
        * manager sees the lease held there, resumes the guest itself and
        * confirms with perform's token (storage-checked like T4) */
       resume(D); ok = true
  :: else -> fence(D)                  /* the guest does not run there */
  fi;
  if
  :: ok && success ->
       do                              /* confirm until the destination converted */
       :: confirm_success(ok); if :: ok -> break :: else -> skip fi
       :: role[S] != R_SRC -> break
       :: true -> break
       od;
       fence(S)                        /* the source's guest is gone */
  :: else ->
       /* confirm with success false (pre-copy) takes the lease back */
       if
       :: !post -> source_undo(ok); if :: ok -> resume(S) :: else -> fence(S) fi
       :: post -> fence(S)
       fi
  fi;
  goto out;
giveup:
  /* cancel both sides: the destination first, then the source */
  fence(D);
  dest_cancel(ok);
  source_undo(ok);
  if
  :: ok -> resume(S)
  :: !ok && role[S] == R_SRC && step[S] == ST_BEGIN -> source_undo(ok); if :: ok -> resume(S) :: else -> skip fi
  :: else -> skip
  fi;
  if :: vm[S] == PAUSED -> fence(S) :: else -> skip fi;
out:
  skip
}

/* The destination's background conversion after finish returned
 * (@fn start_conversion_op, @fn conversion_thread, @fn on_converted): it
 * converts the share to exclusive and looks again while sanlock refuses,
 * taking the marker if nobody holds it (the source's holder died); when
 * it gives up, it fences the guest first and then lets go of the share
 * (@fn conversion_failed: Lost "conversion-failed"). A crash of vmleased between the conversion and the
 * record is followed by the restart's restore, which finds the holder
 * holding it exclusively. */
active proctype conversion()
{
  bool ok, crashed, held, idle_expected, orphan;
end:
  do
  :: st[D] == CONVERTING && holder[D] ->
       crashed = false;
       atomic {
         sl_convert(D, false, ok);                       /* @fn lease_sanlock_convert */
         if  /* refused: @fn lease_sanlock_marker_take when nobody holds it */
         :: !ok && marker == 0 && up[D] -> marker = D
         :: else -> skip
         fi
       };
       if
       :: ok ->
            maybe_crash(D);
            atomic {
              if
              :: !crashed && st[D] == CONVERTING && holder[D] ->
                   st[D] = HELD;
                   if :: marker == D -> marker = 0 :: else -> skip fi   /* @fn lease_sanlock_marker_drop */
              :: else -> skip
              fi
            }
       :: !ok -> skip                                    /* look again */
       :: !ok ->
            atomic {                                     /* give up: fence first */
              if
              :: st[D] == CONVERTING && holder[D] ->
                   /* invariant 5: only a fault can make it fail (someone
                    * else shares the lease only when the marker went) */
                   assert(faults < FAULTS);
                   fence(D);
                   if :: marker == D -> marker = 0 :: else -> skip fi;
                   mode[D] = M_NONE; holder[D] = false; st[D] = LOST
              :: else -> skip
              fi
            }
       fi
  od
}

/* After a post-copy perform the source's holder keeps the marker until
 * the destination holds the lease exclusively or not at all
 * (@fn look_thread, @fn transfer_marker_let_go). */
active proctype marker_watch()
{
end:
  do
  :: atomic { mwatch && (mode[D] == M_EX || mode[D] == M_NONE) ->
       mwatch = false; if :: marker == S -> marker = 0 :: else -> skip fi }
  od
}

/* A holder or sanlock daemon of a host in the hand-off failed: a moment
 * without a holder may follow (the checks and the release of work_perform
 * cannot be one atomic act across hosts), and is excused from then on. */
inline fault_on(h) { if :: in_handoff && (h == S || h == D) -> gap_ok = true :: else -> skip fi }

/* @fn lease_report_holder_end with "revoked": a seize reached the holder
 * (@fn vml_sanlock_request, sanlock runs the holder's kill path): it fences
 * the VM before it exits, then sanlock frees the lease. */
inline holder_revoked(h)
{
  fault_on(h);    /* an operator's seize ends the hand-off: no continuity owed */
  fence(h);
  if :: marker == h -> marker = 0 :: else -> skip fi;
  mode[h] = M_NONE; holder[h] = false;
  holder_exited(h)
}

/* ---- the third host: acquires, shared acquires and seizes -------------- */
proctype third()
{
  byte n = T_ACTIONS;
  bool ok;

  do
  :: n > 0 && (st[T] == FREE || st[T] == LOST) ->          /* @fn start_acquire, @fn acquire_thread: exclusive */
       n--;
       atomic {
         holder[T] = true; sl_acquire_ex(T, 0, ok);
         if :: ok -> st[T] = HELD; vm[T] = RUN :: else -> holder[T] = false fi
       }
  :: n > 0 && (st[T] == FREE || st[T] == LOST) ->          /* shared: @fn lease_sanlock_marked_elsewhere before and after */
       n--;
       atomic {
         ok = (marker == 0 || marker == T || !alive[marker]);
         if
         :: ok -> holder[T] = true; sl_acquire_sh(T, ok);
                  if :: !ok -> holder[T] = false :: else -> skip fi
         :: else -> skip
         fi
       };
       atomic {
         if
         :: ok && marker != 0 && marker != T && alive[marker] ->
              mode[T] = M_NONE; holder[T] = false          /* backs off */
         :: ok && holds(T) && holder[T] -> st[T] = HELD_SH; vm[T] = RUN
         :: else -> skip
         fi
       }
  :: n > 0 && (st[T] == FREE || st[T] == LOST) ->          /* seize: @fn request_release */
       n--;
       atomic {
         if
         :: mode[S] == M_EX && up[S] -> holder_revoked(S)
         :: mode[D] == M_EX && up[D] -> holder_revoked(D)
         :: else -> skip
         fi;
         holder[T] = true; sl_acquire_ex(T, 0, ok);
         if :: ok -> st[T] = HELD; vm[T] = RUN :: else -> holder[T] = false fi
       }
  :: st[T] == HELD || st[T] == HELD_SH ->   /* @fn start_release */
       atomic { vm[T] = OFF; mode[T] = M_NONE; holder[T] = false; st[T] = FREE }
  :: n == 0 -> break
  od
}

/* ---- faults ------------------------------------------------------------ */


inline holder_dies(h)
{
  faults--; fault_on(h);
  if :: marker == h -> marker = 0 :: else -> skip fi;
  mode[h] = M_NONE; holder[h] = false;
  holder_exited(h)
}

/* The daemon dies: every holder there reads EOF and fences its VM at once
 * (the holder's own fence, before sanlock's timeout lets another host in);
 * its holds stay on storage until its host lease expires. */
inline daemon_dies(h)
{
  faults--; fault_on(h); up[h] = false;
  if :: holder[h] -> fence(h); holder[h] = false; holder_exited(h) :: else -> skip fi
}

/* The host lease expired (8 x io_timeout + 60 s later): its holds no
 * longer count. */
inline host_expires(h)
{
  alive[h] = false; mode[h] = M_NONE;
  if :: marker == h -> marker = 0 :: else -> skip fi
}

/* The daemon started again (tools/vmlease-sandbox restart --sanlock-only):
 * a new generation, the old one's holds void; vmleased joins again. */
inline daemon_restarts(h)
{
  up[h] = true; alive[h] = true; gen[h]++; mode[h] = M_NONE;
  if :: marker == h -> marker = 0 :: else -> skip fi
}

proctype faults_p()
{
  bool held, idle_expected, orphan;

end:
  do
  :: atomic { faults > 0 && holder[S] -> holder_dies(S) }
  :: atomic { faults > 0 && holder[D] -> holder_dies(D) }
  :: atomic { faults > 0 && holder[T] -> holder_dies(T) }
  :: atomic { faults > 0 && mwatch -> faults--; mwatch = false;
              if :: marker == S -> marker = 0 :: else -> skip fi }
  :: atomic { faults > 0 && up[S] -> daemon_dies(S) }
  :: atomic { faults > 0 && up[D] -> daemon_dies(D) }
  :: atomic { faults > 0 && up[T] -> daemon_dies(T) }
  :: atomic { !up[S] && alive[S] -> host_expires(S) }
  :: atomic { !up[D] && alive[D] -> host_expires(D) }
  :: atomic { !up[T] && alive[T] -> host_expires(T) }
  :: atomic { !up[S] -> daemon_restarts(S) }
  :: atomic { !up[D] -> daemon_restarts(D) }
  :: atomic { !up[T] -> daemon_restarts(T) }
  od
}

init
{
  atomic {
    byte h = 1;
    do
    :: h < NH -> up[h] = true; alive[h] = true; gen[h] = 1; st[h] = FREE;
                 role[h] = R_NONE; step[h] = ST_NONE; vm[h] = OFF; h++
    :: else -> break
    od;
    /* the guest runs on S, which holds its lease exclusively */
    mode[S] = M_EX; holder[S] = true; st[S] = HELD; vm[S] = RUN;
    run migration(); run third(); run faults_p()
  }
}
