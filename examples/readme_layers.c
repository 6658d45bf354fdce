/*
 * examples/readme_layers.c - the README's short examples of KEEL_TRY and of
 * the codec, json and loop layers and of framed streams: each block between guide:NAME markers
 * is in README.md word for word (the test
 * examples_readme_snippets_match_examples checks it).
 *
 *   readme_layers
 *
 * Runs the four: splits received bytes into lines, reads a JSON document
 * into a struct, echoes a line through an async server, and two lines
 * through a framed line server, both started on 127.0.0.1 (port chosen by
 * the system). Prints what each did; exit 0 when all four did what the
 * README says, 1 otherwise.
 */
#include <stdio.h>

#include "keel.h"

/* guide:codec:begin */
/* Print each complete line of the bytes received so far; *used gets how
 * many bytes that consumed (the rest starts a line still arriving). */
static keel_result print_lines(keel_slice received, size_t *used)
{
    keel_line_decoder dec;
    KEEL_TRY(keel_line_decoder_init(&dec, 80 /* longest line */, KEEL_LINE_ANY));
    *used = 0;
    for (;;) {
        keel_slice rest, line;
        size_t n = 0;
        KEEL_TRY(keel_slice_from_off(received, *used, &rest));
        keel_result r = keel_line_decode(&dec, rest, &line, &n);
        if (r == KEEL_ERR_INCOMPLETE) {
            return KEEL_OK; /* no terminator yet: wait for more bytes */
        }
        KEEL_TRY(r); /* TOO_LARGE: a line longer than 80 bytes */
        printf("line: " KEEL_SLICE_FMT "\n", KEEL_SLICE_ARG(line));
        *used += n;
    }
}
/* guide:codec:end */

/* guide:json:begin */
/* {"user": {"name": "...", "id": N}} into a struct. The whole document is
 * validated first; lookups and reads are bounds-checked views into it. */
struct user {
    uint8_t name[32];
    size_t name_len;
    int64_t id;
};

static keel_result read_user(keel_slice text, struct user *u)
{
    keel_json_doc doc;
    keel_json_error err; /* where and why, if the text is not JSON */
    keel_json_value v;
    KEEL_TRY(keel_json_parse(text, 16 /* max depth */, &doc, &err));
    KEEL_TRY(keel_json_find(&doc.root, KEEL_STR(".user.id"), &v));
    KEEL_TRY(keel_json_get_i64(&v, &u->id));
    KEEL_TRY(keel_json_find(&doc.root, KEEL_STR(".user.name"), &v));
    keel_buf name = KEEL_BUF_ARRAY(u->name);
    KEEL_TRY(keel_json_get_string(&v, &name)); /* TOO_LARGE past 32 bytes */
    u->name_len = name.len;
    return KEEL_OK;
}
/* guide:json:end */

/* guide:loop:begin */
/* An async echo server: an event loop per thread, and echo called with
 * the bytes each client sent. */
static size_t echo(keel_stream *s, keel_result r, keel_slice data, void *user)
{
    (void)user;
    if (r == KEEL_ERR_CLOSED) {
        keel_stream_close(s); /* the client is done: flush the echo, close */
        return 0;
    }
    if (r != KEEL_OK) {
        return 0; /* a reset, a timeout...: the stream closes by itself */
    }
    if (keel_stream_write(s, data) != KEEL_OK) {
        keel_stream_abort(s); /* it sends but does not read: over the cap */
    }
    return data.len; /* every byte consumed */
}

static const keel_stream_handlers echo_handlers = { .on_read = echo };

static keel_result start_echo_server(keel_server **srv, uint16_t *port)
{
    keel_server_opts o = {
        .ip = KEEL_STR("127.0.0.1"),
        .port = 0, /* chosen by the system */
        .threads = 2,
        .handlers = &echo_handlers,
    };
    KEEL_TRY(keel_server_start(&o, srv));
    return keel_server_port(*srv, port);
}
/* guide:loop:end */

/* guide:framed:begin */
/* An async line server: each line comes back as it was sent, with the
 * client's own line ending; a line longer than 1 KiB gets an error line,
 * which the client reads before the connection closes; a client that does
 * not read its answers is slowed down, not buffered without end. */
static void on_line(keel_framed *f, keel_slice line, void *user)
{
    (void)user;
    if (keel_framed_write(f, line) != KEEL_OK) {
        keel_framed_abort(f); /* over the write cap */
    }
}

static void on_end(keel_framed *f, keel_result r, void *user)
{
    (void)user;
    if (r == KEEL_ERR_TOO_LARGE && keel_framed_write(f, KEEL_STR("error: too long")) != KEEL_OK) {
        keel_framed_abort(f);
    }
}

static const keel_framed_opts lines = { .max_item = 1024, .line_mode = KEEL_LINE_ANY };
static const keel_framed_handlers line_handlers = { .on_item = on_line, .on_end = on_end };
static const keel_framed_server_opts line_server = { .codec = &lines, .handlers = &line_handlers };

static keel_result start_line_server(keel_server **srv, uint16_t *port)
{
    keel_server_opts o = { .ip = KEEL_STR("127.0.0.1"), .threads = 2 };
    KEEL_TRY(keel_framed_server_start(&o, &line_server, srv));
    return keel_server_port(*srv, port);
}
/* guide:framed:end */

/* guide:try:begin */
/* Send a line, read its echo, say we are done: the first failure is
 * returned as it is, and nothing needs undoing. */
static keel_result ask(keel_net *net, keel_slice line, keel_buf *reply)
{
    KEEL_TRY(keel_net_send_all(net, line, 5000 /* ms */, NULL));
    KEEL_TRY(keel_net_recv_exact(net, reply, line.len, 5000));
    return keel_net_shutdown(net, KEEL_SHUT_WR);
}
/* guide:try:end */

/* One line through the echo server, with the blocking socket layer. The
 * context must be freed whatever happens: no KEEL_TRY after the init. */
static keel_result echo_once(uint16_t port, keel_buf *reply)
{
    keel_net *net = NULL;
    KEEL_TRY(keel_net_init(&net));
    keel_result r = keel_net_connect(net, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, 5000);
    if (r == KEEL_OK) {
        r = ask(net, KEEL_STR("ping\n"), reply);
    }
    keel_net_free(net);
    return r;
}

/* Two lines, then the end, through the line server: what came back. */
static keel_result lines_once(uint16_t port, keel_buf *reply)
{
    keel_net *net = NULL;
    KEEL_TRY(keel_net_init(&net));
    keel_result r = keel_net_connect(net, KEEL_STR("127.0.0.1"), port, KEEL_PROTO_TCP, 5000);
    if (r == KEEL_OK) {
        r = keel_net_send_all(net, KEEL_STR("hello\nworld\r\n"), 5000, NULL);
    }
    if (r == KEEL_OK) {
        r = keel_net_shutdown(net, KEEL_SHUT_WR);
    }
    while (r == KEEL_OK) {
        r = keel_net_recv_timeout(net, reply, 5000, NULL);
    }
    keel_net_free(net);
    return r == KEEL_ERR_CLOSED ? KEEL_OK : r; /* the server's orderly end */
}

int main(int argc, char **argv)
{
    if (argc == 2 && keel_slice_eq(keel_slice_cstr(argv[1]), KEEL_STR("--help"))) {
        fputs("usage: readme_layers\n", stdout);
        return 0;
    }
    if (argc != 1) {
        fputs("usage: readme_layers\n", stderr);
        return 2;
    }
    size_t used = 0;
    keel_result r = print_lines(KEEL_STR("one\r\ntwo\nthr"), &used);
    printf("codec: %s, %zu bytes used\n", keel_result_name(r), used);
    int failures = r != KEEL_OK || used != 9;

    struct user u;
    r = read_user(KEEL_STR("{\"user\": {\"name\": \"ada\", \"id\": 7}}"), &u);
    if (r == KEEL_OK) {
        keel_slice name = { u.name, u.name_len };
        printf("json: id %lld, name " KEEL_SLICE_FMT "\n", (long long)u.id, KEEL_SLICE_ARG(name));
    } else {
        printf("json: %s\n", keel_result_name(r));
        failures++;
    }

    keel_server *srv = NULL;
    uint16_t port = 0;
    uint8_t storage[16];
    keel_buf reply = KEEL_BUF_ARRAY(storage);
    r = start_echo_server(&srv, &port);
    if (r == KEEL_OK) {
        r = echo_once(port, &reply);
    }
    keel_server_free(srv); /* shuts down, waits for the threads */
    keel_slice got = keel_buf_slice(&reply);
    printf("loop: %s, echoed " KEEL_SLICE_FMT, keel_result_name(r), KEEL_SLICE_ARG(got));
    failures += r != KEEL_OK || !keel_slice_eq(got, KEEL_STR("ping\n"));

    uint8_t back[32];
    keel_buf echoed = KEEL_BUF_ARRAY(back);
    srv = NULL;
    r = start_line_server(&srv, &port);
    if (r == KEEL_OK) {
        r = lines_once(port, &echoed);
    }
    keel_server_free(srv);
    got = keel_buf_slice(&echoed);
    bool same = keel_slice_eq(got, KEEL_STR("hello\nworld\r\n"));
    printf("framed: %s, %s\n", keel_result_name(r), same ? "both lines back" : "other bytes");
    failures += r != KEEL_OK || !same;
    return failures == 0 ? 0 : 1;
}
