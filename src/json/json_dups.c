/*
 * src/json/json_dups.c - duplicate object keys in a validated document (see
 * keel_json_parse_opts in include/keel/json.h).
 *
 * Two keys are the same when their decoded texts are ("a" and "\u0061"
 * are). No allocation and no pass of its own: the validator hands every
 * token to kjson_dups_token, which remembers the keys of the open objects,
 * up to KJSON_DUPS_KEYS in all, with a hash of each, and compares a new key
 * with its object's earlier keys (the hash first, the decoded text when the
 * hashes are equal): an object of k keys costs O(k^2) hash comparisons,
 * k <= KJSON_DUPS_KEYS. An object whose keys do not all fit is checked
 * whole when it closes (dups_object): its keys taken in blocks of
 * DUPS_BLOCK, each block heap-sorted by decoded text (a repeat inside it
 * sits next to its twin) and every later key looked up in it by binary
 * search, so k keys cost 1 + k / DUPS_BLOCK walks over the object and
 * O(k log k) comparisons, whatever the keys are. Keys made to collide
 * (FNV-1a multicollisions are cheap to build) buy at most KJSON_DUPS_MISSES
 * text comparisons: past them every object is checked by sorting.
 */
#include <stddef.h>
#include <stdint.h>

#include "json/json_internal.h"

/* Keys sorted at a time: 256 offsets, 2 KiB of stack. */
#define DUPS_BLOCK 256u

/* The decoded bytes of a key, one at a time: plain bytes as they are, an
 * escape as the UTF-8 bytes of what it stands for. */
typedef struct dups_cursor {
    size_t pos;   /* next byte of the key's body to read */
    size_t end;   /* its closing quote */
    uint8_t u[4]; /* an escape's bytes */
    size_t un;    /* how many */
    size_t ui;    /* how many of them were given */
} dups_cursor;

/*@ predicate cursor_ok(dups_cursor c, integer n) =
      c.pos <= c.end <= n && c.ui <= c.un <= 4;
    logic integer cursor_left(dups_cursor c) = (c.end - c.pos) * 5 + (c.un - c.ui);
    predicate keys_in{L}(size_t *keys, integer n, integer bound) =
      \forall integer j; 0 <= j < n ==> keys[j] < bound;
*/

/* The next decoded byte into *b: false at the end of the key, or at an
 * escape that does not decode (never in a validated document; the key then
 * reads as ending there). */
/*@ requires valid_slice(s) && \valid(c) && \valid(b) && \separated(c, b);
    requires cursor_ok(*c, s.len);
    assigns *c, *b;
    ensures cursor_ok(*c, s.len);
    ensures \result ==> cursor_left(*c) < cursor_left(\old(*c));
*/
static bool dups_next(keel_slice s, dups_cursor *c, uint8_t *b)
{
    if (c->ui < c->un) {
        *b = c->u[c->ui];
        c->ui++;
        return true;
    }
    if (c->pos >= c->end) {
        return false;
    }
    uint8_t x = s.ptr[c->pos];
    if (x != '\\') {
        *b = x;
        c->pos++;
        return true;
    }
    kjson_char ch;
    if (kjson_escape_decode(s, c->pos, &ch) != KEEL_OK || ch.len > c->end - c->pos) {
        c->pos = c->end;
        return false;
    }
    /* A decoded escape is a scalar value (kjson_escape_decode's contract),
     * so it encodes to 1..4 bytes: WP proves n > 0 here (a check for 0
     * was dead code, which its smoke test found). */
    size_t n = kjson_utf8_put(ch.cp, c->u);
    //@ assert n > 0;
    c->pos += ch.len;
    c->un = n;
    c->ui = 1;
    *b = c->u[0];
    return true;
}

/* The key whose opening quote is s[at]: its body as a cursor. False when
 * s[at] does not start a string of at least its two quotes. */
/*@ requires valid_slice(s) && \valid(c);
    assigns *c;
    ensures \result ==> cursor_ok(*c, s.len);
*/
static bool dups_open(keel_slice s, size_t at, dups_cursor *c)
{
    size_t end = 0;
    if (at >= s.len || s.ptr[at] != '"' || kjson_skip_value(s, at, &end) != KEEL_OK ||
        end - at < 2) {
        return false;
    }
    c->pos = at + 1;
    c->end = end - 1;
    c->un = 0;
    c->ui = 0;
    return true;
}

/* Compare the decoded keys at a and b (their opening quotes): < 0, 0, > 0
 * as memcmp would on the decoded bytes. */
/*@ requires valid_slice(s);
    assigns \nothing;
*/
static int dups_cmp(keel_slice s, size_t a, size_t b)
{
    dups_cursor x;
    dups_cursor y;
    if (!dups_open(s, a, &x) || !dups_open(s, b, &y)) {
        return a < b ? -1 : a > b ? 1 : 0;
    }
    /*@ loop invariant cursor_ok(x, s.len) && cursor_ok(y, s.len);
        loop assigns x, y;
        loop variant cursor_left(x);
    */
    for (;;) {
        uint8_t p = 0;
        uint8_t q = 0;
        bool more_x = dups_next(s, &x, &p);
        bool more_y = dups_next(s, &y, &q);
        if (!more_x || !more_y) {
            return more_x ? 1 : more_y ? -1 : 0;
        }
        if (p != q) {
            return p < q ? -1 : 1;
        }
    }
}

/* Restore the heap property below keys[root] in keys[0 .. n - 1] (the
 * largest key on top). */
/*@ requires valid_slice(s) && n <= DUPS_BLOCK && root < n;
    requires \valid(keys + (0 .. n - 1)) && keys_in(keys, n, s.len);
    assigns keys[0 .. n - 1];
    ensures keys_in(keys, n, s.len);
*/
static void dups_sift(keel_slice s, size_t *keys, size_t n, size_t root)
{
    size_t r = root;
    /*@ loop invariant r < n && keys_in(keys, n, s.len);
        loop assigns r, keys[0 .. n - 1];
        loop variant n - r;
    */
    for (;;) {
        size_t child = 2 * r + 1;
        if (child >= n) {
            return;
        }
        if (child + 1 < n && dups_cmp(s, keys[child], keys[child + 1]) < 0) {
            child++;
        }
        if (dups_cmp(s, keys[r], keys[child]) >= 0) {
            return;
        }
        size_t t = keys[r];
        keys[r] = keys[child];
        keys[child] = t;
        r = child;
    }
}

/* Sort keys[0 .. n - 1] by decoded text (heap sort: no recursion, no
 * allocation, n log n comparisons whatever the input). */
/*@ requires valid_slice(s) && n <= DUPS_BLOCK;
    requires \valid(keys + (0 .. n - 1)) && keys_in(keys, n, s.len);
    assigns keys[0 .. n - 1];
    ensures keys_in(keys, n, s.len);
*/
static void dups_sort(keel_slice s, size_t *keys, size_t n)
{
    /*@ loop invariant i <= n / 2 && keys_in(keys, n, s.len);
        loop assigns i, keys[0 .. n - 1];
        loop variant i;
    */
    for (size_t i = n / 2; i > 0; i--) {
        dups_sift(s, keys, n, i - 1);
    }
    /*@ loop invariant m <= n && keys_in(keys, n, s.len);
        loop assigns m, keys[0 .. n - 1];
        loop variant m;
    */
    for (size_t m = n; m > 1; m--) {
        size_t t = keys[0];
        keys[0] = keys[m - 1];
        keys[m - 1] = t;
        dups_sift(s, keys, m - 1, 0);
    }
}

/* Whether sorted keys[0 .. n - 1] hold a key equal to the one at k. */
/*@ requires valid_slice(s) && n <= DUPS_BLOCK;
    requires \valid_read(keys + (0 .. n - 1));
    assigns \nothing;
*/
static bool dups_find(keel_slice s, const size_t *keys, size_t n, size_t k)
{
    size_t lo = 0;
    size_t hi = n;
    /*@ loop invariant lo <= hi <= n;
        loop assigns lo, hi;
        loop variant hi - lo;
    */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = dups_cmp(s, keys[mid], k);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

/* The object whose opening brace is s[open] (its members are walked up to
 * its closing brace): true with *dup = the offset of a key equal to an
 * earlier key of the same object, false when there is none. For an object
 * with more keys than the walk remembers. */
/*@ requires valid_slice(s) && open < s.len && \valid(dup);
    assigns *dup;
    ensures \result ==> *dup < s.len;
*/
static bool dups_object(keel_slice s, size_t open, size_t *dup)
{
    size_t keys[DUPS_BLOCK];
    size_t next = open; /* the block's first member is the one after next */
    kjson_span key = { KEEL_JSON_T_STRING, 0, 0 };
    kjson_span val = { KEEL_JSON_T_NULL, 0, 0 };

    /*@ loop invariant open <= next <= s.len;
        loop assigns next, key, val, keys[0 .. DUPS_BLOCK - 1], *dup;
        loop variant s.len - next;
    */
    for (;;) {
        size_t n = 0;
        size_t pos = next;
        /*@ loop invariant n <= DUPS_BLOCK && next <= pos <= s.len;
            loop invariant n > 0 ==> next < pos;
            loop invariant keys_in(&keys[0], n, s.len);
            loop assigns n, pos, key, val, keys[0 .. DUPS_BLOCK - 1];
            loop variant DUPS_BLOCK - n;
        */
        while (n < DUPS_BLOCK && kjson_next_child_span(s, true, open, &pos, &key, &val) == KEEL_OK) {
            keys[n] = key.start;
            n++;
        }
        if (n == 0) {
            return false;
        }
        //@ assert next < pos <= s.len;
        dups_sort(s, keys, n);
        /*@ loop invariant 1 <= j <= n && keys_in(&keys[0], n, s.len);
            loop assigns j, *dup;
            loop variant n - j;
        */
        for (size_t j = 1; j < n; j++) {
            if (dups_cmp(s, keys[j - 1], keys[j]) == 0) {
                *dup = keys[j - 1] > keys[j] ? keys[j - 1] : keys[j];
                return true;
            }
        }
        /* The rest of the object against the block. */
        size_t after = pos;
        //@ assert next < after <= s.len;
        /*@ loop invariant next < after <= pos <= s.len;
            loop assigns pos, key, val, *dup;
            loop variant s.len - pos;
        */
        while (kjson_next_child_span(s, true, open, &pos, &key, &val) == KEEL_OK) {
            if (dups_find(s, keys, n, key.start)) {
                *dup = key.start;
                return true;
            }
        }
        next = after;
    }
}

/* ---- following the validator's tokens ---------------------------------- */

/* FNV-1a of the decoded bytes of the key s[at .. end - 1] (quotes
 * included): the plain bytes straight, from the first escape on through
 * the cursor. */
/*@ requires valid_slice(s) && at + 2 <= end <= s.len;
    assigns \nothing;
*/
static uint32_t dups_hash(keel_slice s, size_t at, size_t end)
{
    uint32_t h = 2166136261u;
    size_t j = at + 1;
    size_t stop = end - 1;
    /*@ loop invariant at + 1 <= j <= stop;
        loop assigns j, h;
        loop variant stop - j;
    */
    while (j < stop && s.ptr[j] != '\\') {
        h = (h ^ s.ptr[j]) * 16777619u;
        j++;
    }
    dups_cursor c = { j, stop, { 0, 0, 0, 0 }, 0, 0 };
    uint8_t b = 0;
    /*@ loop invariant cursor_ok(c, s.len);
        loop assigns c, b, h;
        loop variant cursor_left(c);
    */
    while (dups_next(s, &c, &b)) {
        h = (h ^ b) * 16777619u;
    }
    return h;
}

/* Remember the key at `at` of the innermost open object, or find it among
 * that object's keys: true with *dup = at when it repeats one. */
/*@ requires valid_slice(s) && \valid(w) && \valid(dup) && \separated(w, dup);
    requires w->keys <= KJSON_DUPS_KEYS && 0 < w->objs <= KJSON_DUPS_LEVELS;
    requires at + 2 <= end <= s.len;
    assigns w->key_at[0 .. KJSON_DUPS_KEYS - 1], w->key_hash[0 .. KJSON_DUPS_KEYS - 1], w->keys,
            w->obj_over[0 .. KJSON_DUPS_LEVELS - 1], w->misses, w->sorting, *dup;
    ensures w->keys <= KJSON_DUPS_KEYS;
    ensures \result ==> *dup < s.len;
*/
static bool dups_add_key(keel_slice s, kjson_dups *w, size_t at, size_t end, size_t *dup)
{
    size_t o = w->objs - 1;
    size_t base = w->obj_base[o];
    if (w->obj_over[o] || base > w->keys) {
        return false; /* checked whole when it closes */
    }
    uint32_t h = dups_hash(s, at, end);
    /*@ loop invariant base <= j <= w->keys;
        loop assigns j, w->misses;
        loop variant w->keys - j;
    */
    for (size_t j = base; j < w->keys; j++) {
        if (w->key_hash[j] != h) {
            continue;
        }
        if (dups_cmp(s, w->key_at[j], at) == 0) {
            *dup = at;
            return true;
        }
        if (w->misses >= KJSON_DUPS_MISSES) {
            /* Keys made to collide: from here on every object is checked
             * by sorting when it closes (O(k log k) comparisons). */
            w->sorting = true;
            /*@ loop invariant 0 <= k <= w->objs;
                loop assigns k, w->obj_over[0 .. KJSON_DUPS_LEVELS - 1];
                loop variant w->objs - k;
            */
            for (size_t k = 0; k < w->objs; k++) {
                w->obj_over[k] = true;
            }
            return false;
        }
        w->misses++;
    }
    if (w->keys == KJSON_DUPS_KEYS) {
        w->obj_over[o] = true;
        return false;
    }
    w->key_at[w->keys] = at;
    w->key_hash[w->keys] = h;
    w->keys++;
    return false;
}

/* Contract: json_internal.h. */
void kjson_dups_init(kjson_dups *w)
{
    w->keys = 0;
    w->objs = 0;
    w->levels = 0;
    w->lost = false;
    w->misses = 0;
    w->sorting = false;
}

/* Contract: json_internal.h. */
bool kjson_dups_token(keel_slice s, kjson_dups *w, keel_json_kind kind, size_t at, size_t end,
                      size_t *dup)
{
    if (w->lost || w->keys > KJSON_DUPS_KEYS || w->levels > KJSON_DUPS_LEVELS ||
        w->objs > w->levels) {
        w->lost = true;
        return false;
    }
    switch (kind) {
    case KEEL_JSON_OBJECT_BEGIN:
    case KEEL_JSON_ARRAY_BEGIN:
        if (w->levels == KJSON_DUPS_LEVELS) {
            w->lost = true; /* deeper than any document the validator lets through */
            return false;
        }
        w->level_obj[w->levels] = kind == KEEL_JSON_OBJECT_BEGIN;
        w->levels++;
        if (kind == KEEL_JSON_OBJECT_BEGIN) {
            w->obj_open[w->objs] = at;
            w->obj_base[w->objs] = (uint16_t)w->keys;
            w->obj_over[w->objs] = w->sorting;
            w->objs++;
        }
        return false;
    case KEEL_JSON_OBJECT_END:
    case KEEL_JSON_ARRAY_END:
        if (w->levels == 0 || w->level_obj[w->levels - 1] != (kind == KEEL_JSON_OBJECT_END) ||
            (kind == KEEL_JSON_OBJECT_END && w->objs == 0)) {
            w->lost = true; /* not the validator's tokens */
            return false;
        }
        w->levels--;
        if (kind == KEEL_JSON_OBJECT_END) {
            w->objs--;
            size_t base = w->obj_base[w->objs];
            size_t open = w->obj_open[w->objs];
            if (base > w->keys) {
                w->lost = true;
                return false;
            }
            w->keys = base;
            return w->obj_over[w->objs] && open < s.len && dups_object(s, open, dup);
        }
        return false;
    case KEEL_JSON_KEY:
        if (w->objs == 0 || end > s.len || at > end || end - at < 2) {
            w->lost = true; /* not the validator's tokens */
            return false;
        }
        return dups_add_key(s, w, at, end, dup);
    default:
        return false;
    }
}
