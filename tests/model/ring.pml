/*
 * tests/model/ring.pml - a Promela model of shmpipe's ring protocol for
 * the Spin model checker. tests/torture/model_check.sh runs it; the
 * README next to this file says how to run it by hand and what it proves.
 *
 * MODELLED, one shared-memory access per Promela step, as in src/pipe.c
 * and src/pipelock.c. Each step names the function and the statement it
 * stands for ("pipe.c wait_change(): fetch_add(waiting)"), line numbers
 * being too short-lived to cite.
 *   - Writers (shmpipe_write() -> write_unit()): side_lock(); wait_for_space()
 *     (tail, the head last seen, then load_positions() and wait_change() on
 *     space_seq); put_record() (the unit's bytes); publish() (one store of
 *     tail, then wake_readers()); side_unlock(). Open and close around it:
 *     handle_attach() (attach(), writers_ever, a wake of data_seq) and
 *     detach() (owner freed, a wake of data_seq) - or, for writer 0, no
 *     close at all: it stays attached, idle, so that a wake-up lost on the
 *     last unit is not repaired by the close.
 *   - The reader (shmpipe_read(), or with -DPEEK shmpipe_peek() and
 *     shmpipe_release()): side_lock(); wait_for_data() (head, the tail last
 *     seen, then load_positions(), at_eof() with its reap and writer count
 *     and its second look at the positions, wait_change() on data_seq);
 *     next_unit() (the record header) and the copy of the payload;
 *     consume() (one store of head, then wake_writers()); side_unlock();
 *     until end of file.
 *   - wait_change(): the seq word loaded, the side's waiting counter
 *     incremented, the slot's waiting flag stored, the position
 *     re-checked, FUTEX_WAIT(seq, loaded value), the flag cleared, the
 *     counter decremented.
 *     wake(): the counter loaded; if non-zero, the seq word incremented
 *     and FUTEX_WAKE(all).
 *   - Futexes: FUTEX_WAIT(addr, val) compares and sleeps in one atomic
 *     step; FUTEX_WAKE wakes every sleeper on addr (the lock words: one).
 *     A seq word is kept as the set of processes that loaded it since its
 *     last increment (fresh[]): comparing with a loaded value is then
 *     exact (32-bit words do not wrap in a call) and the state space does
 *     not remember how often it was bumped.
 *   - The side locks, shmpipe__lock() / shmpipe__unlock(): one attempt
 *     of the spin phase, then the slow loop: the waiters bit, FUTEX_WAIT on
 *     the word, and the takeover of a word whose holder is gone (slot
 *     freed, or attached again with another generation, or process dead).
 *   - Attachment slots: attach(), detach(), shmpipe__pipe_reap() (which
 *     uncounts the sleep of a dead process flagged waiting),
 *     shmpipe__pipe_count(), generations in the lock words.
 *   - Crashes: a Killer may SIGKILL any one process (MAXCRASH of them in
 *     all) between any two of its steps, asleep or not; shared memory
 *     stays as it was. A killed reader is followed by a new reader process
 *     that must take the dead one's lock over and reap its slot (the only
 *     free one); a killed writer is not replaced: the other writer takes
 *     its lock over, and the reader must see end of file once it is gone.
 *   - Time slices. A sleeper wakes when woken, or when its slice ends, and
 *     slices end here only where the code relies on them (SLICE_* below):
 *     a dead writer to notice and end of file to report (readers, 50 ms),
 *     the holder of a lock gone (20 ms), and a wake-up that a killed
 *     process did not live to make. Everywhere else a sleeper must be
 *     woken: a lost wake-up is a sleeper that sleeps for ever.
 *
 * ABSTRACTED AWAY:
 *   - Memory order: Spin runs steps sequentially consistent. The code gets
 *     that where the protocol needs it from release/acquire on the
 *     positions and the seq_cst fence in wake() against the seq_cst
 *     increment in wait_change() (the Dekker pair). The orders themselves
 *     are TSan's and the stress tests' business; the protocol is this one's.
 *   - Data: a unit is one message record filling one ring cell, its bytes
 *     two: byte0 stands for the header [len][~len] that put_record() writes
 *     first, byte1 for the payload. Capacity is RING units; positions count
 *     units and never wrap. Streams (a read takes what is there),
 *     write_pieces() and reserve()/commit() use the same lock, wait and
 *     publish(); the exclusive mode holds the same lock longer: none is
 *     modelled separately. Record validation (-EBADMSG) and truncation: the
 *     memory is honest here.
 *   - Call timeouts (every call blocks), signals and spurious wake-ups
 *     (they only add re-checks), the spin phase of wait_change() (it only
 *     re-reads the position), stats counters, holder_pid, notify.c.
 *   - Pids are never reused, so start_time is left out and liveness is
 *     exact (alive[]), as the thorough check makes it. holder_alive() is
 *     one step: its loads can only turn "alive" into "gone", which the
 *     takeover's compare-and-swap then settles. shmpipe__pipe_reap() is one
 *     step: it writes only dead processes' slots, which nobody else
 *     writes, and its decrements of the counters commute with the live
 *     processes' increments. Its 50 ms rate limit in shmpipe__pipe_eof()
 *     is left out: the model reaps at every look. attach() is one step
 *     (CAS of a free owner, flag cleared, generation bumped); slots being
 *     alike, each process is given its own (writer w slot w, the readers
 *     slot NW) rather than the first free one.
 *
 * CHECKED (spin -a; cc pan.c; ./pan): assertions, invalid end states.
 *   - Torn reads: every unit the reader reads is, byte for byte, the unit
 *     committed at that position (ghost logged[], set with the tail store):
 *     nothing half written, nothing from an older lap of the ring.
 *   - Order and delivery: per writer, units leave the pipe (head store)
 *     exactly once and in order; shmpipe_read() returns them in order, at
 *     most once; with -DPEEK, shmpipe_peek() returns them in order, at
 *     least once, and twice only after a reader was killed before release.
 *   - Nothing lost: at end of file every unit committed by a writer that
 *     was gone before the writer count began has been consumed.
 *   - Lost wake-ups: when nothing can move any more (Spin's timeout), the
 *     Monitor asserts that no process sleeps whose condition holds: a
 *     reader on data_seq with data there (or end of file due), a writer on
 *     space_seq with room, a locker on a free lock word.
 *   - Locks: a locker goes to sleep only on a word whose holder is there
 *     (a dead holder's lock is taken over, not waited for).
 *
 * KNOBS (spin -DNAME=VALUE): NW writers (1 or 2), NU units per writer,
 * RING cells, MAXCRASH (0 or 1), PEEK; STRICT_EOF (a close must wake the
 * reader: see SLICE_*) and FIX_EOF (a proposed change that makes it so,
 * see wait_for_data); COUNTER_NET (the counters' safety net back);
 * REACH=N (see REACHED); BROKEN=N, protocols broken on purpose that the
 * checker must reject:
 *   1 publish(): wake readers before the store of tail (lost wake-up)
 *   2 wait_change(): sleep without re-checking the position after
 *     announcing the sleep (lost wake-up)
 *   3 write: store tail before the unit's bytes (torn read)
 *   4 read: store head, freeing the cell, before reading the unit's bytes
 *     (torn read: the writer overwrites it under the reader)
 *   5 shmpipe__lock(): sleep on the word without setting the waiters bit
 *     first (lost wake-up of the locker)
 *   6 wait_change(): load the seq word after the re-check, not before
 *     announcing (lost wake-up)
 *   7 writers write without the writer lock (two writers, one position)
 *   8 wait_for_data(): end of file without the second look at the
 *     positions (a committed unit left unread at end of file)
 *   9 holder_alive() ignores the generation: a reader taking the slot of
 *     a dead one waits for the lock that the dead one held
 *  10 shmpipe__lock() never takes a lock over: a dead holder's lock is
 *     waited for (for ever)
 *  11 wait_change(): the slot's waiting flag raised before the counter
 *     and lowered after it (the code before commit e75d346): a process
 *     killed in between has reap lower the counter below the sleepers
 *     (lost wake-up, left to the slices; COUNTER_NET hides it)
 */

#ifndef NW
#define NW 1
#endif
#ifndef NU
#define NU 3
#endif
#ifndef RING
#define RING 2
#endif
#ifndef MAXCRASH
#define MAXCRASH 1
#endif
#ifndef BROKEN
#define BROKEN 0
#endif
#if NW != 1 && NW != 2
#error "NW must be 1 or 2"
#endif

/* Processes: writers 0..NW-1, the reader NW, its replacement NW+1. */
#define NP (NW + 2)
/* Slots: writer w has slot w, the readers slot NW. */
#define NSLOT (NW + 1)
#define MAXPOS (NW * NU)

#define ROLE_READ 1
#define ROLE_WRITE 2

/* Lock words (struct pipe_lock): LOCK_OWNER(slot, gen) is slot + 1 |
 * gen << 3 here (generations stay below 8), LOCK_WAITERS 64. */
#define WAITERS 64
#define LOCK_OWNER(slot, g) (((slot) + 1) | (((g) & 7) << 3))
#define HSLOT(v) (((v) & 7) - 1)
/* pipelock.c holder_alive(): the slot named is attached, with the same
 * generation, by a live process. */
#define HOLDER_ALIVE(v)                                                       \
	(((v) & 7) >= 1 && ((v) & 7) <= NSLOT && owner[HSLOT(v)] != 0 &&      \
	 (gen[HSLOT(v)] & 7) == (((v) >> 3) & 7) && alive[owner[HSLOT(v)] - 1])

/* What shmpipe__lock() takes for holder_alive() (the broken ones: the
 * generation ignored; no look at the holder at all). */
#if BROKEN == 9
#define LOOKS_ALIVE(v)                                                        \
	(((v) & 7) >= 1 && ((v) & 7) <= NSLOT && owner[HSLOT(v)] != 0 &&      \
	 alive[owner[HSLOT(v)] - 1])
#elif BROKEN == 10
#define LOOKS_ALIVE(v) 1
#else
#define LOOKS_ALIVE(v) HOLDER_ALIVE(v)
#endif

/*
 * REACH=N: an assertion that fails when point N is reached, so that the
 * checker shows the behaviour is there to be checked (no vacuous pass):
 *   1 a reader takes over the lock of a dead one   2 a writer does
 *   3 a locker sleeps on a lock word      4 a writer sleeps for room
 *   5 a reader sleeps for data            6 a dead sleeper's count is reaped
 *   7 the new reader reaches end of file  8 (PEEK) a unit is returned again
 *   9 a ring cell is used again           10 a unit is lost with its reader
 *  11 end of file after a writer was killed
 */
#ifdef REACH
#define REACHED(n, cond) assert(REACH != (n) || !(cond));
#else
#define REACHED(n, cond)
#endif

/* Futex addresses: data_seq, space_seq, the two lock words. */
#define A_DATA 1
#define A_SPACE 2
#define A_WLOCK 3
#define A_RLOCK 4

/* ---- struct pipe_shared (src/pipe.h) ---- */
byte tail, head;               /* positions, in units */
byte ring0[RING], ring1[RING]; /* each cell: header byte, payload byte */
bool fresh[NP];                /* data_seq (readers) / space_seq (writers):
				* loaded since its last increment */
byte readers_waiting, writers_waiting; /* uint32_t: modulo 256 here */
bool writers_ever;
byte wlock, rlock;             /* writer_lock.word, reader_lock.word */
byte owner[NSLOT];             /* slots[].owner: pid + 1, 0 free */
byte gen[NSLOT];               /* slots[].generation */
byte swaiting[NSLOT];          /* slots[].waiting: ROLE_* while counted */

/* ---- the world around it ---- */
bool alive[NP];  /* the process exists */
bool kill[NP];   /* SIGKILL sent to it */
byte asleep[NP]; /* the futex address it sleeps on, 0 awake */
byte crashes;

/* ---- ghosts, for the checks only ---- */
byte logged[MAXPOS]; /* the unit committed at each position */
byte committed[NW];  /* per writer: units committed (tail stored) */
byte consumed[NW];   /* per writer: last unit consumed (head stored) */
byte delivered[NW];  /* per writer: last unit returned to the caller */
bool gone[NW];       /* the writer detached or was killed */
bool counted[NP];    /* counted in a waiting counter, until uncounted by
		      * itself or, dead, by the reap of its slot */
byte owes[NP];       /* the futex address where it owes a FUTEX_WAKE (its
		      * position, slot or lock word changed, the wake-up,
		      * if needed, not made yet) */
bool orphaned[5];    /* a process was killed owing a wake-up there: it
		      * never comes (see bump(), futex_wake_one()) */
hidden byte wi;      /* scratch of the d_steps */

/* A unit's bytes: writer w's k-th unit (k from 1). */
#define CODE(w, k) ((w) * 8 + (k))
#define CODE_WRITER(c) ((c) / 8)
#define CODE_SEQ(c) ((c) % 8)

#if NW == 1
#define ANY_LIVE_WRITER (owner[0] != 0 && alive[0])
#define ANY_DEAD_WRITER (owner[0] != 0 && !alive[0])
#define WRITERS_COUNTED (counted[0])
#define GONE_MASK (gone[0])
#else
#define ANY_LIVE_WRITER (owner[0] != 0 && alive[0] || owner[1] != 0 && alive[1])
#define ANY_DEAD_WRITER (owner[0] != 0 && !alive[0] || owner[1] != 0 && !alive[1])
#define WRITERS_COUNTED (counted[0] + counted[1])
#define GONE_MASK (gone[0] | gone[1] << 1)
#endif
#define READERS_COUNTED (counted[NW] + counted[NW + 1])
/* End of file is due: a writer was attached once, none alive is now. */
#define EOF_DUE (writers_ever && !ANY_LIVE_WRITER)

/*
 * Where the code relies on a slice ending rather than on a wake-up.
 * pipe.c: readers' slices (50 ms) are "to notice dead writers and report
 * end of file". pipelock.c: a locker looks at the holder after every
 * 20 ms slice. And no protocol can make a process killed between its
 * store and its FUTEX_WAKE make that wake-up (orphaned[]).
 * pipe.c also calls the slices "a safety net should a killed waiter have
 * left a counter wrong": with the counter raised before the flag and
 * lowered after it, a counter is never too low, and the model checks that
 * without the net. COUNTER_NET puts it back (slices end while a counter
 * differs from the sleeps counted, ghost counted[]).
 * So a reader's slice ends while a dead writer is unreaped or end of
 * file is due; with STRICT_EOF only in the first case (a live writer's
 * close must then wake it: see tests/model/README for what that finds).
 */
#ifdef STRICT_EOF
#define SLICE_EOF ANY_DEAD_WRITER
#else
#define SLICE_EOF (ANY_DEAD_WRITER || EOF_DUE)
#endif
#ifdef COUNTER_NET
#define COUNTER_NET_DATA (readers_waiting != READERS_COUNTED)
#define COUNTER_NET_SPACE (writers_waiting != WRITERS_COUNTED)
#else
#define COUNTER_NET_DATA 0
#define COUNTER_NET_SPACE 0
#endif
#define SLICE_DATA (SLICE_EOF || COUNTER_NET_DATA || orphaned[A_DATA])
#define SLICE_SPACE (COUNTER_NET_SPACE || orphaned[A_SPACE])
#define SLICE_LOCK(word, addr)                                                \
	((word) != 0 && !HOLDER_ALIVE(word) || orphaned[addr])

/* SIGKILL: the kernel drops the process from the futex queues; a wake-up
 * it owed never comes. */
#define CRASH()                                                               \
	alive[me] = 0;                                                        \
	asleep[me] = 0;                                                       \
	if                                                                    \
	:: owes[me] -> orphaned[owes[me]] = 1; owes[me] = 0                   \
	:: else                                                               \
	fi

/* fetch_add(seq, 1): every value loaded before is stale. A wake-up
 * orphaned before is now made up for: a sleeper that loaded the word
 * before returns at once or is woken after this, one that loads it after
 * sees, when it re-checks, what the killed process had changed. */
inline bump(addr)
{
	d_step {
		if
		:: addr == A_DATA -> fresh[NW] = 0; fresh[NW + 1] = 0
		:: else -> fresh[0] = 0; fresh[NW - 1] = 0
		fi;
		orphaned[addr] = 0
	}
}

/* shmpipe__futex_wake(addr, INT_MAX) */
inline futex_wake_all(addr)
{
	d_step {
		wi = 0;
		do
		:: wi < NP ->
			if
			:: asleep[wi] == addr -> asleep[wi] = 0
			:: else
			fi;
			wi++
		:: else -> break
		od;
		wi = 0;
		owes[me] = 0
	}
}

/* shmpipe__futex_wake(addr, 1): an orphaned wake-up of the lock word is
 * made up for once a sleeper is woken. */
inline futex_wake_one(addr)
{
	d_step {
		wi = 0;
		do
		:: wi < NP && asleep[wi] == addr ->
			asleep[wi] = 0;
			orphaned[addr] = 0;
			break
		:: wi < NP && asleep[wi] != addr -> wi++
		:: else -> break
		od;
		wi = 0;
		owes[me] = 0
	}
}

/* pipe.c wake(): fence(seq_cst); if (load(waiting)) { fetch_add(seq, 1);
 * futex_wake(seq, INT_MAX); } */
inline wake(waiting, addr)
{
	if
	:: waiting != 0 ->
		bump(addr);
		futex_wake_all(addr)
	:: atomic { waiting == 0 -> owes[me] = 0 }
	fi
}

/* pipelock.c shmpipe__lock(sh, word, me = lockme, timeout -1). */
inline side_lock(word, addr)
{
	/* spin phase: if (load(word) == 0 && take(l, 0, me)) return 0;
	 * (one attempt: more would only repeat it) */
	atomic {
		if
		:: word == 0 -> word = lockme; took = 1
		:: else -> took = 0
		fi
	};
	do
	:: took -> v = 0; break
	:: else ->
		v = word; /* uint32_t v = atomic_load(&l->word) */
		if
		:: v == 0 ->
			/* take(l, 0, me | LOCK_WAITERS): others may sleep */
			atomic {
				if
				:: word == 0 -> word = lockme | WAITERS; took = 1
				:: else
				fi
			}
		:: v != 0 && ((v & (WAITERS - 1)) == lockme || !LOOKS_ALIVE(v)) ->
			/* mine || !holder_alive(): take(l, v, me | LOCK_WAITERS),
			 * the takeover of a dead holder's word */
			atomic {
				if
				:: word == v ->
					word = lockme | WAITERS;
					took = 1;
					REACHED(1, me >= NW)
					REACHED(2, me < NW)
				:: else
				fi
			}
		:: atomic {
			v != 0 && (v & (WAITERS - 1)) != lockme && LOOKS_ALIVE(v) ->
			/* It waits only for a holder that is there (or the
			 * takeover above would be missed: waiting for ever). */
			assert(HOLDER_ALIVE(v))
		   };
			/* if (!(v & LOCK_WAITERS) &&
			 *     !CAS(&l->word, &v, v | LOCK_WAITERS)) continue; */
			if
#if BROKEN == 5
			:: false ->
#else
			:: (v & WAITERS) == 0 ->
#endif
				atomic {
					if
					:: word == v -> word = v | WAITERS; v = v | WAITERS
					:: else -> v = 0 /* continue */
					fi
				}
			:: else
			fi;
			if
			:: v != 0 ->
				/* futex_wait(&l->word, v | LOCK_WAITERS, slice) */
				atomic {
					if
					:: word == v -> asleep[me] = addr; REACHED(3, 1)
					:: else
					fi
				};
end_lock_sleep:
				atomic {
					asleep[me] == 0 || SLICE_LOCK(word, addr) ->
					asleep[me] = 0
				}
			:: else
			fi
		fi
	od
}

/* pipelock.c shmpipe__unlock(): old = exchange(&l->word, 0); if (old &
 * LOCK_WAITERS) futex_wake(&l->word, 1); */
inline side_unlock(word, addr)
{
	atomic {
		v = word;
		word = 0;
		if
		:: v & WAITERS -> owes[me] = addr
		:: else
		fi
	};
	if
	:: v & WAITERS -> v = 0; futex_wake_one(addr)
	:: else -> v = 0
	fi
}

/* pipe.c shmpipe__pipe_reap(): for each slot whose owner is dead:
 * was_waiting = load(waiting); CAS(start_time); CAS(owner, 0); uncount
 * its sleep if was_waiting; store(waiting, 0). One step (see above). */
inline reap()
{
	d_step {
		wi = 0;
		do
		:: wi < NSLOT ->
			if
			:: owner[wi] != 0 && !alive[owner[wi] - 1] ->
				if
				:: swaiting[wi] == ROLE_READ ->
					readers_waiting = (readers_waiting + 255) % 256
				:: swaiting[wi] == ROLE_WRITE ->
					writers_waiting = (writers_waiting + 255) % 256
				:: else
				fi;
				REACHED(6, swaiting[wi] != 0)
				counted[owner[wi] - 1] = 0;
				owner[wi] = 0;
				swaiting[wi] = 0
			:: else
			fi;
			wi++
		:: else -> break
		od;
		wi = 0
	}
}

/* pipe.c attach(): a free slot (here the process's own); if none,
 * shmpipe__pipe_reap() and a second pass, else -EUSERS. */
inline attach()
{
	if
	:: owner[slot] != 0 -> reap()
	:: else
	fi;
	atomic {
		assert(owner[slot] == 0); /* else -EUSERS */
		owner[slot] = me + 1;
		swaiting[slot] = 0;
		gen[slot]++;
		lockme = LOCK_OWNER(slot, gen[slot])
	}
}

/*
 * pipe.c wait_change(p, pos, seen, seq, waiting, role, slice): the same for
 * both sides. SEEN_STILL is the re-check "atomic_load(pos) == seen".
 */
#if BROKEN == 11
/* The order before commit e75d346: flag first, then count; uncount, then
 * unflag. A process killed in between is flagged but not counted, and
 * shmpipe__pipe_reap() uncounts a sleep that was never counted. */
#define ANNOUNCE(waiting, role)                                               \
	swaiting[slot] = role;                                                \
	d_step { waiting = (waiting + 1) % 256; counted[me] = 1 }
#define RETIRE(waiting)                                                       \
	d_step { waiting = (waiting + 255) % 256; counted[me] = 0 };          \
	d_step { swaiting[slot] = 0; fresh[me] = 0 }
#else
/* fetch_add(waiting, 1) (seq_cst), then store(&me->waiting, role): "the
 * count goes up before the slot's flag and down after it", so a process
 * killed in between is counted without its flag (a spare wake-up), never
 * flagged without being counted. */
#define ANNOUNCE(waiting, role)                                               \
	d_step { waiting = (waiting + 1) % 256; counted[me] = 1 };            \
	swaiting[slot] = role
/* store(&me->waiting, 0), then fetch_sub(waiting, 1) */
#define RETIRE(waiting)                                                       \
	swaiting[slot] = 0;                                                   \
	d_step { waiting = (waiting + 255) % 256; counted[me] = 0; fresh[me] = 0 }
#endif

inline wait_change(SEEN_STILL, waiting, role, addr, slice, preloaded)
{
#if BROKEN != 6
	if
	:: !preloaded ->
		fresh[me] = 1 /* uint32_t s = atomic_load(seq) (acquire) */
	:: else
	fi;
#endif
	ANNOUNCE(waiting, role);
	if
#if BROKEN == 2
	:: true ->
#else
	:: SEEN_STILL ->
#endif
#if BROKEN == 6
		fresh[me] = 1;
#endif
		/* shmpipe__futex_wait(seq, s, slice) */
		atomic {
			if
			:: fresh[me] ->
				asleep[me] = addr;
				REACHED(4, addr == A_SPACE)
				REACHED(5, addr == A_DATA)
			:: else
			fi
		};
end_pos_sleep:
		atomic { asleep[me] == 0 || (slice) -> asleep[me] = 0 }
	:: else
	fi;
	RETIRE(waiting)
}

proctype Writer(byte me)
{
	byte slot = me, lockme, v, t, h, seen_head, k = 1;
	bool took;

	{
		/* handle_attach(): attach(), then store(writers_ever, 1),
		 * fetch_add(data_seq), futex_wake(data_seq, INT_MAX) */
		attach();
		d_step { writers_ever = 1; owes[me] = A_DATA };
		bump(A_DATA);
		futex_wake_all(A_DATA);
		do
		:: k <= NU ->
			/* shmpipe_write() -> side_lock() */
#if BROKEN != 7
			side_lock(wlock, A_WLOCK);
#endif
			/* write_unit() -> wait_for_space(p, span, 0, &tail) */
			do
			:: t = tail; /* load(&sh->tail) (acquire) */
				/* against the head as last seen */
				if
				:: t - seen_head < RING -> break
				:: else
				fi;
				/* load_positions(): tail, then head */
				t = tail;
				d_step { h = head; seen_head = h };
				if
				:: t - h < RING -> break
				:: else
				fi;
				/* wait_change(p, &sh->head, head, &sh->space_seq,
				 *	&sh->writers_waiting, ROLE_WRITE, 250 ms) */
				wait_change(head == h, writers_waiting, ROLE_WRITE,
					    A_SPACE, SLICE_SPACE, 0)
			od;
#if BROKEN == 3
			atomic {
				tail = t + 1;
				logged[t] = CODE(me, k);
				committed[me] = k;
				owes[me] = A_DATA
			};
#endif
			/* put_record(): memcpy of the header, then the payload */
			ring0[t % RING] = CODE(me, k);
			ring1[t % RING] = CODE(me, k);
#if BROKEN == 1
			wake(readers_waiting, A_DATA);
#endif
#if BROKEN != 3
			/* publish(): store(&sh->tail, tail + span) (release) */
			d_step {
				tail = t + 1;
				logged[t] = CODE(me, k);
				committed[me] = k;
				owes[me] = A_DATA
			};
#endif
#if BROKEN != 1
			/* publish() -> wake_readers() */
			wake(readers_waiting, A_DATA);
#endif
#if BROKEN != 7
			side_unlock(wlock, A_WLOCK);
#endif
			d_step { k++; t = 0; h = 0 }
		:: else -> break
		od;
		if
		:: /* shmpipe_close() -> detach(): CAS(&s->owner, me, 0),
		    * fetch_add(data_seq), futex_wake(data_seq, INT_MAX) */
			atomic {
				if
				:: owner[slot] == me + 1 -> owner[slot] = 0
				:: else
				fi;
				owes[me] = A_DATA;
				gone[me] = 1
			};
			bump(A_DATA);
			futex_wake_all(A_DATA);
			alive[me] = 0 /* exit */
		:: me == 0 -> /* stays attached, idle */
end_idle:
			(0)
		fi
	} unless {
		atomic { kill[me] -> CRASH(); gone[me] = 1 }
	}
}

proctype Reader(byte me)
{
	byte slot = NW, lockme, v, t, h, seen_tail, b0, b1, n, i, gone_snap;
	bool took, eof;

	{
		/* shmpipe_open() -> handle_attach() -> attach() */
		attach();
		do
		:: /* shmpipe_read() / shmpipe_peek() -> read_begin() ->
		    * side_lock() */
			side_lock(rlock, A_RLOCK);
			/* next_readable() -> wait_for_data(p, &head, want 1) */
			do
			:: /* load(&sh->head) (acquire), against the tail as
			    * last seen */
				d_step { h = head; t = seen_tail };
				if
				:: t > h && t - h <= RING -> break
				:: else
				fi;
#ifdef FIX_EOF
				/* proposed: data_seq loaded before the positions
				 * and the writer count, so that a detach() after
				 * them makes the futex_wait() return at once */
				fresh[me] = 1;
#endif
				/* load_positions(): tail, then head */
				t = tail;
				d_step { h = head; seen_tail = t };
				if
				:: t != h -> break
				:: else
				fi;
				/* at_eof() -> shmpipe__pipe_eof(): load(writers_ever),
				 * shmpipe__pipe_reap(), shmpipe__pipe_count() of
				 * writers: a load of each slot's owner */
				if
				:: writers_ever ->
					reap();
					/* (ghost: the writers gone by now) */
					d_step { n = 0; i = 0; gone_snap = GONE_MASK };
					do
					:: i < NW ->
						n = n + (owner[i] != 0);
						i++
					:: else -> break
					od;
					atomic { eof = n == 0; n = 0; i = 0 }
				:: else
				fi;
				if
				:: eof ->
#if BROKEN != 8
					/* the second look: load_positions() */
					t = tail;
					d_step { h = head; seen_tail = t };
#endif
					break
				:: else
				fi;
				/* wait_change(p, &sh->tail, tail, &sh->data_seq,
				 *	&sh->readers_waiting, ROLE_READ, 50 ms) */
#ifdef FIX_EOF
				wait_change(tail == t, readers_waiting, ROLE_READ,
					    A_DATA, SLICE_DATA, 1)
#else
				wait_change(tail == t, readers_waiting, ROLE_READ,
					    A_DATA, SLICE_DATA, 0)
#endif
			od;
			if
			:: t == h -> /* end of file: read_begin() unlocks */
				side_unlock(rlock, A_RLOCK);
				break
			:: else
			fi;
#if BROKEN == 4
			d_step {
				head = h + 1;
				consumed[CODE_WRITER(logged[h])] = CODE_SEQ(logged[h]);
				owes[me] = A_SPACE
			};
#endif
			/* next_unit(): memcpy of the record header */
			b0 = ring0[h % RING];
			/* shmpipe_read(): memcpy of the payload (-DPEEK: the
			 * caller reads it between peek and release) */
			b1 = ring1[h % RING];
			REACHED(9, h >= RING)
			/* The unit committed at h, whole; per writer, the next
			 * unit not consumed yet. */
			assert(b0 == logged[h] && b1 == logged[h]);
#if BROKEN != 4
			assert(CODE_SEQ(b0) == consumed[CODE_WRITER(b0)] + 1);
#endif
#ifdef PEEK
			/* shmpipe_peek() returned it: in order, at least once,
			 * again only if a reader was killed before release */
			d_step {
				assert(CODE_SEQ(b0) == delivered[CODE_WRITER(b0)] + 1 ||
				       CODE_SEQ(b0) == delivered[CODE_WRITER(b0)] &&
				       crashes > 0);
				REACHED(8, CODE_SEQ(b0) == delivered[CODE_WRITER(b0)])
				delivered[CODE_WRITER(b0)] = CODE_SEQ(b0)
			};
#endif
#if BROKEN != 4
			/* consume(): store(&sh->head, head + span) (release) */
			d_step {
				head = h + 1;
				consumed[CODE_WRITER(b0)] = CODE_SEQ(b0);
				owes[me] = A_SPACE
			};
#endif
			/* consume() -> wake_writers() */
			wake(writers_waiting, A_SPACE);
			side_unlock(rlock, A_RLOCK);
#ifndef PEEK
			/* shmpipe_read() returned it: in order, at most once */
			d_step {
				assert(CODE_SEQ(b0) > delivered[CODE_WRITER(b0)]);
				REACHED(10, CODE_SEQ(b0) > delivered[CODE_WRITER(b0)] + 1)
				delivered[CODE_WRITER(b0)] = CODE_SEQ(b0)
			};
#endif
			d_step { t = 0; h = 0; b0 = 0; b1 = 0; fresh[me] = 0 }
		od;
		/* End of file: every unit committed by the writers gone before
		 * the writer count began was consumed (one that attaches later
		 * may write on, for the next reader). */
		atomic {
			REACHED(7, me == NW + 1)
			REACHED(11, kill[0])
			i = 0;
			do
			:: i < NW ->
				assert(!(gone_snap & (1 << i)) ||
				       consumed[i] == committed[i]);
#ifdef PEEK
				assert(!(gone_snap & (1 << i)) ||
				       delivered[i] == committed[i]);
#endif
				i++
			:: else -> break
			od;
			i = 0
		};
		/* shmpipe_close() -> detach(): CAS(&s->owner, me, 0) */
		atomic {
			if
			:: owner[slot] == me + 1 -> owner[slot] = 0
			:: else
			fi
		};
		alive[me] = 0
	} unless {
		atomic { kill[me] -> CRASH() };
		/* a new reader process opens the pipe (after the first only) */
		if
		:: me == NW -> atomic { alive[NW + 1] = 1; run Reader(NW + 1) }
		:: else
		fi
	}
}

/* SIGKILL for any one process (at most MAXCRASH in all), at any moment. */
active proctype Killer()
{
end_killer:
	do
	:: atomic { crashes < MAXCRASH && alive[0] && !kill[0] -> kill[0] = 1; crashes++ }
#if NW > 1
	:: atomic { crashes < MAXCRASH && alive[1] && !kill[1] -> kill[1] = 1; crashes++ }
#endif
	:: atomic { crashes < MAXCRASH && alive[NW] && !kill[NW] -> kill[NW] = 1; crashes++ }
	:: atomic { crashes < MAXCRASH && alive[NW + 1] && !kill[NW + 1] -> kill[NW + 1] = 1; crashes++ }
	od
}

/* When nothing can move any more, nobody sleeps whose condition holds. */
active proctype Monitor()
{
	byte p;
	bool lost_wakeup;

	timeout ->
	d_step {
		p = 0;
		do
		:: p < NP ->
			if
			:: asleep[p] == A_DATA && (tail != head || EOF_DUE) ->
				lost_wakeup = 1
			:: asleep[p] == A_SPACE && tail - head < RING ->
				lost_wakeup = 1
			:: asleep[p] == A_WLOCK && wlock == 0 -> lost_wakeup = 1
			:: asleep[p] == A_RLOCK && rlock == 0 -> lost_wakeup = 1
			:: else
			fi;
			p++
		:: else -> break
		od
	};
	assert(!lost_wakeup)
}

init
{
	byte w;

	atomic {
		do
		:: w < NW -> alive[w] = 1; run Writer(w); w++
		:: else -> break
		od;
		alive[NW] = 1;
		run Reader(NW)
	}
}
