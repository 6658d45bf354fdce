/*
 * tests/loop/test_timer.c - the loop's timer heap (src/loop/timer.c) on its own,
 * against a plain reference model: order by (deadline, arming order), ids
 * that go stale, removal from the middle, re-arming, growth, allocation
 * failure, and 100,000 timers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "test_main.h"

#include "loop/timer.h"
#include "core/sys.h"

/* A reference timer: what the heap must agree with. */
typedef struct ref_timer {
    uint64_t id;
    uint64_t deadline;
    uint64_t seq;
    uintptr_t tag;
} ref_timer;

typedef struct model {
    ktimer_heap h;
    ref_timer *live;
    size_t n;
    size_t cap;
    uint64_t seq;
    uint64_t *dead; /* ids that fired or were cancelled */
    size_t ndead;
    size_t dead_cap;
} model;

static uint64_t rng_state;

static uint32_t rng(void)
{
    /* xorshift64*: fixed seed, so a failure replays identically */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static void dummy_cb(keel_loop *loop, keel_timer_id id, void *user)
{
    (void)loop;
    (void)id;
    (void)user;
}

static void model_init(model *m, size_t cap)
{
    ktimer_init(&m->h);
    m->live = calloc(cap, sizeof *m->live);
    m->dead = calloc(cap * 4, sizeof *m->dead);
    assert_non_null(m->live);
    assert_non_null(m->dead);
    m->n = 0;
    m->cap = cap;
    m->seq = 0;
    m->ndead = 0;
    m->dead_cap = cap * 4;
}

static void model_free(model *m)
{
    ktimer_free(&m->h);
    assert_true(ktimer_valid(&m->h));
    assert_int_equal(m->h.cap, 0);
    free(m->live);
    free(m->dead);
}

static void note_dead(model *m, uint64_t id)
{
    if (m->ndead < m->dead_cap) {
        m->dead[m->ndead++] = id;
    }
}

static uint64_t add(model *m, uint64_t deadline, uintptr_t tag)
{
    assert_int_equal(ktimer_reserve(&m->h), KEEL_OK);
    assert_true(ktimer_has_room(&m->h));
    uint64_t id = ktimer_insert(&m->h, deadline, 0, dummy_cb, (void *)tag);
    assert_int_not_equal(id, 0);
    assert_true(m->n < m->cap);
    m->live[m->n++] = (ref_timer){ id, deadline, m->seq++, tag };
    return id;
}

static size_t ref_min(const model *m)
{
    size_t best = 0;
    for (size_t i = 1; i < m->n; i++) {
        const ref_timer *a = &m->live[i], *b = &m->live[best];
        if (a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq)) {
            best = i;
        }
    }
    return best;
}

static void ref_drop(model *m, size_t i)
{
    note_dead(m, m->live[i].id);
    m->live[i] = m->live[--m->n];
}

/* Pop the earliest timer and check it is the reference's earliest. */
static void pop(model *m)
{
    uint32_t slot;
    if (m->n == 0) {
        assert_int_equal(ktimer_first(&m->h, &slot), KEEL_ERR_NOT_FOUND);
        return;
    }
    assert_int_equal(ktimer_first(&m->h, &slot), KEEL_OK);
    size_t i = ref_min(m);
    assert_int_equal(ktimer_id(&m->h, slot), m->live[i].id);
    assert_int_equal(m->h.heap[0].deadline, m->live[i].deadline);
    assert_ptr_equal(m->h.slots[slot].user, (void *)m->live[i].tag);
    ktimer_remove(&m->h, slot);
    ref_drop(m, i);
}

static void cancel_at(model *m, size_t i)
{
    uint32_t slot;
    assert_int_equal(ktimer_lookup(&m->h, m->live[i].id, &slot), KEEL_OK);
    ktimer_remove(&m->h, slot);
    ref_drop(m, i);
}

static void check(const model *m)
{
    assert_true(ktimer_valid(&m->h));
    assert_int_equal(m->h.count, m->n);
    uint32_t slot;
    for (size_t i = 0; i < m->n; i++) {
        assert_int_equal(ktimer_lookup(&m->h, m->live[i].id, &slot), KEEL_OK);
        assert_int_equal(ktimer_id(&m->h, slot), m->live[i].id);
    }
    for (size_t i = 0; i < m->ndead; i++) {
        assert_int_equal(ktimer_lookup(&m->h, m->dead[i], &slot), KEEL_ERR_NOT_FOUND);
    }
}

static void empty_heap_has_no_first_and_no_live_id(void **state)
{
    (void)state;
    ktimer_heap h;
    ktimer_init(&h);
    uint32_t slot = 77;
    assert_true(ktimer_valid(&h));
    assert_false(ktimer_has_room(&h));
    assert_int_equal(ktimer_first(&h, &slot), KEEL_ERR_NOT_FOUND);
    assert_int_equal(ktimer_lookup(&h, 0, &slot), KEEL_ERR_NOT_FOUND);
    assert_int_equal(ktimer_lookup(&h, 1, &slot), KEEL_ERR_NOT_FOUND);
    assert_int_equal(ktimer_lookup(&h, UINT64_MAX, &slot), KEEL_ERR_NOT_FOUND);
    assert_int_equal(slot, 77);
    ktimer_free(&h);
}

static void equal_deadlines_pop_in_arming_order(void **state)
{
    (void)state;
    model m;
    model_init(&m, 64);
    for (uintptr_t k = 0; k < 40; k++) {
        add(&m, 5, k);
    }
    for (uintptr_t k = 0; k < 40; k++) {
        uint32_t slot;
        assert_int_equal(ktimer_first(&m.h, &slot), KEEL_OK);
        assert_ptr_equal(m.h.slots[slot].user, (void *)k);
        pop(&m);
        check(&m);
    }
    model_free(&m);
}

static void cancelled_and_fired_ids_go_stale_and_slots_are_reused(void **state)
{
    (void)state;
    model m;
    model_init(&m, 8);
    uint64_t a = add(&m, 10, 1);
    uint64_t b = add(&m, 20, 2);
    cancel_at(&m, 0); /* a */
    uint32_t slot;
    assert_int_equal(ktimer_lookup(&m.h, a, &slot), KEEL_ERR_NOT_FOUND);
    uint64_t c = add(&m, 5, 3);
    /* c reuses a's slot under a new generation: same low half, new id */
    assert_int_equal(c & 0xffffffffu, a & 0xffffffffu);
    assert_int_not_equal(c, a);
    assert_int_equal(ktimer_lookup(&m.h, a, &slot), KEEL_ERR_NOT_FOUND);
    pop(&m); /* c */
    assert_int_equal(ktimer_lookup(&m.h, c, &slot), KEEL_ERR_NOT_FOUND);
    assert_int_equal(ktimer_lookup(&m.h, b, &slot), KEEL_OK);
    /* ids past the slots in use, and a live slot with the wrong generation */
    assert_int_equal(ktimer_lookup(&m.h, (b & 0xffffffffu) + 100u, &slot), KEEL_ERR_NOT_FOUND);
    assert_int_equal(ktimer_lookup(&m.h, b + (7ull << 32), &slot), KEEL_ERR_NOT_FOUND);
    check(&m);
    model_free(&m);
}

static void rearm_moves_a_timer_behind_its_equals(void **state)
{
    (void)state;
    model m;
    model_init(&m, 8);
    uint64_t a = add(&m, 10, 1);
    add(&m, 10, 2);
    add(&m, 30, 3);
    uint32_t slot;
    assert_int_equal(ktimer_lookup(&m.h, a, &slot), KEEL_OK);
    ktimer_rearm(&m.h, slot, 10);
    m.live[0].seq = m.seq++;
    check(&m);
    pop(&m); /* 2 first now */
    assert_int_equal(ktimer_lookup(&m.h, a, &slot), KEEL_OK);
    ktimer_rearm(&m.h, slot, 40); /* later than 3 */
    m.live[0].deadline = 40;
    m.live[0].seq = m.seq++;
    check(&m);
    pop(&m);
    pop(&m);
    assert_int_equal(m.n, 0);
    check(&m);
    model_free(&m);
}

/* Random add / cancel / pop / re-arm / stale-cancel sequences against the
 * reference, checking the whole structure after every step. Deadlines are
 * drawn from a small range so that ties are frequent. */
static void random_operations_match_the_reference(void **state)
{
    (void)state;
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 20; round++) {
        model m;
        model_init(&m, 600);
        for (int step = 0; step < 3000; step++) {
            uint32_t op = rng() % 10;
            if (op < 4 && m.n < m.cap) {
                add(&m, rng() % 50, (uintptr_t)step);
            } else if (op < 6 && m.n > 0) {
                cancel_at(&m, rng() % m.n);
            } else if (op < 8) {
                pop(&m);
            } else if (op < 9 && m.n > 0) {
                size_t i = rng() % m.n;
                uint32_t slot;
                assert_int_equal(ktimer_lookup(&m.h, m.live[i].id, &slot), KEEL_OK);
                uint64_t d = rng() % 50;
                ktimer_rearm(&m.h, slot, d);
                m.live[i].deadline = d;
                m.live[i].seq = m.seq++;
            } else if (m.ndead > 0) {
                uint32_t slot;
                uint64_t stale = m.dead[rng() % m.ndead];
                assert_int_equal(ktimer_lookup(&m.h, stale, &slot), KEEL_ERR_NOT_FOUND);
            }
            if (step % 16 == 0) {
                check(&m);
            } else {
                assert_true(ktimer_valid(&m.h));
            }
        }
        check(&m);
        while (m.n > 0) {
            pop(&m);
        }
        check(&m);
        model_free(&m);
    }
}

static void hundred_thousand_timers_pop_sorted(void **state)
{
    (void)state;
    enum { N = 100000 };
    rng_state = 12345;
    ktimer_heap h;
    ktimer_init(&h);
    for (uint32_t k = 0; k < N; k++) {
        assert_int_equal(ktimer_reserve(&h), KEEL_OK);
        uint64_t id = ktimer_insert(&h, rng() % 1000u, 0, dummy_cb, NULL);
        assert_int_equal(id & 0xffffffffu, (uint64_t)k + 1u);
    }
    assert_true(h.cap >= N);
    assert_true(ktimer_valid(&h));
    uint64_t last_deadline = 0, last_seq = 0;
    for (uint32_t k = 0; k < N; k++) {
        uint32_t slot;
        assert_int_equal(ktimer_first(&h, &slot), KEEL_OK);
        const ktimer_entry *e = &h.heap[0];
        assert_true(e->deadline > last_deadline ||
                    (e->deadline == last_deadline && (k == 0 || e->seq > last_seq)));
        last_deadline = e->deadline;
        last_seq = e->seq;
        ktimer_remove(&h, slot);
    }
    assert_int_equal(h.count, 0);
    assert_true(ktimer_valid(&h));
    ktimer_free(&h);
}

static int fail_alloc_after;
static void *counting_alloc(size_t n)
{
    if (fail_alloc_after-- <= 0) {
        return NULL;
    }
    return calloc(1, n);
}

static void growth_failure_keeps_the_heap_intact(void **state)
{
    (void)state;
    model m;
    model_init(&m, 64);
    for (uintptr_t k = 0; k < 16; k++) {
        add(&m, 100 - k, k); /* fills the first 16 slots */
    }
    assert_false(ktimer_has_room(&m.h));
    for (int after = 0; after < 2; after++) {
        fail_alloc_after = after;
        keel_sys.alloc_zeroed = counting_alloc;
        assert_int_equal(ktimer_reserve(&m.h), KEEL_ERR_NO_MEMORY);
        keel_sys_reset();
        assert_int_equal(m.h.cap, 16);
        check(&m);
    }
    add(&m, 1, 99); /* grows now */
    assert_int_equal(m.h.cap, 32);
    check(&m);
    while (m.n > 0) {
        pop(&m);
    }
    model_free(&m);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_heap_has_no_first_and_no_live_id),
        cmocka_unit_test(equal_deadlines_pop_in_arming_order),
        cmocka_unit_test(cancelled_and_fired_ids_go_stale_and_slots_are_reused),
        cmocka_unit_test(rearm_moves_a_timer_behind_its_equals),
        cmocka_unit_test(random_operations_match_the_reference),
        cmocka_unit_test(hundred_thousand_timers_pop_sorted),
        cmocka_unit_test(growth_failure_keeps_the_heap_intact),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}
