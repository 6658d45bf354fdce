/*
 * src/loop/timer.c - the loop's timer heap (see timer.h).
 *
 * The heap operations below work within the arrays' capacity and carry
 * ACSL contracts proven by WP (proofs/modules.txt, unit "timer");
 * ktimer_reserve / ktimer_free allocate and are tested, not proven.
 */
#include "loop/timer.h"

/* Position of the parent of heap position i. */
#define KT_PARENT(i) (((i) - 1u) / 2u)

/*@ requires \valid(h);
    assigns *h;
    ensures ktimer_ok(h) && h->cap == 0 && h->count == 0;
*/
void ktimer_init(ktimer_heap *h)
{
    h->slots = NULL;
    h->heap = NULL;
    h->cap = 0;
    h->used = 0;
    h->count = 0;
    h->next_seq = 0;
}

/*@ requires ktimer_mem(h);
    assigns \nothing;
    ensures \result <==> (h->used < h->cap || h->count < h->used);
*/
bool ktimer_has_room(const ktimer_heap *h)
{
    return h->count < h->used || h->used < h->cap;
}

/* The sift helpers take the arrays and sizes as values, so that their
 * writes cannot alias the sizes (nothing to separate for the provers). */

/* Field by field: WP models a struct copy as a havoc of its bytes, which
 * the provers cannot see through. */
/*@ requires \valid(heap + (0 .. used - 1)) && \valid(slots + (0 .. used - 1));
    requires ktimer_links(heap, slots, used);
    requires i < used && j < used && used <= KTIMER_MAX;
    assigns heap[i], heap[j], slots[0 .. used - 1].pos;
    ensures ktimer_links(heap, slots, used);
    ensures ktimer_same_entry(heap[i], \old(heap[j])) && ktimer_same_entry(heap[j], \old(heap[i]));
*/
static void timer_swap_at(ktimer_entry *heap, ktimer_slot *slots, uint32_t used, uint32_t i,
                          uint32_t j)
{
    (void)used; /* the bound the contract speaks of */
    uint64_t deadline = heap[i].deadline;
    uint64_t seq = heap[i].seq;
    uint32_t slot = heap[i].slot;
    heap[i].deadline = heap[j].deadline;
    heap[i].seq = heap[j].seq;
    heap[i].slot = heap[j].slot;
    heap[j].deadline = deadline;
    heap[j].seq = seq;
    heap[j].slot = slot;
    slots[heap[i].slot].pos = (int32_t)i;
    slots[slot].pos = (int32_t)j;
}

/*@ requires \valid_read(a) && \valid_read(b);
    assigns \nothing;
    ensures \result <==> (a->deadline < b->deadline ||
                          (a->deadline == b->deadline && a->seq < b->seq));
*/
static bool timer_entry_before(const ktimer_entry *a, const ktimer_entry *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

/* The entry at i may sort before its parent: move it up. */
/*@ requires \valid(heap + (0 .. used - 1)) && \valid(slots + (0 .. used - 1));
    requires ktimer_links(heap, slots, used);
    requires i < count <= used <= KTIMER_MAX;
    assigns heap[0 .. count - 1], slots[0 .. used - 1].pos;
    ensures ktimer_links(heap, slots, used);
*/
static void timer_sift_up(ktimer_entry *heap, ktimer_slot *slots, uint32_t used, uint32_t count,
                          uint32_t i)
{
    (void)count; /* the bound the contract speaks of */
    /*@ loop invariant i < count;
        loop invariant ktimer_links(heap, slots, used);
        loop assigns i, heap[0 .. count - 1], slots[0 .. used - 1].pos;
        loop variant i;
    */
    while (i > 0) {
        uint32_t p = KT_PARENT(i);
        if (!timer_entry_before(&heap[i], &heap[p])) {
            break;
        }
        timer_swap_at(heap, slots, used, i, p);
        i = p;
    }
}

/* The entry at i may sort after its children: move it down. */
/*@ requires \valid(heap + (0 .. used - 1)) && \valid(slots + (0 .. used - 1));
    requires ktimer_links(heap, slots, used);
    requires i < count <= used <= KTIMER_MAX;
    assigns heap[0 .. count - 1], slots[0 .. used - 1].pos;
    ensures ktimer_links(heap, slots, used);
*/
static void timer_sift_down(ktimer_entry *heap, ktimer_slot *slots, uint32_t used, uint32_t count,
                            uint32_t i)
{
    /*@ loop invariant i < count;
        loop invariant ktimer_links(heap, slots, used);
        loop assigns i, heap[0 .. count - 1], slots[0 .. used - 1].pos;
        loop variant count - i;
    */
    for (;;) {
        uint32_t least = i;
        uint32_t c = 2u * i + 1u;
        if (c < count && timer_entry_before(&heap[c], &heap[least])) {
            least = c;
        }
        if (c < count - 1u && timer_entry_before(&heap[c + 1u], &heap[least])) {
            least = c + 1u;
        }
        if (least == i) {
            return;
        }
        timer_swap_at(heap, slots, used, i, least);
        i = least;
    }
}

/* Move the entry at i, which just changed or arrived, to its place. */
/*@ requires \valid(heap + (0 .. used - 1)) && \valid(slots + (0 .. used - 1));
    requires ktimer_links(heap, slots, used);
    requires i < count <= used <= KTIMER_MAX;
    assigns heap[0 .. count - 1], slots[0 .. used - 1].pos;
    ensures ktimer_links(heap, slots, used);
*/
static void timer_sift_to_place(ktimer_entry *heap, ktimer_slot *slots, uint32_t used,
                                uint32_t count, uint32_t i)
{
    if (i > 0 && timer_entry_before(&heap[i], &heap[KT_PARENT(i)])) {
        timer_sift_up(heap, slots, used, count, i);
    } else {
        timer_sift_down(heap, slots, used, count, i);
    }
}

/* No free slot: a fresh one is handed out at position used, outside the
 * heap. */
/*@ requires \valid(heap + (0 .. used)) && \valid(slots + (0 .. used));
    requires ktimer_links(heap, slots, used);
    requires used < KTIMER_MAX;
    assigns heap[used].slot, slots[used].gen, slots[used].pos;
    ensures ktimer_links(heap, slots, used + 1);
*/
static void timer_add_slot(ktimer_entry *heap, ktimer_slot *slots, uint32_t used)
{
    slots[used].gen = 0;
    slots[used].pos = (int32_t)used;
    heap[used].slot = used;
}

/* The free entry at i joins the heap, heap[0 .. i] from now on, with its key.
 * Its assigns cover whole slots: the caller's then include them without
 * the provers reasoning about one field of a range. */
/*@ requires \valid(heap + (0 .. used - 1)) && \valid(slots + (0 .. used - 1));
    requires ktimer_links(heap, slots, used);
    requires i < used <= KTIMER_MAX;
    assigns heap[0 .. i], slots[0 .. used - 1];
    ensures ktimer_links(heap, slots, used);
*/
static void timer_push_at(ktimer_entry *heap, ktimer_slot *slots, uint32_t used, uint32_t i,
                          uint64_t deadline, uint64_t seq)
{
    heap[i].deadline = deadline;
    heap[i].seq = seq;
    timer_sift_up(heap, slots, used, i + 1u, i);
}

/*@ requires ktimer_ok(h);
    requires h->used < h->cap || h->count < h->used;
    requires h->next_seq < UINT64_MAX;
    assigns h->used, h->count, h->next_seq, h->heap[0 .. h->cap - 1],
            h->slots[0 .. h->cap - 1];
    ensures ktimer_ok(h) && h->count == \old(h->count) + 1;
    ensures \result != 0;
*/
uint64_t ktimer_insert(ktimer_heap *h, uint64_t deadline, uint64_t repeat, keel_timer_cb cb,
                       void *user)
{
    ktimer_entry *heap = h->heap;
    ktimer_slot *slots = h->slots;
    uint32_t used = h->used;
    uint32_t i = h->count;
    if (i == used) {
        timer_add_slot(heap, slots, used);
        used++;
        h->used = used;
    }
    //@ assert i < used <= \at(h->cap, Pre);
    uint32_t s = heap[i].slot;
    slots[s].repeat = repeat;
    slots[s].cb = cb;
    slots[s].user = user;
    timer_push_at(heap, slots, used, i, deadline, h->next_seq);
    /* The arrays are separated from *h: its fields survive the sift. */
    //@ assert h->heap == heap && h->slots == slots && h->used == used && h->cap == \at(h->cap, Pre);
    h->next_seq++;
    h->count = i + 1u;
    return (slots[s].gen << 32) | ((uint64_t)s + 1u);
}

/*@ requires ktimer_mem(h) && slot < h->used;
    assigns \nothing;
    ensures \result != 0;
*/
uint64_t ktimer_id(const ktimer_heap *h, uint32_t slot)
{
    return (h->slots[slot].gen << 32) | ((uint64_t)slot + 1u);
}

/*@ requires ktimer_ok(h) && \valid(slot);
    requires \separated(slot, h, h->heap + (0 .. h->cap - 1), h->slots + (0 .. h->cap - 1));
    assigns *slot;
    ensures \result == KEEL_OK || \result == KEEL_ERR_NOT_FOUND;
    ensures \result == KEEL_OK ==> ktimer_live(h, *slot);
*/
keel_result ktimer_lookup(const ktimer_heap *h, uint64_t id, uint32_t *slot)
{
    uint64_t low = id & 0xffffffffu;
    if (low == 0 || low > h->used) {
        return KEEL_ERR_NOT_FOUND;
    }
    uint32_t s = (uint32_t)(low - 1u);
    int32_t pos = h->slots[s].pos;
    /* pos < count alone says "live"; the back-pointer check costs one
     * load and gives the proof the converse of ktimer_links. */
    if (pos < 0 || (uint32_t)pos >= h->count || h->heap[pos].slot != s ||
        h->slots[s].gen != id >> 32) {
        return KEEL_ERR_NOT_FOUND;
    }
    *slot = s;
    return KEEL_OK;
}

/* Take the entry at i out of heap[0 .. count): it ends at count - 1, and
 * the entry that filled its hole moves to its own place. */
/*@ requires \valid(heap + (0 .. used - 1)) && \valid(slots + (0 .. used - 1));
    requires ktimer_links(heap, slots, used);
    requires i < count <= used <= KTIMER_MAX;
    assigns heap[0 .. count - 1], slots[0 .. used - 1].pos;
    ensures ktimer_links(heap, slots, used);
    ensures heap[count - 1].slot == \old(heap[i].slot);
*/
static void timer_drop_at(ktimer_entry *heap, ktimer_slot *slots, uint32_t used, uint32_t count,
                          uint32_t i)
{
    uint32_t last = count - 1u;
    timer_swap_at(heap, slots, used, i, last);
    if (i < last) {
        /* The entry that filled the hole may belong above or below it. */
        timer_sift_to_place(heap, slots, used, last, i);
    }
}

/*@ requires ktimer_ok(h) && ktimer_live(h, slot);
    assigns h->count, h->heap[0 .. h->count - 1], h->slots[0 .. h->used - 1];
    ensures ktimer_ok(h) && h->count == \old(h->count) - 1;
    ensures !ktimer_live(h, slot);
*/
void ktimer_remove(ktimer_heap *h, uint32_t slot)
{
    ktimer_slot *slots = h->slots;
    uint32_t last = h->count - 1u;
    timer_drop_at(h->heap, slots, h->used, h->count, (uint32_t)slots[slot].pos);
    //@ assert h->heap[last].slot == slot && slots[slot].pos == last;
    slots[slot].gen = (slots[slot].gen + 1u) & 0xffffffffu;
    h->count = last;
}

/*@ requires ktimer_ok(h) && ktimer_live(h, slot);
    requires h->next_seq < UINT64_MAX;
    assigns h->next_seq, h->heap[0 .. h->count - 1], h->slots[0 .. h->used - 1].pos;
    ensures ktimer_ok(h);
*/
void ktimer_rearm(ktimer_heap *h, uint32_t slot, uint64_t deadline)
{
    uint32_t i = (uint32_t)h->slots[slot].pos;
    h->heap[i].deadline = deadline;
    h->heap[i].seq = h->next_seq;
    h->next_seq++;
    timer_sift_to_place(h->heap, h->slots, h->used, h->count, i);
}

/*@ requires ktimer_ok(h) && \valid(slot);
    requires \separated(slot, h, h->heap + (0 .. h->cap - 1), h->slots + (0 .. h->cap - 1));
    assigns *slot;
    ensures \result == KEEL_OK || \result == KEEL_ERR_NOT_FOUND;
    ensures \result == KEEL_OK <==> h->count > 0;
    ensures \result == KEEL_OK ==> *slot == h->heap[0].slot && ktimer_live(h, *slot);
*/
keel_result ktimer_first(const ktimer_heap *h, uint32_t *slot)
{
    if (h->count == 0) {
        return KEEL_ERR_NOT_FOUND;
    }
    *slot = h->heap[0].slot;
    return KEEL_OK;
}

#ifndef __FRAMAC__
#include "core/sys.h"

void ktimer_free(ktimer_heap *h)
{
    ksys_release(h->slots);
    ksys_release(h->heap);
    ktimer_init(h);
}

bool ktimer_valid(const ktimer_heap *h)
{
    if (h == NULL || h->count > h->used || h->used > h->cap || h->cap > KTIMER_MAX ||
        (h->cap > 0 && (h->slots == NULL || h->heap == NULL))) {
        return false;
    }
    for (uint32_t i = 0; i < h->used; i++) {
        uint32_t s = h->heap[i].slot;
        if (s >= h->used || h->slots[s].pos != (int32_t)i) {
            return false;
        }
        if (i > 0 && i < h->count && timer_entry_before(&h->heap[i], &h->heap[KT_PARENT(i)])) {
            return false;
        }
    }
    return true;
}

keel_result ktimer_reserve(ktimer_heap *h)
{
    if (ktimer_has_room(h)) {
        return KEEL_OK;
    }
    if (h->cap >= KTIMER_MAX) {
        return KEEL_ERR_TOO_LARGE;
    }
    uint32_t cap = h->cap == 0 ? 16u : h->cap > KTIMER_MAX / 2u ? KTIMER_MAX : h->cap * 2u;
    ktimer_slot *slots = ksys_alloc_zeroed((size_t)cap * sizeof *slots);
    ktimer_entry *heap = ksys_alloc_zeroed((size_t)cap * sizeof *heap);
    if (slots == NULL || heap == NULL) {
        ksys_release(slots);
        ksys_release(heap);
        return KEEL_ERR_NO_MEMORY;
    }
    /* Copied element by element: memcpy is slice.c's alone. */
    for (uint32_t k = 0; k < h->used; k++) {
        slots[k] = h->slots[k];
        heap[k] = h->heap[k];
    }
    ksys_release(h->slots);
    ksys_release(h->heap);
    h->slots = slots;
    h->heap = heap;
    h->cap = cap;
    return KEEL_OK;
}
#endif
