/*
 * tests/loop/test_loop_os_error.c - a stream keeps the OS error behind its
 * failures (keel_stream_last_os_error, the loop's twin of
 * keel_net_last_os_error): an errno keel has no name for is KEEL_ERR_OS and
 * the errno itself stays readable, from on_close too; a real reset keeps
 * ECONNRESET; a stream that never failed answers 0.
 *
 * Faults come through the syscall seam (src/core/sys.h); keel_sys_reset()
 * after every test, which also checks that no descriptor leaked.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_main.h"

#include "keel/loop.h"
#include "net_test_util.h"
#include "loop_test_util.h"
#include "core/sys.h"

static int fds_before;
static int forced_errno;

static int setup(void **state)
{
    (void)state;
    keel_sys_reset();
    forced_errno = 0;
    fds_before = nt_count_fds();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    keel_sys_reset();
    return nt_fds_unchanged(fds_before);
}

static ssize_t recv_fails(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
                          socklen_t *salen)
{
    (void)fd;
    (void)buf;
    (void)len;
    (void)flags;
    (void)sa;
    (void)salen;
    errno = forced_errno;
    return -1;
}

static ssize_t send_fails(int fd, const void *buf, size_t len, int flags,
                          const struct sockaddr *sa, socklen_t salen)
{
    (void)fd;
    (void)buf;
    (void)len;
    (void)flags;
    (void)sa;
    (void)salen;
    errno = forced_errno;
    return -1;
}

/* What a stream's callbacks saw, and what keel_stream_last_os_error said
 * in on_read's last call and in on_close. */
typedef struct seen {
    lt_events e;
    int os_at_read_end;
    int os_at_close;
} seen;

static size_t seen_read(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    seen *x = user;
    if (r != KEEL_OK) {
        lt_note_end(&x->e, r, data);
        x->os_at_read_end = keel_stream_last_os_error(s);
        if (r == KEEL_ERR_CLOSED) {
            keel_stream_close(s); /* the peer is done: so are we */
        }
        return 0;
    }
    x->e.reads++;
    return lt_take(&x->e, data);
}

static void seen_close(keel_stream *s, keel_result r, void *user)
{
    seen *x = user;
    x->os_at_close = keel_stream_last_os_error(s);
    lt_on_close(s, r, &x->e);
}

static const keel_stream_handlers seen_handlers = {
    .on_read = seen_read,
    .on_close = seen_close,
};

static keel_stream *adopt(keel_loop *loop, seen *x, keel_net **peer)
{
    keel_net *mine = NULL;
    nt_tcp_pair(KEEL_AF_INET4, peer, &mine);
    keel_stream *s = NULL;
    assert_int_equal(keel_stream_adopt(loop, mine, &seen_handlers, NULL, x, &s), KEEL_OK);
    x->e.s = s;
    return s;
}

static void test_unnamed_errno_on_read_is_os_and_kept(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    seen x = { 0 };
    keel_net *peer = NULL;
    keel_stream *s = adopt(loop, &x, &peer);
    assert_int_equal(keel_stream_last_os_error(s), 0);
    forced_errno = EIO; /* nothing keel names: KEEL_ERR_OS */
    keel_sys.recvfrom = recv_fails;
    size_t sent = 0;
    assert_int_equal(keel_net_send(peer, KEEL_STR("x"), &sent), KEEL_OK);
    lt_run_until(loop, &x.e.closed, LT_DEADLINE_MS);
    assert_int_equal(x.e.read_end, KEEL_ERR_OS);
    assert_int_equal(x.e.close_r, KEEL_ERR_OS);
    assert_int_equal(x.os_at_read_end, EIO);
    assert_int_equal(x.os_at_close, EIO);
    keel_sys_reset();
    keel_net_free(peer);
    keel_loop_free(loop);
}

static void test_unnamed_errno_on_write_is_os_and_kept(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    seen x = { 0 };
    keel_net *peer = NULL;
    keel_stream *s = adopt(loop, &x, &peer);
    forced_errno = EPROTO;
    keel_sys.sendto = send_fails;
    /* The write fails now and says so; the stream fails with it. */
    assert_int_equal(keel_stream_write(s, KEEL_STR("hello")), KEEL_ERR_OS);
    assert_int_equal(keel_stream_last_os_error(s), EPROTO);
    lt_run_until(loop, &x.e.closed, LT_DEADLINE_MS);
    assert_int_equal(x.e.close_r, KEEL_ERR_OS);
    assert_int_equal(x.os_at_close, EPROTO);
    keel_sys_reset();
    keel_net_free(peer);
    keel_loop_free(loop);
}

static void test_real_reset_keeps_econnreset(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    seen x = { 0 };
    keel_net *peer = NULL;
    keel_stream *s = adopt(loop, &x, &peer);
    /* Unread bytes at close make the kernel reset the connection. */
    assert_int_equal(keel_stream_write(s, KEEL_STR("unread")), KEEL_OK);
    uint8_t st[1];
    keel_buf b = nt_buf(st, sizeof st);
    assert_int_equal(keel_net_recv_timeout(peer, &b, NT_IO_TIMEOUT_MS, NULL), KEEL_OK);
    keel_net_free(peer);
    lt_run_until(loop, &x.e.closed, LT_DEADLINE_MS);
    assert_int_equal(x.e.close_r, KEEL_ERR_RESET);
    assert_int_equal(x.os_at_close, ECONNRESET);
    keel_loop_free(loop);
}

static void test_no_failure_no_os_error(void **state)
{
    (void)state;
    keel_loop *loop = lt_loop();
    seen x = { 0 };
    keel_net *peer = NULL;
    keel_stream *s = adopt(loop, &x, &peer);
    size_t sent = 0;
    assert_int_equal(keel_net_send(peer, KEEL_STR("abc"), &sent), KEEL_OK);
    keel_net_close(peer); /* an orderly end: CLOSED, not an OS error */
    lt_run_until(loop, &x.e.closed, LT_DEADLINE_MS);
    assert_int_equal(x.e.read_end, KEEL_ERR_CLOSED);
    assert_int_equal(x.os_at_read_end, 0);
    assert_int_equal(keel_stream_last_os_error(NULL), 0);
    (void)s;
    keel_net_free(peer);
    keel_loop_free(loop);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unnamed_errno_on_read_is_os_and_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unnamed_errno_on_write_is_os_and_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_real_reset_keeps_econnreset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_failure_no_os_error, setup, teardown),
    };
    return kt_main(argc, argv, tests, KT_COUNT(tests), NULL, NULL);
}
