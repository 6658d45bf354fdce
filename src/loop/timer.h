/*
 * src/loop/timer.h - the loop's timer structure (internal; never installed).
 *
 * A binary min-heap over a slot array, ordered by (deadline, seq): seq is
 * the order of arming, so timers due at the same time fire FIFO.
 *
 * One array, `heap`, is a permutation of the slots in use: heap[0 .. count)
 * is the heap of live timers, heap[count .. used) holds the free slots, and
 * each slot knows its position (slots[s].pos), so a cancel removes from the
 * middle in O(log n) and a slot is free exactly when pos >= count. A slot
 * is reused with its generation bumped, so the id of a fired or cancelled
 * timer (generation << 32 | slot + 1) never names its successor (until the
 * 32-bit generation of that one slot wraps: documented in loop.h rather
 * than prevented, since retiring a slot whose generation is spent would
 * need a third region in the permutation that ktimer_ok proves; the loop's
 * own users never keep an id past its timer).
 *
 * Growing the arrays (ktimer_reserve, ktimer_free) allocates; everything
 * else works within the capacity and is proven with Frama-C WP
 * (proofs/modules.txt, unit "timer"): memory safety and the permutation /
 * back-pointer invariant (ktimer_ok). The heap order by (deadline, seq) is
 * checked by ktimer_valid and tested against a reference model
 * (tests/loop/test_timer.c), not proven: WP could not discharge the sift
 * invariants' transitivity within the proof budget.
 */
#ifndef KEEL_LOOP_TIMER_H
#define KEEL_LOOP_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/loop.h"

/* A heap entry carries its key, so that sifting reads one array. */
typedef struct ktimer_entry {
    uint64_t deadline; /* ms, on the loop's clock */
    uint64_t seq;      /* arming order: the tie-break among equal deadlines */
    uint32_t slot;
} ktimer_entry;

typedef struct ktimer_slot {
    uint64_t repeat; /* ms; 0 for a one-shot timer */
    keel_timer_cb cb;
    void *user;
    /* Bumped (mod 2^32) each time the slot is released. 64 bits wide
     * for WP's Typed model, as pos below: no uint32_t write into slots can
     * then alias the heap's slot indices. */
    uint64_t gen;
    /* Index in heap[] (0 .. used - 1). Signed on purpose: WP's Typed model
     * keeps one memory per C integer type, so positions written during a
     * sift can never alias the heap's uint32_t slot indices, and the
     * provers need no separation argument for it. */
    int32_t pos;
} ktimer_slot;

typedef struct ktimer_heap {
    ktimer_slot *slots;
    ktimer_entry *heap;
    uint32_t cap;   /* capacity of both arrays */
    uint32_t used;  /* slots handed out so far: [0, used) are initialised */
    uint32_t count; /* live timers: heap[0 .. count) */
    uint64_t next_seq;
} ktimer_heap;

/* Most timers one loop can hold (positions fit in int32_t). */
#define KTIMER_MAX ((uint32_t)INT32_MAX)

/*@
  predicate ktimer_mem(ktimer_heap *h) =
      \valid(h) && h->count <= h->used <= h->cap <= KTIMER_MAX &&
      (h->cap > 0 ==> \valid(h->slots + (0 .. h->cap - 1)) &&
                      \valid(h->heap + (0 .. h->cap - 1))) &&
      \separated(h, h->slots + (0 .. h->cap - 1), h->heap + (0 .. h->cap - 1)) &&
      \separated(h->slots + (0 .. h->cap - 1), h->heap + (0 .. h->cap - 1));

  // Every position below used holds a slot in use that points back at it:
  // so heap[0 .. used).slot is a permutation of [0, used) and slots[].pos
  // its inverse. (Stated one way only: the converse as a second quantified
  // fact would make the provers' instantiation loop; ktimer_live states it
  // for one slot.)
  predicate ktimer_links(ktimer_entry *heap, ktimer_slot *slots, integer used) =
      \forall integer i; 0 <= i < used ==>
          heap[i].slot < used && slots[heap[i].slot].pos == i;

  predicate ktimer_ok(ktimer_heap *h) = ktimer_mem(h) && ktimer_links(h->heap, h->slots, h->used);

  // slot s is live: its position is in the heap and holds it.
  predicate ktimer_live(ktimer_heap *h, integer s) =
      0 <= s < h->used && 0 <= h->slots[s].pos < h->count &&
      h->heap[h->slots[s].pos].slot == s;

  predicate ktimer_same_entry(ktimer_entry a, ktimer_entry b) =
      a.deadline == b.deadline && a.seq == b.seq && a.slot == b.slot;
*/

/* An empty structure (no allocation). */
void ktimer_init(ktimer_heap *h);
/* Release the arrays; h is empty again. */
void ktimer_free(ktimer_heap *h);
/* Make room for one more timer: KEEL_OK, NO_MEMORY, or TOO_LARGE past
 * KTIMER_MAX. */
KEEL_MUST_USE keel_result ktimer_reserve(ktimer_heap *h);

/* The C twin of ktimer_ok (for tests): sizes, links and heap order. */
bool ktimer_valid(const ktimer_heap *h);

/* True when there is room for ktimer_insert without ktimer_reserve. */
bool ktimer_has_room(const ktimer_heap *h);
/* Arm a timer in a free slot (requires ktimer_has_room); returns its id. */
uint64_t ktimer_insert(ktimer_heap *h, uint64_t deadline, uint64_t repeat, keel_timer_cb cb,
                       void *user);
/* The slot of the live timer named id: KEEL_OK or KEEL_ERR_NOT_FOUND. */
KEEL_MUST_USE keel_result ktimer_lookup(const ktimer_heap *h, uint64_t id, uint32_t *slot);
/* Disarm the live timer in slot (its slot is released, generation bumped). */
void ktimer_remove(ktimer_heap *h, uint32_t slot);
/* Re-arm the live timer in slot at deadline, as if started now (new seq). */
void ktimer_rearm(ktimer_heap *h, uint32_t slot, uint64_t deadline);
/* The slot of the earliest timer: KEEL_OK or KEEL_ERR_NOT_FOUND if none. */
KEEL_MUST_USE keel_result ktimer_first(const ktimer_heap *h, uint32_t *slot);
/* The id of the live timer in slot. */
uint64_t ktimer_id(const ktimer_heap *h, uint32_t slot);

#endif /* KEEL_LOOP_TIMER_H */
