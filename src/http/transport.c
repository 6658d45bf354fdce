/*
 * src/http/transport.c - the plain connection of the HTTP server and client
 * (src/http/http_transport.h): keel_stream's calls behind khttp_stream_ops.
 */
#include "http/http_transport.h"

static keel_result khttp_plain_write(void *s, keel_slice data)
{
    return keel_stream_write(s, data);
}

static bool khttp_plain_can_write(const void *s)
{
    return keel_stream_can_write(s);
}

static size_t khttp_plain_queued(const void *s)
{
    return keel_stream_queued(s);
}

static void khttp_plain_read_stop(void *s)
{
    keel_stream_read_stop(s);
}

static void khttp_plain_read_start(void *s)
{
    keel_stream_read_start(s);
}

static keel_result khttp_plain_shutdown(void *s)
{
    return keel_stream_shutdown(s);
}

static void khttp_plain_close(void *s)
{
    keel_stream_close(s);
}

static void khttp_plain_abort(void *s)
{
    keel_stream_abort(s);
}

static void khttp_plain_set_user(void *s, void *user)
{
    keel_stream_set_user(s, user);
}

static keel_loop *khttp_plain_loop(const void *s)
{
    return keel_stream_loop(s);
}

const khttp_stream_ops khttp_plain_ops = {
    .write = khttp_plain_write,
    .can_write = khttp_plain_can_write,
    .queued = khttp_plain_queued,
    .read_stop = khttp_plain_read_stop,
    .read_start = khttp_plain_read_start,
    .shutdown = khttp_plain_shutdown,
    .close = khttp_plain_close,
    .abort = khttp_plain_abort,
    .set_user = khttp_plain_set_user,
    .loop = khttp_plain_loop,
};
