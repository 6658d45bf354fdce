/*
 * tests/codec/test_reader.c - keel_reader over real loopback TCP: lines and
 * frames sent in small pieces with delays come out whole and in order
 * through a storage smaller than the stream (compaction), an over-long line
 * is TOO_LARGE before the storage fills, a deadline gives TIMEOUT without
 * losing the partial item, EOF gives CLOSED / the unterminated last line /
 * INCOMPLETE for a truncated frame, and bytes after the last item stay
 * available through keel_reader_buffered.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/reader.h"
#include "net_test_util.h"

typedef struct pair {
    keel_net *client; /* writes */
    keel_net *server; /* read through the keel_reader */
} pair;

static int setup_pair(void **state)
{
    static pair p;
    nt_tcp_pair(KEEL_AF_INET4, &p.client, &p.server);
    *state = &p;
    return 0;
}

static int teardown_pair(void **state)
{
    pair *p = *state;
    keel_net_free(p->client);
    keel_net_free(p->server);
    return 0;
}

static void send_all(keel_net *n, const void *data, size_t len)
{
    size_t sent = 0;
    assert_int_equal(keel_net_send_all(n, nt_slice(data, len), NT_IO_TIMEOUT_MS, &sent), KEEL_OK);
    assert_int_equal(sent, len);
}

static void send_str(keel_net *n, const char *s)
{
    send_all(n, s, strlen(s));
}

static void assert_slice_is(keel_slice s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    if (s.len > 0) {
        assert_memory_equal(s.ptr, want, s.len);
    }
}

/* A writer thread: sends data in pieces of `piece` bytes, sleeping between
 * them, then optionally half-closes. */
typedef struct dribble {
    keel_net *net;
    const uint8_t *data;
    size_t len;
    size_t piece;
    bool close_after;
} dribble;

static void *dribble_main(void *arg)
{
    dribble *d = arg;
    for (size_t off = 0; off < d->len; off += d->piece) {
        size_t n = d->len - off < d->piece ? d->len - off : d->piece;
        size_t sent = 0;
        if (keel_net_send_all(d->net, nt_slice(d->data + off, n), NT_IO_TIMEOUT_MS, &sent) !=
            KEEL_OK) {
            return (void *)1;
        }
        usleep(1000);
    }
    if (d->close_after && keel_net_shutdown(d->net, KEEL_SHUT_WR) != KEEL_OK) {
        return (void *)1;
    }
    return NULL;
}

static void reader_over(keel_reader *r, keel_net *n, uint8_t *store, size_t cap)
{
    keel_buf b = nt_buf(store, cap);
    assert_int_equal(keel_reader_init(r, n, b), KEEL_OK);
}

static void test_reader_lines_in_small_delayed_pieces(void **state)
{
    pair *p = *state;
    /* 40 lines of varying length through 24 bytes of storage. */
    static char text[2048];
    size_t len = 0;
    for (int i = 0; i < 40; i++) {
        len += (size_t)snprintf(text + len, sizeof text - len, "line %d %.*s%s", i, i % 9,
                                "xxxxxxxxx", i % 2 ? "\r\n" : "\n");
    }
    dribble d = { p->client, (const uint8_t *)text, len, 3, true };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, dribble_main, &d), 0);

    uint8_t store[24];
    keel_reader r;
    reader_over(&r, p->server, store, sizeof store);
    keel_line_decoder dec;
    assert_int_equal(keel_line_decoder_init(&dec, 20, KEEL_LINE_ANY), KEEL_OK);
    for (int i = 0; i < 40; i++) {
        char want[32];
        snprintf(want, sizeof want, "line %d %.*s", i, i % 9, "xxxxxxxxx");
        keel_slice line;
        assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_OK);
        assert_slice_is(line, want);
    }
    keel_slice line;
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_ERR_CLOSED);
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_ERR_CLOSED);
    void *ret = NULL;
    assert_int_equal(pthread_join(th, &ret), 0);
    assert_null(ret);
}

static void test_reader_frames_in_small_delayed_pieces(void **state)
{
    pair *p = *state;
    keel_frame_decoder dec;
    assert_int_equal(keel_frame_decoder_init(&dec, 2, 100), KEEL_OK);
    static uint8_t wire[4096];
    keel_buf w = nt_buf(wire, sizeof wire);
    uint8_t payload[100];
    size_t sizes[] = { 0, 1, 100, 2, 99, 0, 50, 7 };
    size_t stream_pos = 0;
    for (size_t i = 0; i < 8; i++) {
        nt_fill(payload, sizes[i], stream_pos);
        stream_pos += sizes[i];
        assert_int_equal(keel_frame_encode(&w, &dec, nt_slice(payload, sizes[i])), KEEL_OK);
    }
    dribble d = { p->client, wire, w.len, 5, true };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, dribble_main, &d), 0);

    uint8_t store[102]; /* exactly width + max_frame */
    keel_reader r;
    reader_over(&r, p->server, store, sizeof store);
    stream_pos = 0;
    for (size_t i = 0; i < 8; i++) {
        keel_slice pl;
        assert_int_equal(keel_reader_read_frame(&r, &dec, NT_IO_TIMEOUT_MS, &pl), KEEL_OK);
        assert_int_equal(pl.len, sizes[i]);
        assert_int_equal(nt_check(pl.ptr, pl.len, stream_pos), pl.len);
        stream_pos += sizes[i];
    }
    keel_slice pl;
    assert_int_equal(keel_reader_read_frame(&r, &dec, NT_IO_TIMEOUT_MS, &pl), KEEL_ERR_CLOSED);
    void *ret = NULL;
    assert_int_equal(pthread_join(th, &ret), 0);
    assert_null(ret);
}

static void test_reader_line_longer_than_max_is_too_large(void **state)
{
    pair *p = *state;
    uint8_t store[16];
    keel_reader r;
    reader_over(&r, p->server, store, sizeof store);
    keel_line_decoder dec;
    assert_int_equal(keel_line_decoder_init(&dec, 8, KEEL_LINE_LF), KEEL_OK);
    send_str(p->client, "short\n0123456789abcdef\n");
    keel_slice line;
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_OK);
    assert_slice_is(line, "short");
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_ERR_TOO_LARGE);
    /* Sticky: the offending bytes stay; the same answer comes again. */
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_ERR_TOO_LARGE);
    assert_true(keel_reader_buffered(&r).len >= 9);
}

static void test_reader_frame_over_max_is_too_large_before_body(void **state)
{
    pair *p = *state;
    uint8_t store[64];
    keel_reader r;
    reader_over(&r, p->server, store, sizeof store);
    keel_frame_decoder dec;
    assert_int_equal(keel_frame_decoder_init(&dec, 4, 60), KEEL_OK);
    /* The prefix alone claims 4 GiB: no body is ever sent. */
    send_all(p->client, "\xff\xff\xff\xff", 4);
    keel_slice pl;
    assert_int_equal(keel_reader_read_frame(&r, &dec, NT_IO_TIMEOUT_MS, &pl), KEEL_ERR_TOO_LARGE);
}

static void test_reader_timeout_keeps_partial_item(void **state)
{
    pair *p = *state;
    uint8_t store[32];
    keel_reader r;
    reader_over(&r, p->server, store, sizeof store);
    keel_line_decoder dec;
    assert_int_equal(keel_line_decoder_init(&dec, 30, KEEL_LINE_CRLF), KEEL_OK);
    keel_slice line = { NULL, 0 };
    /* Nothing at all: TIMEOUT, also with timeout 0. */
    assert_int_equal(keel_reader_read_line(&r, &dec, 0, &line), KEEL_ERR_TIMEOUT);
    uint64_t t0 = nt_now_ms();
    assert_int_equal(keel_reader_read_line(&r, &dec, 100, &line), KEEL_ERR_TIMEOUT);
    uint64_t took = nt_now_ms() - t0;
    assert_true(took >= 90);
    assert_true(took < 100u + 10000u); /* generous: a loaded 2-core machine */
    /* Half a line, with the CR: TIMEOUT, then the rest completes it. */
    send_str(p->client, "hello\r");
    assert_int_equal(keel_reader_read_line(&r, &dec, 100, &line), KEEL_ERR_TIMEOUT);
    assert_slice_is(keel_reader_buffered(&r), "hello\r");
    send_str(p->client, "\nnext\r\n");
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_OK);
    assert_slice_is(line, "hello");
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_OK);
    assert_slice_is(line, "next");
}

static void test_reader_eof_cases(void **state)
{
    pair *p = *state;
    uint8_t store[32];
    keel_reader r;
    keel_line_decoder dec;
    assert_int_equal(keel_line_decoder_init(&dec, 30, KEEL_LINE_ANY), KEEL_OK);
    reader_over(&r, p->server, store, sizeof store);
    /* An unterminated last line is returned at EOF, then CLOSED. */
    send_str(p->client, "a\nlast");
    assert_int_equal(keel_net_shutdown(p->client, KEEL_SHUT_WR), KEEL_OK);
    keel_slice line;
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_OK);
    assert_slice_is(line, "a");
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_OK);
    assert_slice_is(line, "last");
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_ERR_CLOSED);
    assert_int_equal(keel_reader_buffered(&r).len, 0);
}

static void test_reader_eof_in_partial_frame_is_incomplete(void **state)
{
    pair *p = *state;
    uint8_t store[32];
    keel_reader r;
    keel_frame_decoder dec;
    assert_int_equal(keel_frame_decoder_init(&dec, 1, 20), KEEL_OK);
    reader_over(&r, p->server, store, sizeof store);
    send_all(p->client, "\x02hi\x05" "abc", 7);
    assert_int_equal(keel_net_shutdown(p->client, KEEL_SHUT_WR), KEEL_OK);
    keel_slice pl;
    assert_int_equal(keel_reader_read_frame(&r, &dec, NT_IO_TIMEOUT_MS, &pl), KEEL_OK);
    assert_slice_is(pl, "hi");
    assert_int_equal(keel_reader_read_frame(&r, &dec, NT_IO_TIMEOUT_MS, &pl),
                     KEEL_ERR_INCOMPLETE);
    /* Never dropped: the truncated frame's bytes are still there. */
    assert_slice_is(keel_reader_buffered(&r), "\x05" "abc");
    assert_int_equal(keel_reader_read_frame(&r, &dec, NT_IO_TIMEOUT_MS, &pl),
                     KEEL_ERR_INCOMPLETE);
}

static void test_reader_eof_unterminated_crlf_line_is_parse(void **state)
{
    pair *p = *state;
    uint8_t store[32];
    keel_reader r;
    keel_line_decoder dec;
    assert_int_equal(keel_line_decoder_init(&dec, 30, KEEL_LINE_CRLF), KEEL_OK);
    reader_over(&r, p->server, store, sizeof store);
    send_str(p->client, "QUIT");
    assert_int_equal(keel_net_shutdown(p->client, KEEL_SHUT_WR), KEEL_OK);
    keel_slice line;
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_ERR_PARSE);
    assert_slice_is(keel_reader_buffered(&r), "QUIT");
}

static void test_reader_buffered_bytes_survive_protocol_switch(void **state)
{
    pair *p = *state;
    uint8_t store[256];
    keel_reader r;
    keel_line_decoder dec;
    assert_int_equal(keel_line_decoder_init(&dec, 64, KEEL_LINE_ANY), KEEL_OK);
    reader_over(&r, p->server, store, sizeof store);
    /* A text header then binary bytes, in one send: the reader likely
     * receives some of the binary part with the header. */
    uint8_t msg[6 + 150];
    memcpy(msg, "HELLO\n", 6);
    nt_fill(msg + 6, 150, 0);
    send_all(p->client, msg, sizeof msg);
    keel_net_close(p->client);
    keel_slice line;
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_OK);
    assert_slice_is(line, "HELLO");
    /* Whatever was buffered plus what the socket still holds is exactly the
     * binary part, in order. */
    keel_slice rest = keel_reader_buffered(&r);
    uint8_t all[200];
    keel_buf b = nt_buf(all, sizeof all);
    assert_int_equal(keel_buf_append(&b, rest), KEEL_OK);
    for (;;) {
        size_t got = 0;
        keel_result res = keel_net_recv_timeout(p->server, &b, NT_IO_TIMEOUT_MS, &got);
        if (res == KEEL_ERR_CLOSED) {
            break;
        }
        assert_int_equal(res, KEEL_OK);
    }
    assert_int_equal(b.len, 150);
    assert_int_equal(nt_check(all, 150, 0), 150);
}

static void test_reader_storage_prefilled_counts_as_received(void **state)
{
    pair *p = *state;
    uint8_t store[32];
    memcpy(store, "pre\nfix", 7);
    keel_buf b = nt_buf(store, sizeof store);
    assert_int_equal(keel_buf_commit(&b, 7), KEEL_OK);
    keel_reader r;
    assert_int_equal(keel_reader_init(&r, p->server, b), KEEL_OK);
    keel_line_decoder dec;
    assert_int_equal(keel_line_decoder_init(&dec, 16, KEEL_LINE_LF), KEEL_OK);
    send_str(p->client, "ed\n");
    keel_slice line;
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_OK);
    assert_slice_is(line, "pre");
    assert_int_equal(keel_reader_read_line(&r, &dec, NT_IO_TIMEOUT_MS, &line), KEEL_OK);
    assert_slice_is(line, "fixed");
}

static void test_reader_invalid_arguments(void **state)
{
    pair *p = *state;
    uint8_t store[16];
    keel_buf b = nt_buf(store, sizeof store);
    keel_reader r;
    keel_buf empty = { NULL, 0, 0 }, bad = { NULL, 4, 0 };
    assert_int_equal(keel_reader_init(NULL, p->server, b), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_reader_init(&r, NULL, b), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_reader_init(&r, p->server, empty), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_reader_init(&r, p->server, bad), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_reader_init(&r, p->server, b), KEEL_OK);
    keel_slice out;
    keel_line_decoder ld;
    keel_frame_decoder fd;
    /* The largest item must fit the storage: 14 + CRLF = 16 fits, 15 not. */
    assert_int_equal(keel_line_decoder_init(&ld, 15, KEEL_LINE_ANY), KEEL_OK);
    assert_int_equal(keel_reader_read_line(&r, &ld, 0, &out), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_line_decoder_init(&ld, 14, KEEL_LINE_ANY), KEEL_OK);
    assert_int_equal(keel_reader_read_line(&r, &ld, 0, &out), KEEL_ERR_TIMEOUT);
    assert_int_equal(keel_line_decoder_init(&ld, SIZE_MAX, KEEL_LINE_LF), KEEL_OK);
    assert_int_equal(keel_reader_read_line(&r, &ld, 0, &out), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_frame_decoder_init(&fd, 2, 15), KEEL_OK);
    assert_int_equal(keel_reader_read_frame(&r, &fd, 0, &out), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_frame_decoder_init(&fd, 2, 14), KEEL_OK);
    assert_int_equal(keel_reader_read_frame(&r, &fd, 0, &out), KEEL_ERR_TIMEOUT);
    assert_int_equal(keel_reader_read_line(&r, NULL, 0, &out), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_reader_read_frame(&r, NULL, 0, &out), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_reader_read_frame(&r, &fd, 0, NULL), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_reader_read_frame(NULL, &fd, 0, &out), KEEL_ERR_INVALID_ARG);
    fd.width = 3;
    assert_int_equal(keel_reader_read_frame(&r, &fd, 0, &out), KEEL_ERR_INVALID_ARG);
    assert_int_equal(keel_reader_buffered(NULL).len, 0);
}

static void test_reader_max_frame_beyond_prefix_range_is_clamped(void **state)
{
    pair *p = *state;
    uint8_t store[256]; /* 1 + 255: any 1-byte frame fits */
    keel_reader r;
    reader_over(&r, p->server, store, sizeof store);
    keel_frame_decoder fd;
    assert_int_equal(keel_frame_decoder_init(&fd, 1, SIZE_MAX), KEEL_OK);
    send_all(p->client, "\x01z", 2);
    keel_slice pl;
    assert_int_equal(keel_reader_read_frame(&r, &fd, NT_IO_TIMEOUT_MS, &pl), KEEL_OK);
    assert_slice_is(pl, "z");
}

#define PAIR_TEST(f) cmocka_unit_test_setup_teardown(f, setup_pair, teardown_pair)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        PAIR_TEST(test_reader_lines_in_small_delayed_pieces),
        PAIR_TEST(test_reader_frames_in_small_delayed_pieces),
        PAIR_TEST(test_reader_line_longer_than_max_is_too_large),
        PAIR_TEST(test_reader_frame_over_max_is_too_large_before_body),
        PAIR_TEST(test_reader_timeout_keeps_partial_item),
        PAIR_TEST(test_reader_eof_cases),
        PAIR_TEST(test_reader_eof_in_partial_frame_is_incomplete),
        PAIR_TEST(test_reader_eof_unterminated_crlf_line_is_parse),
        PAIR_TEST(test_reader_buffered_bytes_survive_protocol_switch),
        PAIR_TEST(test_reader_storage_prefilled_counts_as_received),
        PAIR_TEST(test_reader_invalid_arguments),
        PAIR_TEST(test_reader_max_frame_beyond_prefix_range_is_clamped),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}
