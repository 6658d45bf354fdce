/*
 * tests/codec/test_framed.c - framed streams (keel/framed.h) over real
 * loopback connections: lines whole and in order however they are split,
 * the last unterminated line at EOF, answers in the peer's terminator, an
 * over-long line refused with a reply the peer reads before an orderly end,
 * frames both ways and a cut frame, back-pressure that pauses reading
 * instead of dropping, writes refused whole, a framed server on keel_server,
 * and the argument checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/framed.h"
#include "net_test_util.h"
#include "loop_test_util.h"

static int fds_before;

static int setup(void **state)
{
    (void)state;
    fds_before = nt_count_fds();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return nt_fds_unchanged(fds_before);
}

/* What a framed stream saw. echo: write every item back. */
typedef struct seen {
    char items[64][64];
    size_t count;
    size_t bytes;          /* of every item */
    bool echo;
    const char *reply;     /* written in on_end, if any */
    int ends;
    keel_result end;
    int closes;
    keel_result close_r;
    bool closed;
    keel_framed *f;
} seen;

static void on_item(keel_framed *f, keel_slice item, void *user)
{
    seen *w = user;
    if (w->count < 64) {
        snprintf(w->items[w->count], sizeof w->items[0], "%.*s", (int)item.len,
                 (const char *)item.ptr);
    }
    w->count++;
    w->bytes += item.len;
    if (w->echo) {
        assert_int_equal(keel_framed_write(f, item), KEEL_OK);
    }
}

static void on_end(keel_framed *f, keel_result r, void *user)
{
    seen *w = user;
    w->ends++;
    w->end = r;
    if (w->reply != NULL) {
        assert_int_equal(keel_framed_write(f, keel_slice_cstr(w->reply)), KEEL_OK);
    }
}

static void on_close(keel_framed *f, keel_result r, void *user)
{
    (void)f;
    seen *w = user;
    w->closes++;
    w->close_r = r;
    w->closed = true;
}

static const keel_framed_handlers handlers = {
    .on_item = on_item,
    .on_end = on_end,
    .on_close = on_close,
};

/* A loopback pair: *raw stays a blocking keel_net, the other end becomes
 * a framed stream (small kernel buffers with small). */
static keel_framed *framed_pair(keel_loop *loop, const keel_framed_opts *codec,
                                const keel_stream_opts *so, seen *w, keel_net **raw, bool small)
{
    keel_net *mine = NULL;
    nt_tcp_pair(KEEL_AF_INET4, raw, &mine);
    if (small) {
        assert_int_equal(keel_net_set_buffer_sizes(mine, 16384, 16384), KEEL_OK);
        assert_int_equal(keel_net_set_buffer_sizes(*raw, 16384, 16384), KEEL_OK);
    }
    keel_framed *f = NULL;
    assert_int_equal(keel_framed_adopt(loop, mine, codec, &handlers, so, w, &f), KEEL_OK);
    w->f = f;
    return f;
}

static void send_str(keel_net *raw, const char *s)
{
    assert_int_equal(keel_net_send_all(raw, keel_slice_cstr(s), NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
}

/* Everything raw receives until the peer's end; its result. */
static keel_result read_all(keel_net *raw, keel_buf *b)
{
    keel_result r = KEEL_OK;
    while (r == KEEL_OK) {
        r = keel_net_recv_timeout(raw, b, NT_IO_TIMEOUT_MS, NULL);
    }
    return r;
}

/* ---- lines ------------------------------------------------------------------------ */

static void test_lines_whole_in_order_with_the_last_one_at_eof(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    seen w = { .echo = true };
    keel_net *raw = NULL;
    keel_framed_opts codec = { .line_mode = KEEL_LINE_ANY };
    framed_pair(loop, &codec, NULL, &w, &raw, false);
    /* Split inside lines and terminators; the loop runs between pieces. */
    const char *pieces[] = { "a", "\nb", "b\r", "\n", "", "ccc" };
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        if (pieces[i][0] != '\0') {
            send_str(raw, pieces[i]);
        }
        lt_run_for(loop, 20);
    }
    assert_int_equal(keel_net_shutdown(raw, KEEL_SHUT_WR), KEEL_OK);
    lt_run_until(loop, &w.closed, LT_DEADLINE_MS);
    assert_int_equal(w.count, 3);
    assert_string_equal(w.items[0], "a");
    assert_string_equal(w.items[1], "bb");
    assert_string_equal(w.items[2], "ccc");
    assert_int_equal(w.ends, 1);
    assert_int_equal(w.end, KEEL_ERR_CLOSED);
    assert_int_equal(w.closes, 1);
    assert_int_equal(w.close_r, KEEL_OK);
    /* Echoed in the terminator the peer used last (LF, CRLF, CRLF). */
    uint8_t mem[64];
    keel_buf b = nt_buf(mem, sizeof mem);
    assert_int_equal(read_all(raw, &b), KEEL_ERR_CLOSED);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("a\nbb\r\nccc\r\n")));
    keel_net_free(raw);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
}

/* An over-long line: no part of it is delivered; on_end's reply reaches the
 * peer, followed by an orderly end although it sent more after. */
static void test_over_long_line_is_refused_with_a_reply_the_peer_reads(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    seen w = { .reply = "error: too long" };
    keel_net *raw = NULL;
    keel_framed_opts codec = { .max_item = 16, .linger_ms = 5000 };
    framed_pair(loop, &codec, NULL, &w, &raw, false);
    send_str(raw, "short\n0123456789abcdefXYZ");
    static uint8_t more[64 * 1024];
    memset(more, 'y', sizeof more);
    assert_int_equal(keel_net_send_all(raw, nt_slice(more, sizeof more), NT_IO_TIMEOUT_MS, NULL),
                     KEEL_OK);
    lt_run_for(loop, 100);
    assert_int_equal(w.count, 1);
    assert_string_equal(w.items[0], "short");
    assert_int_equal(w.ends, 1);
    assert_int_equal(w.end, KEEL_ERR_TOO_LARGE);
    uint8_t mem[64];
    keel_buf b = nt_buf(mem, sizeof mem);
    assert_int_equal(read_all(raw, &b), KEEL_ERR_CLOSED); /* not a reset */
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("error: too long\n")));
    assert_int_equal(keel_net_shutdown(raw, KEEL_SHUT_WR), KEEL_OK);
    lt_run_until(loop, &w.closed, LT_DEADLINE_MS);
    assert_int_equal(w.close_r, KEEL_OK);
    assert_int_equal(w.count, 1);
    keel_net_free(raw);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
}

/* ---- frames ----------------------------------------------------------------------------- */

static void test_frames_both_ways_and_a_cut_frame_at_eof(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    seen w = { .echo = true };
    keel_net *raw = NULL;
    keel_framed_opts codec = { .framing = KEEL_FRAMING_FRAMES, .prefix_width = 2 };
    framed_pair(loop, &codec, NULL, &w, &raw, false);
    static const uint8_t in[] = { 0, 3, 'a', 'b', 'c', 0, 0, 0, 5, 'x' };
    assert_int_equal(keel_net_send_all(raw, nt_slice(in, sizeof in), NT_IO_TIMEOUT_MS, NULL),
                     KEEL_OK);
    assert_int_equal(keel_net_shutdown(raw, KEEL_SHUT_WR), KEEL_OK);
    lt_run_until(loop, &w.closed, LT_DEADLINE_MS);
    assert_int_equal(w.count, 2);
    assert_string_equal(w.items[0], "abc");
    assert_string_equal(w.items[1], "");
    assert_int_equal(w.end, KEEL_ERR_INCOMPLETE); /* 5 announced, 1 came */
    uint8_t mem[64];
    keel_buf b = nt_buf(mem, sizeof mem);
    assert_int_equal(read_all(raw, &b), KEEL_ERR_CLOSED);
    static const uint8_t back[] = { 0, 3, 'a', 'b', 'c', 0, 0 };
    assert_true(keel_slice_eq(keel_buf_slice(&b), nt_slice(back, sizeof back)));
    keel_net_free(raw);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
}

/* ---- back-pressure ------------------------------------------------------------------------ */

/* Run loop until *v reaches want (bounded). */
static void run_until_size(keel_loop *loop, const size_t *v, size_t want)
{
    uint64_t end = nt_now_ms() + LT_DEADLINE_MS;
    while (*v < want) {
        assert_true(nt_now_ms() < end);
        assert_int_equal(keel_loop_run_once(loop, 20), KEEL_OK);
    }
}

/* A peer that sends and does not read the echoes: reading pauses (the
 * echoes stay within the caps, nothing is dropped), and everything goes
 * through once it reads. The input is net_test_util's byte pattern cut
 * into lines at its LF bytes (at most a few hundred bytes apart), ending
 * with one: the LF-mode echo of every line is then the input itself. */
static void test_back_pressure_pauses_reading_and_drops_nothing(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    seen w = { .echo = true };
    keel_net *raw = NULL;
    keel_stream_opts so = { .write_high = 4096, .write_cap = 65536 };
    keel_framed_opts codec = { .max_item = 2048 };
    keel_framed *f = framed_pair(loop, &codec, &so, &w, &raw, true);
    size_t total = 300000;
    uint8_t last = 0;
    while (nt_fill(&last, 1, total - 1), last != '\n') {
        total++;
    }
    lt_peer p = { .sending = true, .to_send = total };
    lt_peer_start(loop, &p, raw);
    lt_run_for(loop, 300);
    assert_true(w.bytes > 0);
    assert_true(w.bytes < total / 2); /* paused: most of the input waits */
    assert_true(keel_stream_queued(keel_framed_stream(f)) <= so.write_cap);
    assert_int_equal(w.ends, 0);
    /* Now the peer reads too: every byte comes back. */
    p.reading = true;
    lt_peer_watch(&p);
    run_until_size(loop, &p.sent, total);
    assert_int_equal(keel_net_shutdown(raw, KEEL_SHUT_WR), KEEL_OK);
    lt_run_until(loop, &w.closed, LT_DEADLINE_MS);
    lt_run_until(loop, &p.ended, LT_DEADLINE_MS);
    assert_int_equal(w.end, KEEL_ERR_CLOSED);
    assert_int_equal(w.close_r, KEEL_OK);
    assert_int_equal(p.received, total);
    assert_false(p.pattern_broken);
    assert_int_equal(p.end, KEEL_ERR_CLOSED);
    lt_peer_free(&p);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
}

/* ---- writes ----------------------------------------------------------------------------------- */

static void test_writes_refuse_what_the_peer_would_refuse(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    seen w = { 0 };
    keel_net *raw = NULL;
    keel_framed_opts codec = { .max_item = 8, .line_mode = KEEL_LINE_CRLF };
    keel_framed *f = framed_pair(loop, &codec, NULL, &w, &raw, false);
    assert_int_equal(keel_framed_write(f, KEEL_STR("123456789")), KEEL_ERR_TOO_LARGE);
    assert_int_equal(keel_framed_write(f, KEEL_STR("a\nb")), KEEL_ERR_PARSE);
    assert_int_equal(keel_framed_write(f, KEEL_STR("a\rb")), KEEL_ERR_PARSE);
    keel_slice bad = { NULL, 1 };
    assert_int_equal(keel_framed_write(f, bad), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_framed_write(NULL, KEEL_STR("x")), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_framed_write(f, KEEL_STR("12345678")), KEEL_OK);
    keel_framed_close(f);
    assert_int_equal(keel_framed_write(f, KEEL_STR("late")), KEEL_ERR_STATE);
    uint8_t mem[64];
    keel_buf b = nt_buf(mem, sizeof mem);
    assert_int_equal(read_all(raw, &b), KEEL_ERR_CLOSED);
    assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("12345678\r\n")));
    assert_int_equal(keel_net_shutdown(raw, KEEL_SHUT_WR), KEEL_OK); /* ends the linger */
    lt_run_until(loop, &w.closed, LT_DEADLINE_MS);
    assert_int_equal(w.ends, 0); /* a local close tells no end */
    assert_int_equal(w.close_r, KEEL_OK);
    keel_net_free(raw);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
}

/* ---- a framed server --------------------------------------------------------------------- */

/* The server's two loop threads share this: the count is atomic. */
typedef struct srv_state {
    atomic_int opens;
} srv_state;

static void srv_open(keel_framed *f, void *user)
{
    srv_state *st = user;
    atomic_fetch_add(&st->opens, 1);
    keel_framed_set_user(f, NULL);
}

/* "N item" for each item: N counts the server's items so far. */
static void srv_item(keel_framed *f, keel_slice item, void *user)
{
    (void)user;
    assert_null(keel_framed_user(f));
    char out[96];
    int n = snprintf(out, sizeof out, "got %.*s", (int)item.len, (const char *)item.ptr);
    assert_int_equal(keel_framed_write(f, nt_slice(out, (size_t)n)), KEEL_OK);
}

static const keel_framed_handlers srv_handlers = { .on_open = srv_open, .on_item = srv_item };

static void test_framed_server_answers_lines(void **state)
{
    (void)state;
    srv_state st;
    atomic_init(&st.opens, 0);
    keel_framed_server_opts fo = { .handlers = &srv_handlers, .user = &st };
    keel_server_opts base = { .ip = KEEL_STR("127.0.0.1"), .threads = 2 };
    keel_server *srv = NULL;
    assert_int_equal(keel_framed_server_start(&base, &fo, &srv), KEEL_OK);
    uint16_t port = 0;
    assert_int_equal(keel_server_port(srv, &port), KEEL_OK);
    for (int c = 0; c < 3; c++) {
        keel_net *n = nt_new();
        assert_int_equal(keel_net_connect(n, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP,
                                          NT_IO_TIMEOUT_MS),
                         KEEL_OK);
        send_str(n, "one\ntwo\nthree");
        assert_int_equal(keel_net_shutdown(n, KEEL_SHUT_WR), KEEL_OK);
        uint8_t mem[128];
        keel_buf b = nt_buf(mem, sizeof mem);
        assert_int_equal(read_all(n, &b), KEEL_ERR_CLOSED);
        assert_true(keel_slice_eq(keel_buf_slice(&b), KEEL_STR("got one\ngot two\ngot three\n")));
        keel_net_free(n);
    }
    keel_server_shutdown(srv, 1000);
    assert_int_equal(keel_server_wait(srv), KEEL_OK);
    keel_server_free(srv);
    assert_int_equal(atomic_load(&st.opens), 3);
}

/* ---- arguments ------------------------------------------------------------------------------- */

static void test_arguments_are_checked(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    keel_net *a = NULL, *b = NULL;
    nt_tcp_pair(KEEL_AF_INET4, &a, &b);
    seen w = { 0 };
    keel_framed *f = NULL;
    keel_framed_handlers no_item = { .on_end = on_end };
    keel_framed_opts bad_framing = { .framing = (keel_framing)7 };
    keel_framed_opts bad_mode = { .line_mode = (keel_line_mode)9 };
    keel_framed_opts bad_width = { .framing = KEEL_FRAMING_FRAMES, .prefix_width = 3 };
    keel_framed_opts too_big = { .max_item = 70000 };
    assert_int_equal(keel_framed_adopt(NULL, b, NULL, &handlers, NULL, &w, &f),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_framed_adopt(loop, NULL, NULL, &handlers, NULL, &w, &f),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_framed_adopt(loop, b, NULL, &no_item, NULL, &w, &f),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_framed_adopt(loop, b, &bad_framing, &handlers, NULL, &w, &f),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_framed_adopt(loop, b, &bad_mode, &handlers, NULL, &w, &f),
                     KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_framed_adopt(loop, b, &bad_width, &handlers, NULL, &w, &f),
                     KEEL_ERR_INVALID_ARG);
    /* 70,000 bytes do not fit the default 64 KiB read cap... */
    assert_int_equal(keel_framed_adopt(loop, b, &too_big, &handlers, NULL, &w, &f),
                     KEEL_ERR_INVALID_ARG);
    assert_null(f);
    keel_server_opts base = { .ip = KEEL_STR("127.0.0.1"), .threads = 1, .user = &w };
    keel_framed_server_opts fo = { .handlers = &handlers };
    keel_server *srv = NULL;
    assert_int_equal(keel_framed_server_start(&base, &fo, &srv), KEEL_ERR_INVALID_ARG);
    base.user = NULL;
    fo.codec = &too_big;
    assert_int_equal(keel_framed_server_start(&base, &fo, &srv), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_framed_server_start(NULL, &fo, &srv), KEEL_ERR_INVALID_ARG);
    assert_null(srv);
    /* ...a bigger one does; the socket is the stream's now. */
    keel_stream_opts so = { .read_cap = 80000 };
    assert_int_equal(keel_framed_adopt(loop, b, &too_big, &handlers, &so, &w, &f), KEEL_OK);
    keel_framed_abort(f);
    lt_run_until(loop, &w.closed, LT_DEADLINE_MS);
    assert_int_equal(w.closes, 1);
    keel_net_free(a);
    assert_int_equal(keel_loop_run(loop), KEEL_OK);
    keel_loop_free(loop);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines_whole_in_order_with_the_last_one_at_eof, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_over_long_line_is_refused_with_a_reply_the_peer_reads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_frames_both_ways_and_a_cut_frame_at_eof, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_back_pressure_pauses_reading_and_drops_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_writes_refuse_what_the_peer_would_refuse, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_framed_server_answers_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arguments_are_checked, setup, teardown),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}
