/*
 * src/json/json_extract.c - keel_json_extract: a table of fields filled
 * from a document in one walk (see include/keel/json.h).
 *
 * The walk is keel_json_validate's (kjson_walk: the tokenizer and the
 * repeated-key check), so the whole document is validated; on the way, the
 * key of a member of an object the table describes is looked up among that
 * object's fields, and the value that follows is recorded as a span
 * (offsets) when its kind is the one the field asks for. Nothing is decoded
 * during the walk and nothing is written through the caller's pointers:
 * after it, numbers are converted into locals, strings are appended, and
 * then the destinations are written.
 *
 * The table (at most KEEL_JSON_FIELDS_MAX entries) is checked before the
 * walk. The checks and the walk (ext_walk_doc) are proven; the writes
 * through the destinations (ext_fill, keel_json_extract) are not (see
 * ext_fill and proofs/README.md).
 */
#include "json/json_internal.h"

#include "keel/json.h"
#include "keel/slice.h"

/*@ predicate field_arg{L}(keel_json_field f) =
      slice_arg(f.name) &&
      (f.i64 != \null ==> \valid(f.i64)) &&
      (f.f64 != \null ==> \valid(f.f64)) &&
      (f.flag != \null ==> \valid(f.flag)) &&
      (f.value != \null ==> \valid(f.value)) &&
      (f.present != \null ==> \valid(f.present)) &&
      buf_arg(f.string);
    predicate fields_arg{L}(keel_json_field *f, integer n) =
      f == \null ||
      (\valid_read(f + (0 .. n - 1)) && \forall integer k; 0 <= k < n ==> field_arg(f[k]));
    // The entries as the C checks leave them (ext_field_ok).
    predicate plan_ok{L}(keel_json_field *p, integer n) =
      \forall integer k; 0 <= k < n ==>
        valid_slice(p[k].name) && p[k].parent <= k &&
        KEEL_JSON_FIELD_I64 <= p[k].type <= KEEL_JSON_FIELD_OBJECT;
*/

/* What the walk keeps: the levels of objects the table describes that are
 * open (level L's members are at depth L + 1; its object is the field
 * parent[L] - 1, or the top level for 0), the field whose value comes
 * next, the container a VALUE field is taking whole, each field's span,
 * and the first field error. */
typedef struct ext_walk {
    size_t levels;
    size_t parent[KEEL_JSON_FIELDS_MAX + 1u];
    size_t open[KEEL_JSON_FIELDS_MAX + 1u]; /* each level's '{' */
    size_t pending;                         /* field index + 1, or 0 */
    size_t taking;                          /* field index + 1, or 0 */
    uint32_t taking_depth;
    uint64_t seen;                          /* bit k: field k has its span */
    kjson_span span[KEEL_JSON_FIELDS_MAX];
    keel_result fail;                       /* KEEL_OK, or the first field error */
    size_t fail_field;                      /* its field index + 1, or 0 */
    size_t fail_at;
    keel_json_type fail_got;
} ext_walk;

/* What the walk's indexes keep to (the spans' offsets are checked where
 * they are used: ext_value). */
/*@ predicate ext_ok(ext_walk x, integer n) =
      0 <= n <= KEEL_JSON_FIELDS_MAX && x.levels <= n + 1 &&
      x.pending <= n && x.taking <= n && x.fail_field <= n;
*/

/* The JSON type of a value token (a container: its opening bracket). */
/*@ assigns \nothing;
    ensures KEEL_JSON_T_NULL <= \result <= KEEL_JSON_T_OBJECT;
*/
static keel_json_type ext_type_of(keel_json_kind kind)
{
    switch (kind) {
    case KEEL_JSON_OBJECT_BEGIN:
        return KEEL_JSON_T_OBJECT;
    case KEEL_JSON_ARRAY_BEGIN:
        return KEEL_JSON_T_ARRAY;
    case KEEL_JSON_STRING:
        return KEEL_JSON_T_STRING;
    case KEEL_JSON_NUMBER:
        return KEEL_JSON_T_NUMBER;
    case KEEL_JSON_TRUE:
    case KEEL_JSON_FALSE:
        return KEEL_JSON_T_BOOL;
    default:
        return KEEL_JSON_T_NULL;
    }
}

/* The JSON type a field of type t takes. */
/*@ assigns \nothing;
    ensures KEEL_JSON_T_NULL <= \result <= KEEL_JSON_T_OBJECT;
*/
static keel_json_type ext_wants(keel_json_field_type t)
{
    switch (t) {
    case KEEL_JSON_FIELD_I64:
    case KEEL_JSON_FIELD_DOUBLE:
        return KEEL_JSON_T_NUMBER;
    case KEEL_JSON_FIELD_BOOL:
        return KEEL_JSON_T_BOOL;
    case KEEL_JSON_FIELD_STRING:
        return KEEL_JSON_T_STRING;
    default:
        return KEEL_JSON_T_OBJECT;
    }
}

/* Whether entry k of the copied table is well formed (its parent an
 * earlier OBJECT entry, its name a valid slice, the destination of its
 * type there). The checks a caller's table gets in C. */
/*@ requires k < KEEL_JSON_FIELDS_MAX && \valid_read(plan + (0 .. k)) && field_arg(plan[k]);
    assigns \nothing;
    ensures \result ==> valid_slice(plan[k].name) && plan[k].parent <= k &&
                        KEEL_JSON_FIELD_I64 <= plan[k].type <= KEEL_JSON_FIELD_OBJECT;
*/
static bool ext_field_ok(const keel_json_field *plan, size_t k)
{
    const keel_json_field *f = &plan[k];
    //@ assert \valid_read(f);
    if (!keel_slice_valid(f->name) || f->parent > k ||
        (f->parent > 0 && plan[f->parent - 1u].type != KEEL_JSON_FIELD_OBJECT)) {
        return false;
    }
    switch (f->type) {
    case KEEL_JSON_FIELD_I64:
        return f->i64 != NULL;
    case KEEL_JSON_FIELD_DOUBLE:
        return f->f64 != NULL;
    case KEEL_JSON_FIELD_BOOL:
        return f->flag != NULL;
    case KEEL_JSON_FIELD_STRING:
        return f->string != NULL && keel_buf_valid(f->string);
    case KEEL_JSON_FIELD_VALUE:
        return f->value != NULL;
    case KEEL_JSON_FIELD_OBJECT:
        return true;
    default:
        return false;
    }
}

/* Record the first field error (later ones are not looked for). */
/*@ requires \valid(x);
    assigns x->fail, x->fail_field, x->fail_at, x->fail_got;
    ensures x->fail == r && x->fail_field == field && x->fail_at == at;
*/
static void ext_fail(ext_walk *x, keel_result r, size_t field, size_t at, keel_json_type got)
{
    x->fail = r;
    x->fail_field = field;
    x->fail_at = at;
    x->fail_got = got;
}

/* Whether a key's body (its bytes between the quotes) decodes to name:
 * decoding only shortens, and the first byte is itself or starts an
 * escape, so most keys are told apart without decoding. */
/*@ requires valid_slice(body) && valid_slice(name);
    assigns \nothing;
*/
static bool ext_name_is(keel_slice body, keel_slice name)
{
    if (name.len > body.len ||
        (name.len > 0 && body.ptr[0] != name.ptr[0] && body.ptr[0] != '\\')) {
        return false;
    }
    return kjson_str_eq(body, name);
}

/* The field among level l's that a key names (body: the key's bytes
 * between its quotes), as index + 1; 0 when none does. */
/*@ requires valid_slice(body) && n <= KEEL_JSON_FIELDS_MAX;
    requires \valid_read(plan + (0 .. n - 1)) && plan_ok(plan, n);
    assigns \nothing;
    ensures \result <= n;
*/
static size_t ext_match(const keel_json_field *plan, size_t n, size_t parent, keel_slice body)
{
    /*@ loop invariant 0 <= k <= n;
        loop assigns k;
        loop variant n - k;
    */
    for (size_t k = 0; k < n; k++) {
        if (plan[k].parent == parent && ext_name_is(body, plan[k].name)) {
            return k + 1u;
        }
    }
    return 0;
}

/* The value token tok for field k: its span when its kind is the one
 * asked for (a level pushed for an OBJECT field, a container a VALUE field
 * takes whole), a field error otherwise. */
/*@ requires \valid(x) && \valid_read(plan + (0 .. n - 1)) && plan_ok(plan, n);
    requires ext_ok(*x, n) && k < n;
    requires x->fail == KEEL_OK;
    assigns *x;
    ensures ext_ok(*x, n);
*/
static void ext_take(ext_walk *x, const keel_json_field *plan, size_t n, size_t k, kjson_tok tok)
{
    const keel_json_field *f = &plan[k];
    keel_json_type got = ext_type_of(tok.kind);
    if ((x->seen >> k) & 1u) {
        return; /* a repeated key, allowed: the first member counts */
    }
    if (f->type == KEEL_JSON_FIELD_VALUE) {
        x->span[k].type = got;
        x->span[k].start = tok.start;
        x->span[k].end = tok.end;
        x->seen |= (uint64_t)1 << k;
        if (tok.kind == KEEL_JSON_OBJECT_BEGIN || tok.kind == KEEL_JSON_ARRAY_BEGIN) {
            x->taking = k + 1u;
            x->taking_depth = tok.depth;
        }
        return;
    }
    if (got == KEEL_JSON_T_NULL && !f->required) {
        return; /* an optional field set to null: absent */
    }
    if (got != ext_wants(f->type)) {
        ext_fail(x, KEEL_ERR_TYPE, k + 1u, tok.start, got);
        return;
    }
    x->span[k].type = got;
    x->span[k].start = tok.start;
    x->span[k].end = tok.end;
    x->seen |= (uint64_t)1 << k;
    if (f->type == KEEL_JSON_FIELD_OBJECT && x->levels <= n) {
        x->parent[x->levels] = k + 1u;
        x->open[x->levels] = tok.start;
        x->levels++;
    }
}

/* The object of level levels - 1 closes: its required fields must all
 * have been seen. */
/*@ requires \valid(x) && \valid_read(plan + (0 .. n - 1)) && plan_ok(plan, n);
    requires ext_ok(*x, n) && x->levels > 0 && x->fail == KEEL_OK;
    assigns *x;
    ensures ext_ok(*x, n);
*/
static void ext_close(ext_walk *x, const keel_json_field *plan, size_t n)
{
    size_t l = x->levels - 1u;
    size_t parent = x->parent[l];
    size_t k = 0;
    /*@ loop invariant 0 <= k <= n;
        loop assigns k;
        loop variant n - k;
    */
    while (k < n &&
           !(plan[k].parent == parent && plan[k].required && ((x->seen >> k) & 1u) == 0)) {
        k++;
    }
    if (k < n) {
        ext_fail(x, KEEL_ERR_NOT_FOUND, k + 1u, x->open[l], (keel_json_type)0);
    }
    x->levels = l;
}

/* One token of the walk. */
/*@ requires \valid(x) && \valid_read(plan + (0 .. n - 1)) && plan_ok(plan, n);
    requires valid_slice(doc) && ext_ok(*x, n);
    requires tok.start <= tok.end <= doc.len;
    assigns *x;
    ensures ext_ok(*x, n);
*/
static void ext_token(ext_walk *x, const keel_json_field *plan, size_t n, keel_slice doc,
                      kjson_tok tok)
{
    if (x->fail != KEEL_OK) {
        return; /* the rest is only validated */
    }
    if (x->taking > 0) {
        /* Inside a value a VALUE field takes whole: only its end matters. */
        if ((tok.kind == KEEL_JSON_OBJECT_END || tok.kind == KEEL_JSON_ARRAY_END) &&
            tok.depth == x->taking_depth) {
            x->span[x->taking - 1u].end = tok.end;
            x->taking = 0;
        }
        return;
    }
    if (tok.kind == KEEL_JSON_KEY) {
        x->pending = 0;
        if (x->levels > 0 && tok.depth == x->levels && tok.end - tok.start >= 2u) {
            keel_slice body = { &doc.ptr[tok.start + 1u], tok.end - tok.start - 2u };
            x->pending = ext_match(plan, n, x->parent[x->levels - 1u], body);
        }
        return;
    }
    if (tok.kind == KEEL_JSON_OBJECT_END || tok.kind == KEEL_JSON_ARRAY_END) {
        if (tok.kind == KEEL_JSON_OBJECT_END && x->levels > 0 && tok.depth + 1u == x->levels) {
            ext_close(x, plan, n);
        }
        return;
    }
    /* A value. */
    if (tok.depth == 0) {
        if (tok.kind != KEEL_JSON_OBJECT_BEGIN) {
            ext_fail(x, KEEL_ERR_TYPE, 0, tok.start, ext_type_of(tok.kind));
            return;
        }
        x->parent[0] = 0;
        x->open[0] = tok.start;
        x->levels = 1;
        return;
    }
    size_t k = x->pending;
    x->pending = 0;
    if (k > 0 && tok.depth == x->levels) {
        ext_take(x, plan, n, k - 1u, tok);
    }
}

/* The value field k's span stands for, as a keel_json_value (empty if the
 * span is not inside doc, which a walk never leaves). */
/*@ requires valid_slice(doc) && \valid(v);
    assigns *v;
    ensures valid_slice(v->raw);
*/
static void ext_value(keel_slice doc, kjson_span sp, keel_json_value *v)
{
    keel_slice raw = { NULL, 0 };
    if (sp.start < sp.end && sp.end <= doc.len) {
        raw.ptr = &doc.ptr[sp.start];
        raw.len = sp.end - sp.start;
    }
    v->type = sp.type;
    v->raw = raw;
    v->offset = sp.start;
}

/* A conversion of field k failed with r: the report. */
/*@ requires \valid(e) && \valid_read(x) && k < KEEL_JSON_FIELDS_MAX;
    assigns e->field_index, e->offset, e->got;
    ensures \result == r;
*/
static keel_result ext_conv_fail(keel_json_extract_error *e, const ext_walk *x, size_t k,
                                 keel_result r)
{
    e->field_index = k + 1u;
    e->offset = x->span[k].start;
    e->got = r == KEEL_ERR_TYPE ? x->span[k].type : (keel_json_type)0;
    return r;
}

/* Whether v converts to a double (the value is thrown away: the
 * destination is written only once every field has converted). */
/*@ requires \valid_read(v) && valid_slice(v->raw);
    assigns \nothing;
*/
static keel_result ext_double_ok(const keel_json_value *v)
{
    double d;
    return keel_json_get_double(v, &d);
}

/* Numbers converted, integers into locals: the first failure. (A BOOL
 * field's value is true or false already: the walk checked its kind.) */
/*@ requires \valid_read(x) && \valid(e) && valid_slice(doc) && n <= KEEL_JSON_FIELDS_MAX;
    requires \valid_read(plan + (0 .. n - 1)) && plan_ok(plan, n) && ext_ok(*x, n);
    requires \valid(iv + (0 .. KEEL_JSON_FIELDS_MAX - 1));
    assigns e->field_index, e->offset, e->got, iv[0 .. KEEL_JSON_FIELDS_MAX - 1];
*/
static keel_result ext_convert(const ext_walk *x, const keel_json_field *plan, size_t n,
                               keel_slice doc, keel_json_extract_error *e, int64_t *iv)
{
    keel_json_value v;
    /*@ loop invariant 0 <= k <= n;
        loop assigns k, v, iv[0 .. KEEL_JSON_FIELDS_MAX - 1];
        loop variant n - k;
    */
    for (size_t k = 0; k < n; k++) {
        keel_result r = KEEL_OK;
        if (((x->seen >> k) & 1u) == 0) {
            continue;
        }
        ext_value(doc, x->span[k], &v);
        if (plan[k].type == KEEL_JSON_FIELD_I64) {
            r = keel_json_get_i64(&v, &iv[k]);
        } else if (plan[k].type == KEEL_JSON_FIELD_DOUBLE) {
            r = ext_double_ok(&v);
        }
        if (r != KEEL_OK) {
            return ext_conv_fail(e, x, k, r);
        }
    }
    return KEEL_OK;
}

/* After a walk with no error: numbers converted (into locals), strings
 * appended, then the other destinations and the present flags written.
 * Everything it needs of the table is read before the first write.
 * Outside the proofs (proofs/modules.txt: skip=): proving these writes
 * would need every destination apart from the table and from every other
 * destination, a quantified separation the provers did not discharge; it
 * is tested (test_json_extract, fuzz_json's differential property). */
static keel_result ext_fill(const ext_walk *x, const keel_json_field *fields, size_t n,
                            keel_slice doc, keel_json_extract_error *e)
{
    int64_t iv[KEEL_JSON_FIELDS_MAX];
    KEEL_TRY(ext_convert(x, fields, n, doc, e, iv));
    /* The table, read whole before anything is written: a destination
     * that overlapped it could not redirect a later store. */
    keel_json_field plan[KEEL_JSON_FIELDS_MAX];
    for (size_t k = 0; k < n; k++) {
        plan[k] = fields[k];
    }
    keel_json_value v;
    for (size_t k = 0; k < n; k++) {
        if (((x->seen >> k) & 1u) != 0 && plan[k].type == KEEL_JSON_FIELD_STRING) {
            ext_value(doc, x->span[k], &v);
            keel_result r = keel_json_get_string(&v, plan[k].string);
            if (r != KEEL_OK) {
                return ext_conv_fail(e, x, k, r);
            }
        }
    }
    for (size_t k = 0; k < n; k++) {
        bool seen = ((x->seen >> k) & 1u) != 0;
        keel_json_field_type t = plan[k].type;
        if (seen && t != KEEL_JSON_FIELD_STRING && t != KEEL_JSON_FIELD_OBJECT) {
            ext_value(doc, x->span[k], &v);
            if (t == KEEL_JSON_FIELD_I64) {
                *plan[k].i64 = iv[k];
            } else if (t == KEEL_JSON_FIELD_BOOL) {
                *plan[k].flag = v.raw.len > 0 && v.raw.ptr[0] == 't';
            } else if (t == KEEL_JSON_FIELD_VALUE) {
                *plan[k].value = v;
            } else if (keel_json_get_double(&v, plan[k].f64) != KEEL_OK) {
                /* Converted once already (ext_convert): the same text. */
                return ext_conv_fail(e, x, k, KEEL_ERR_PARSE);
            }
        }
        if (plan[k].present != NULL) {
            *plan[k].present = seen;
        }
    }
    return KEEL_OK;
}

/* err (if not NULL) gets e, with field as a pointer into the caller's table. */
/*@ requires \valid_read(e) && (err == \null || \valid(err));
    assigns *err;
    ensures \result == r;
*/
static keel_result ext_done(keel_json_extract_error *err, const keel_json_extract_error *e,
                            const keel_json_field *fields, size_t count, keel_result r)
{
    if (err != NULL) {
        err->json = e->json;
        err->field = fields != NULL && e->field_index > 0 && e->field_index <= count
                         ? &fields[e->field_index - 1u]
                         : NULL;
        err->field_index = err->field != NULL ? e->field_index : 0;
        err->offset = e->offset;
        err->got = e->got;
    }
    return r;
}

/* The table checked, then the walk: the document validated and each
 * field's span found. KEEL_OK, KEEL_ERR_INVALID_ARG (nothing written),
 * the validator's failure (e->json says where and why) or the first field
 * error (e->field_index, offset, got; e->field is the caller's to set).
 * Reads the table and the document; writes only *x and *e, and those
 * only after the table's checks. */
/*@ requires slice_arg(doc);
    requires count <= KEEL_JSON_FIELDS_MAX ==> fields_arg(fields, count);
    requires opts == \null || \valid_read(opts);
    requires \valid(x) && \valid(e) && \separated(x, e);
    assigns *x, *e;
*/
static keel_result ext_walk_doc(keel_slice doc, const keel_json_field *fields, size_t count,
                                const keel_json_parse_options *opts, ext_walk *x,
                                keel_json_extract_error *e)
{
    if ((fields == NULL && count > 0) || count > KEEL_JSON_FIELDS_MAX) {
        return KEEL_ERR_INVALID_ARG;
    }
    //@ assert count > 0 ==> fields != \null && \valid_read(fields + (0 .. count - 1));
    /*@ loop invariant 0 <= k <= count;
        loop invariant \forall integer j; 0 <= j < k ==>
          valid_slice(fields[j].name) && fields[j].parent <= j &&
          KEEL_JSON_FIELD_I64 <= fields[j].type <= KEEL_JSON_FIELD_OBJECT;
        loop assigns k;
        loop variant count - k;
    */
    for (size_t k = 0; k < count; k++) {
        if (!ext_field_ok(fields, k)) {
            return KEEL_ERR_INVALID_ARG;
        }
    }
    //@ assert plan_ok(fields, count);
    kjson_walk w;
    keel_result r = kjson_walk_init(&w, doc, opts != NULL ? opts->max_depth : 0u,
                                    opts == NULL || !opts->allow_duplicate_keys);
    if (r != KEEL_OK) {
        return r;
    }
    /* The walk's state and report are locals until the end: nothing the
     * walk writes is near the table it reads. */
    ext_walk lx;
    lx.levels = 0;
    lx.pending = 0;
    lx.taking = 0;
    lx.taking_depth = 0;
    lx.seen = 0;
    lx.fail = KEEL_OK;
    lx.fail_field = 0;
    lx.fail_at = 0;
    lx.fail_got = (keel_json_type)0;
    kjson_tok tok = { KEEL_JSON_END, 0, 0, 0 };
    /*@ loop invariant walk_shape(w) && w.t.doc == doc && ext_ok(lx, count);
        loop assigns w.t.pos, w.t.depth, w.t.state, w.t.err,
                     w.t.stack[0 .. KEEL_JSON_DEPTH_CAP / 64 - 1], w.dups, w.repeated, w.dup, tok, r, lx;
        loop variant doc.len - w.t.pos;
    */
    for (;;) {
        r = kjson_walk_next(&w, &tok);
        if (r != KEEL_OK || tok.kind == KEEL_JSON_END) {
            break;
        }
        ext_token(&lx, fields, count, doc, tok);
    }
    keel_json_error je = { 0, KEEL_JSON_OK };
    r = kjson_walk_end(&w, r, &je);
    *x = lx;
    e->json = je;
    if (r != KEEL_OK) {
        e->offset = je.offset;
        return r;
    }
    if (lx.fail != KEEL_OK) {
        e->field_index = lx.fail_field;
        e->offset = lx.fail_at;
        e->got = lx.fail_got;
        return lx.fail;
    }
    return KEEL_OK;
}

/* Outside the proofs (proofs/modules.txt: skip=), with ext_fill: the
 * writes through the table's destinations. The walk above is proven. */
keel_result keel_json_extract(keel_slice doc, const keel_json_field *fields, size_t count,
                              const keel_json_parse_options *opts, keel_json_extract_error *err)
{
    ext_walk x;
    keel_json_extract_error e;
    e.json.offset = 0;
    e.json.reason = KEEL_JSON_OK;
    e.field = NULL;
    e.field_index = 0;
    e.offset = 0;
    e.got = (keel_json_type)0;
    keel_result r = ext_walk_doc(doc, fields, count, opts, &x, &e);
    if (r == KEEL_OK) {
        r = ext_fill(&x, fields, count, doc, &e);
    }
    return ext_done(err, &e, fields, count, r);
}
