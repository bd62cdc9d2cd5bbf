/*
 * udp_mmsg: a UDP socket that receives and sends in batches (Linux recvmmsg/sendmmsg), for the
 * STUN server's hot path (issue 10). node:dgram pays a syscall, a libuv callback and a JS call
 * per datagram in each direction; coturn batches. This addon owns one non-blocking socket, waits
 * for readability with libuv's uv_poll_t on Node's own loop, reads up to `slots` datagrams with
 * one recvmmsg into buffers shared with JS, calls JS once per batch, and sends the answers JS
 * queued with one sendmmsg.
 *
 * Pure Node-API (node_api.h, NAPI_VERSION 8) plus libuv's poll handle, both ABI-stable: one
 * build loads on Node 20 and Node 24. Everything is bounded: `slots` datagrams per batch,
 * MAX_BATCHES_PER_WAKE batches per readiness event (then the loop runs other work and comes back:
 * uv_poll is level-triggered), datagrams longer than a slot are counted and dropped
 * (MSG_TRUNC), a send the kernel refuses with EAGAIN/ENOBUFS drops the rest of that batch
 * (counted: UDP is best-effort and a STUN client retransmits), any other send error skips that
 * one datagram (counted). Nothing here blocks or throws on network conditions.
 *
 * Shared memory (TypedArrays allocated by JS, src/net/mmsg-socket.ts, which documents the same
 * layout):
 *   recv data  Uint8Array  slots × slotBytes; datagram i at i × slotBytes
 *   recv meta  Uint32Array slots × META_WORDS
 *   send data  Uint8Array  any size ≥ 64 KiB; datagrams packed at meta OFFSET
 *   send meta  Uint32Array slots × META_WORDS
 *   stats      Float64Array STAT_COUNT counters, written here, read by JS
 * Meta words per datagram: LEN, PORT, FAMILY (4 or 6), FLAGS (bit 0: truncated), SCOPE (IPv6
 * scope id), OFFSET (send data), ADDR0..ADDR3 (the address in host order: IPv4 in ADDR0, IPv6
 * as four 32-bit words, most significant first).
 *
 * JS API: open(config, buffers, onBatch) → handle; local(handle) → [address, port];
 * send(handle, count) → datagrams sent; close(handle[, onClosed]); ntop(meta, index) and
 * pton(text, meta, index) convert IP address text (JS converts IPv4 itself, the hot case). onBatch(count) is called with the
 * number of datagrams in recv meta/data; JS may queue and send answers, or close, within it.
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

enum { LEN, PORT, FAMILY, FLAGS, SCOPE, OFFSET, ADDR0, ADDR1, ADDR2, ADDR3, META_WORDS = 12 };
enum {
  ST_RECEIVED,     /* datagrams handed to JS (truncated ones included, flagged) */
  ST_BATCHES,      /* onBatch calls */
  ST_TRUNCATED,    /* datagrams longer than a slot: flagged, JS drops them */
  ST_RECV_ERRORS,  /* recvmmsg failures other than EAGAIN/EINTR */
  ST_SENT,         /* datagrams the kernel took */
  ST_SEND_DROPPED, /* datagrams not sent: socket buffer full (EAGAIN, ENOBUFS, ENOMEM) */
  ST_SEND_ERRORS,  /* datagrams refused for another reason (bad address, EPERM, ...) */
  ST_LAST_ERRNO,   /* errno of the last send or receive error */
  STAT_COUNT
};

/* Batches read per readiness event before the loop gets a turn: 8 × 64 datagrams. */
#define MAX_BATCHES_PER_WAKE 8
#define MAX_SLOTS 1024
#define MAX_SLOT_BYTES 65536
#define MIN_SEND_BYTES 65536

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int family; /* AF_INET or AF_INET6 */
  int closed; /* close() called */
  int in_callback; /* inside napi_make_callback: JS references are released after it */
  int env_gone;    /* the environment is being torn down: never call JS again */
  napi_ref on_closed; /* close()'s callback: called once the descriptor is closed */
  int js_alive, uv_alive;
  napi_ref on_batch;
  napi_ref buffers[5];
  napi_async_context async;
  uint32_t slots, slot_bytes, send_bytes;
  uint8_t *rdata, *sdata;
  uint32_t *rmeta, *smeta;
  double *stats;
  struct mmsghdr *rmsgs, *smsgs;
  struct iovec *riov, *siov;
  struct sockaddr_in6 *raddr, *saddr;
} mm_socket;

#define CHECK(call)                                                                               \
  do {                                                                                            \
    if ((call) != napi_ok) return throw_last(env);                                               \
  } while (0)

static napi_value throw_last(napi_env env) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending)
    napi_throw_error(env, NULL, info && info->error_message ? info->error_message : "napi error");
  return NULL;
}

/* A system error as node:dgram reports them: message "syscall CODE", .code "CODE",
 * .errno -errno, .syscall (mmsg-socket.ts adds .address and .port, as dgram does). */
static napi_value throw_errno(napi_env env, const char *op, int err) {
  int uverr = uv_translate_sys_error(err);
  const char *name = uv_err_name(uverr);
  char msg[128];
  snprintf(msg, sizeof msg, "%s %s", op, name);
  napi_value code, message, error, syscall, errnum;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &error) != napi_ok ||
      napi_create_string_utf8(env, op, NAPI_AUTO_LENGTH, &syscall) != napi_ok ||
      napi_create_int32(env, uverr, &errnum) != napi_ok) {
    napi_throw_error(env, name, msg);
    return NULL;
  }
  napi_set_named_property(env, error, "syscall", syscall);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

static void maybe_free(mm_socket *s) {
  if (s->js_alive || s->uv_alive) return;
  free(s->rmsgs);
  free(s->smsgs);
  free(s->riov);
  free(s->siov);
  free(s->raddr);
  free(s->saddr);
  free(s);
}

/* After uv_close: close the descriptor, then tell JS (close()'s callback) that the port is free. */
static void on_poll_closed(uv_handle_t *h) {
  mm_socket *s = h->data;
  close(s->fd);
  s->fd = -1;
  if (s->on_closed && !s->env_gone) {
    napi_env env = s->env;
    napi_handle_scope scope;
    napi_value fn, recv, result;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      if (napi_get_reference_value(env, s->on_closed, &fn) == napi_ok && fn != NULL &&
          napi_get_global(env, &recv) == napi_ok &&
          napi_make_callback(env, NULL, recv, fn, 0, NULL, &result) == napi_pending_exception) {
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_fatal_exception(env, err);
      }
      napi_close_handle_scope(env, scope);
    }
  }
  if (s->on_closed && !s->env_gone) napi_delete_reference(s->env, s->on_closed);
  s->on_closed = NULL;
  s->uv_alive = 0;
  maybe_free(s);
}

/* The references to JS (callback, buffers, async context); not while onBatch runs. */
static void release_js(mm_socket *s) {
  if (s->on_batch) napi_delete_reference(s->env, s->on_batch);
  s->on_batch = NULL;
  for (int i = 0; i < 5; i++) {
    if (s->buffers[i]) napi_delete_reference(s->env, s->buffers[i]);
    s->buffers[i] = NULL;
  }
  if (s->async) napi_async_destroy(s->env, s->async);
  s->async = NULL;
}

/* Stop reading, release JS references; the fd closes once libuv has let go of the handle. */
static void do_close(mm_socket *s) {
  if (s->closed) return;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  /* close() called from onBatch: the async context is in use until the callback returns. */
  if (!s->in_callback) release_js(s);
}

static void on_env_cleanup(void *arg) {
  mm_socket *s = arg;
  if (s->on_closed) napi_delete_reference(s->env, s->on_closed);
  s->on_closed = NULL;
  s->env_gone = 1;
  do_close(s);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  mm_socket *s = data;
  napi_remove_env_cleanup_hook(env, on_env_cleanup, s);
  do_close(s);
  s->js_alive = 0;
  maybe_free(s);
}

static void write_addr(uint32_t *m, const struct sockaddr_in6 *sa) {
  if (sa->sin6_family == AF_INET) {
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
    m[FAMILY] = 4;
    m[PORT] = ntohs(a4->sin_port);
    m[SCOPE] = 0;
    m[ADDR0] = ntohl(a4->sin_addr.s_addr);
    m[ADDR1] = m[ADDR2] = m[ADDR3] = 0;
  } else {
    uint32_t w[4];
    memcpy(w, &sa->sin6_addr, 16);
    m[FAMILY] = 6;
    m[PORT] = ntohs(sa->sin6_port);
    m[SCOPE] = sa->sin6_scope_id;
    m[ADDR0] = ntohl(w[0]);
    m[ADDR1] = ntohl(w[1]);
    m[ADDR2] = ntohl(w[2]);
    m[ADDR3] = ntohl(w[3]);
  }
}

/* Meta → sockaddr for this socket's family; 0, or an errno for a destination it cannot reach. */
static int read_addr(const mm_socket *s, const uint32_t *m, struct sockaddr_in6 *sa,
                     socklen_t *len) {
  memset(sa, 0, sizeof *sa);
  if (m[PORT] > 65535) return EINVAL;
  if (m[FAMILY] == 4 && s->family == AF_INET) {
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)m[PORT]);
    a4->sin_addr.s_addr = htonl(m[ADDR0]);
    *len = sizeof *a4;
    return 0;
  }
  if (s->family != AF_INET6 || (m[FAMILY] != 4 && m[FAMILY] != 6)) return EAFNOSUPPORT;
  uint32_t w[4];
  if (m[FAMILY] == 4) { /* an IPv4 destination from a dual-stack socket: ::ffff:a.b.c.d */
    w[0] = 0;
    w[1] = 0;
    w[2] = htonl(0xffff);
    w[3] = htonl(m[ADDR0]);
  } else {
    w[0] = htonl(m[ADDR0]);
    w[1] = htonl(m[ADDR1]);
    w[2] = htonl(m[ADDR2]);
    w[3] = htonl(m[ADDR3]);
  }
  sa->sin6_family = AF_INET6;
  sa->sin6_port = htons((uint16_t)m[PORT]);
  sa->sin6_scope_id = m[FAMILY] == 6 ? m[SCOPE] : 0;
  memcpy(&sa->sin6_addr, w, 16);
  *len = sizeof *sa;
  return 0;
}

/* One JS call; an exception thrown by onBatch goes to process 'uncaughtException'. */
static void call_js(mm_socket *s, int count) {
  napi_env env = s->env;
  napi_value fn, recv, arg, result;
  if (napi_get_reference_value(env, s->on_batch, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &recv); /* napi_make_callback converts recv to an object */
  napi_create_uint32(env, (uint32_t)count, &arg);
  s->in_callback++;
  napi_status st = napi_make_callback(env, s->async, recv, fn, 1, &arg, &result);
  if (--s->in_callback == 0 && s->closed) release_js(s);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  mm_socket *s = h->data;
  if (status < 0) {
    s->stats[ST_RECV_ERRORS]++;
    s->stats[ST_LAST_ERRNO] = -status;
    return;
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  for (int b = 0; b < MAX_BATCHES_PER_WAKE && !s->closed; b++) {
    for (uint32_t i = 0; i < s->slots; i++) {
      s->rmsgs[i].msg_hdr.msg_namelen = sizeof s->raddr[i];
      s->rmsgs[i].msg_hdr.msg_flags = 0;
      s->rmsgs[i].msg_len = 0;
    }
    int n = recvmmsg(s->fd, s->rmsgs, s->slots, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        s->stats[ST_RECV_ERRORS]++;
        s->stats[ST_LAST_ERRNO] = errno;
      }
      break;
    }
    if (n == 0) break;
    for (int i = 0; i < n; i++) {
      uint32_t *m = s->rmeta + (size_t)i * META_WORDS;
      m[LEN] = s->rmsgs[i].msg_len;
      m[OFFSET] = (uint32_t)i * s->slot_bytes;
      m[FLAGS] = (s->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
      if (m[FLAGS]) s->stats[ST_TRUNCATED]++;
      write_addr(m, &s->raddr[i]);
    }
    s->stats[ST_RECEIVED] += n;
    s->stats[ST_BATCHES]++;
    call_js(s, n);
    if ((uint32_t)n < s->slots) break; /* drained */
  }
  napi_close_handle_scope(s->env, scope);
}

static int get_u32(napi_env env, napi_value obj, const char *name, uint32_t *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

/* A TypedArray of the given type from buffers[name], at least min_bytes long (its length in
 * bytes to *bytes when asked); keeps a reference. NULL when missing, mistyped or short. */
static void *get_array(napi_env env, napi_value obj, const char *name, napi_typedarray_type want,
                       size_t min_bytes, napi_ref *ref, size_t *bytes) {
  napi_value v;
  bool is_ta = false;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return NULL;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return NULL;
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok)
    return NULL;
  size_t unit = want == napi_uint8_array ? 1 : want == napi_uint32_array ? 4 : 8;
  if (type != want || length * unit < min_bytes) return NULL;
  if (napi_create_reference(env, v, 1, ref) != napi_ok) return NULL;
  if (bytes) *bytes = length * unit;
  return data;
}

static int setup_msgs(mm_socket *s) {
  size_t n = s->slots;
  s->rmsgs = calloc(n, sizeof *s->rmsgs);
  s->smsgs = calloc(n, sizeof *s->smsgs);
  s->riov = calloc(n, sizeof *s->riov);
  s->siov = calloc(n, sizeof *s->siov);
  s->raddr = calloc(n, sizeof *s->raddr);
  s->saddr = calloc(n, sizeof *s->saddr);
  if (!s->rmsgs || !s->smsgs || !s->riov || !s->siov || !s->raddr || !s->saddr) return 0;
  for (size_t i = 0; i < n; i++) {
    s->riov[i].iov_base = s->rdata + i * s->slot_bytes;
    s->riov[i].iov_len = s->slot_bytes;
    s->rmsgs[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsgs[i].msg_hdr.msg_iovlen = 1;
    s->rmsgs[i].msg_hdr.msg_name = &s->raddr[i];
  }
  return 1;
}

/* socket + options + bind; returns the fd or -errno (with *op naming the failed step). */
static int open_fd(int family, const char *address, uint32_t port, int reuse_port, int rcvbuf,
                   int sndbuf, const char **op) {
  struct sockaddr_in6 sa;
  socklen_t len;
  memset(&sa, 0, sizeof sa);
  if (family == AF_INET) {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&sa;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *op = "inet_pton";
    if (inet_pton(AF_INET, address, &a4->sin_addr) != 1) return -EINVAL;
    len = sizeof *a4;
  } else {
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((uint16_t)port);
    *op = "inet_pton";
    if (inet_pton(AF_INET6, address, &sa.sin6_addr) != 1) return -EINVAL;
    len = sizeof sa;
  }
  *op = "socket";
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  *op = "setsockopt";
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  /* Best effort, as node-udp.ts: unprivileged processes are capped at net.core.[rw]mem_max. */
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  *op = "bind";
  if (bind(fd, (struct sockaddr *)&sa, len) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

static mm_socket *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

typedef struct {
  uint32_t family, port, reuse, rcvbuf, sndbuf, slots, slot_bytes;
  char address[64];
} mm_config;

/* open()'s config object; 0 with a TypeError/RangeError pending when it is malformed. */
static int read_config(napi_env env, napi_value obj, mm_config *c) {
  if (!get_u32(env, obj, "family", &c->family) || !get_u32(env, obj, "port", &c->port) ||
      !get_u32(env, obj, "reusePort", &c->reuse) ||
      !get_u32(env, obj, "recvBufferBytes", &c->rcvbuf) ||
      !get_u32(env, obj, "sendBufferBytes", &c->sndbuf) || !get_u32(env, obj, "slots", &c->slots) ||
      !get_u32(env, obj, "slotBytes", &c->slot_bytes)) {
    napi_throw_type_error(env, NULL, "config: numeric family, port, reusePort, "
                                     "recvBufferBytes, sendBufferBytes, slots, slotBytes");
    return 0;
  }
  if ((c->family != 4 && c->family != 6) || c->port > 65535 || c->slots < 1 ||
      c->slots > MAX_SLOTS || c->slot_bytes < 1 || c->slot_bytes > MAX_SLOT_BYTES ||
      c->rcvbuf > INT32_MAX || c->sndbuf > INT32_MAX) {
    napi_throw_range_error(env, NULL, "config out of range");
    return 0;
  }
  napi_value av;
  size_t alen = 0;
  if (napi_get_named_property(env, obj, "address", &av) != napi_ok ||
      napi_get_value_string_utf8(env, av, c->address, sizeof c->address, &alen) != napi_ok) {
    napi_throw_type_error(env, NULL, "config.address must be a string");
    return 0;
  }
  return 1;
}

/* The shared TypedArrays (layout at the top); 0 with a TypeError pending when one is wrong. */
static int attach_buffers(napi_env env, napi_value obj, mm_socket *s) {
  size_t meta_bytes = (size_t)s->slots * META_WORDS * 4, send_bytes = 0;
  s->rdata = get_array(env, obj, "recvData", napi_uint8_array, (size_t)s->slots * s->slot_bytes,
                       &s->buffers[0], NULL);
  s->rmeta = get_array(env, obj, "recvMeta", napi_uint32_array, meta_bytes, &s->buffers[1], NULL);
  s->sdata = get_array(env, obj, "sendData", napi_uint8_array, MIN_SEND_BYTES, &s->buffers[2],
                       &send_bytes);
  s->smeta = get_array(env, obj, "sendMeta", napi_uint32_array, meta_bytes, &s->buffers[3], NULL);
  s->stats =
      get_array(env, obj, "stats", napi_float64_array, STAT_COUNT * 8, &s->buffers[4], NULL);
  if (!s->rdata || !s->rmeta || !s->sdata || !s->smeta || !s->stats) {
    napi_throw_type_error(env, NULL, "buffers: recvData/sendData Uint8Array, recvMeta/sendMeta "
                                     "Uint32Array, stats Float64Array, of the sizes config needs");
    return 0;
  }
  s->send_bytes = (uint32_t)(send_bytes > UINT32_MAX ? UINT32_MAX : send_bytes);
  return 1;
}

/* A socket that never reached the loop: release what open() took. */
static void discard(napi_env env, mm_socket *s) {
  if (s->fd >= 0) close(s->fd);
  if (s->on_batch) napi_delete_reference(env, s->on_batch);
  for (int i = 0; i < 5; i++)
    if (s->buffers[i]) napi_delete_reference(env, s->buffers[i]);
  if (s->async) napi_async_destroy(env, s->async);
  maybe_free(s);
}

/* Register the open socket with Node's loop; its handle, or NULL with an exception pending. */
static napi_value start_polling(napi_env env, mm_socket *s, napi_value on_batch) {
  uv_loop_t *loop;
  napi_value resource, name, handle;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok ||
      napi_create_reference(env, on_batch, 1, &s->on_batch) != napi_ok ||
      napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_utf8(env, "UDP_MMSG", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &s->async) != napi_ok) {
    discard(env, s);
    return throw_last(env);
  }
  int r = uv_poll_init(loop, &s->poll, s->fd);
  if (r != 0) {
    discard(env, s);
    napi_throw_error(env, uv_err_name(r), "uv_poll_init failed");
    return NULL;
  }
  s->poll.data = s;
  s->js_alive = 1;
  s->uv_alive = 1; /* from here on, do_close and the finalizer own the struct */
  CHECK(napi_create_external(env, s, finalize_handle, NULL, &handle));
  napi_add_env_cleanup_hook(env, on_env_cleanup, s);
  r = uv_poll_start(&s->poll, UV_READABLE, on_readable);
  if (r != 0) {
    do_close(s);
    napi_throw_error(env, uv_err_name(r), "uv_poll_start failed");
    return NULL;
  }
  return handle;
}

/* open(config, buffers, onBatch): config {family, address, port, reusePort, recvBufferBytes,
 * sendBufferBytes, slots, slotBytes}; buffers {recvData, recvMeta, sendData, sendMeta, stats}. */
static napi_value mm_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_valuetype t = napi_undefined;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc == 3) CHECK(napi_typeof(env, argv[2], &t));
  if (t != napi_function) {
    napi_throw_type_error(env, NULL, "open(config, buffers, onBatch: function)");
    return NULL;
  }
  mm_config c;
  if (!read_config(env, argv[0], &c)) return NULL;
  mm_socket *s = calloc(1, sizeof *s);
  if (!s) return throw_errno(env, "calloc", ENOMEM);
  s->env = env;
  s->fd = -1;
  s->slots = c.slots;
  s->slot_bytes = c.slot_bytes;
  s->family = c.family == 4 ? AF_INET : AF_INET6;
  if (!attach_buffers(env, argv[1], s)) {
    discard(env, s);
    return NULL;
  }
  if (!setup_msgs(s)) {
    discard(env, s);
    return throw_errno(env, "calloc", ENOMEM);
  }
  const char *op = "open";
  int fd = open_fd(s->family, c.address, c.port, (int)c.reuse, (int)c.rcvbuf, (int)c.sndbuf, &op);
  if (fd < 0) {
    discard(env, s);
    return throw_errno(env, op, -fd);
  }
  s->fd = fd;
  return start_polling(env, s, argv[2]);
}

/* local(handle) → [address, port] as bound (port 0 resolved). */
static napi_value mm_local(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  mm_socket *s = argc == 1 ? unwrap(env, argv[0]) : NULL;
  if (!s || s->closed) {
    napi_throw_type_error(env, NULL, "local: not an open udp_mmsg handle");
    return NULL;
  }
  struct sockaddr_in6 sa;
  socklen_t len = sizeof sa;
  if (getsockname(s->fd, (struct sockaddr *)&sa, &len) != 0) return throw_errno(env, "getsockname", errno);
  char text[INET6_ADDRSTRLEN];
  int port;
  if (sa.sin6_family == AF_INET) {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&sa;
    inet_ntop(AF_INET, &a4->sin_addr, text, sizeof text);
    port = ntohs(a4->sin_port);
  } else {
    inet_ntop(AF_INET6, &sa.sin6_addr, text, sizeof text);
    port = ntohs(sa.sin6_port);
  }
  napi_value out, a, p;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &a));
  CHECK(napi_create_int32(env, port, &p));
  CHECK(napi_set_element(env, out, 0, a));
  CHECK(napi_set_element(env, out, 1, p));
  return out;
}

/* send(handle, count): sendmmsg of send meta/data entries 0..count-1 → datagrams sent. */
static napi_value mm_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  mm_socket *s = argc == 2 ? unwrap(env, argv[0]) : NULL;
  uint32_t count;
  if (!s || napi_get_value_uint32(env, argv[1], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "send(handle, count)");
    return NULL;
  }
  if (s->closed) {
    napi_throw_type_error(env, NULL, "send on a closed udp_mmsg socket");
    return NULL;
  }
  if (count > s->slots) {
    napi_throw_range_error(env, NULL, "send: count exceeds slots");
    return NULL;
  }
  uint32_t k = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t *m = s->smeta + (size_t)i * META_WORDS;
    socklen_t alen = 0;
    int e = read_addr(s, m, &s->saddr[k], &alen);
    if (e == 0 && ((uint64_t)m[OFFSET] + m[LEN] > s->send_bytes || m[LEN] > 65535)) e = EMSGSIZE;
    if (e != 0) {
      s->stats[ST_SEND_ERRORS]++;
      s->stats[ST_LAST_ERRNO] = e;
      continue;
    }
    s->siov[k].iov_base = s->sdata + m[OFFSET];
    s->siov[k].iov_len = m[LEN];
    memset(&s->smsgs[k], 0, sizeof s->smsgs[k]);
    s->smsgs[k].msg_hdr.msg_iov = &s->siov[k];
    s->smsgs[k].msg_hdr.msg_iovlen = 1;
    s->smsgs[k].msg_hdr.msg_name = &s->saddr[k];
    s->smsgs[k].msg_hdr.msg_namelen = alen;
    k++;
  }
  uint32_t off = 0, sent = 0;
  while (off < k) {
    int r = sendmmsg(s->fd, s->smsgs + off, k - off, MSG_DONTWAIT);
    if (r > 0) {
      off += (uint32_t)r;
      sent += (uint32_t)r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    int e = r < 0 ? errno : EAGAIN;
    s->stats[ST_LAST_ERRNO] = e;
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == ENOMEM) {
      /* Never block and never queue without bound: the rest of this batch is dropped. */
      s->stats[ST_SEND_DROPPED] += k - off;
      break;
    }
    s->stats[ST_SEND_ERRORS]++; /* this datagram (EPERM, ENETUNREACH, ...): skip it */
    off++;
  }
  s->stats[ST_SENT] += sent;
  napi_value out;
  CHECK(napi_create_uint32(env, sent, &out));
  return out;
}

/* Meta words at `index` of a meta Uint32Array, for ntop/pton. */
static uint32_t *meta_at(napi_env env, napi_value array, napi_value index) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  uint32_t i;
  if (napi_get_typedarray_info(env, array, &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_uint32_array || napi_get_value_uint32(env, index, &i) != napi_ok ||
      ((size_t)i + 1) * META_WORDS > length)
    return NULL;
  return (uint32_t *)data + (size_t)i * META_WORDS;
}

/* ntop(meta, index) → the address text at that meta entry, as inet_ntop (and so node:dgram,
 * through libuv) writes it: RFC 5952, "::ffff:192.0.2.1" for IPv4-mapped addresses. */
static napi_value mm_ntop(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t *m = argc == 2 ? meta_at(env, argv[0], argv[1]) : NULL;
  if (!m || (m[FAMILY] != 4 && m[FAMILY] != 6)) {
    napi_throw_type_error(env, NULL, "ntop(meta: Uint32Array, index) of an IPv4/IPv6 entry");
    return NULL;
  }
  char text[INET6_ADDRSTRLEN];
  uint32_t w[4];
  if (m[FAMILY] == 4) {
    w[0] = htonl(m[ADDR0]);
    inet_ntop(AF_INET, w, text, sizeof text);
  } else {
    for (int i = 0; i < 4; i++) w[i] = htonl(m[ADDR0 + i]);
    inet_ntop(AF_INET6, w, text, sizeof text);
  }
  napi_value out;
  CHECK(napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &out));
  return out;
}

/* pton(text, meta, index) → 4, 6, or 0 for text that is not an IP address; writes FAMILY,
 * SCOPE (IPv6 "%zone": a number or an interface name) and the address words. */
static napi_value mm_pton(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t *m = argc == 3 ? meta_at(env, argv[1], argv[2]) : NULL;
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t len = 0;
  if (!m || napi_get_value_string_utf8(env, argv[0], text, sizeof text, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "pton(text, meta: Uint32Array, index)");
    return NULL;
  }
  int family = 0;
  uint32_t w[4];
  char *zone = strchr(text, '%');
  if (zone) *zone++ = 0;
  if (!zone && inet_pton(AF_INET, text, w) == 1) {
    family = 4;
    m[ADDR0] = ntohl(w[0]);
    m[ADDR1] = m[ADDR2] = m[ADDR3] = 0;
    m[SCOPE] = 0;
  } else if (inet_pton(AF_INET6, text, w) == 1) {
    uint32_t scope = 0;
    if (zone) {
      char *end;
      unsigned long n = strtoul(zone, &end, 10);
      scope = *zone && !*end ? (uint32_t)n : if_nametoindex(zone);
    }
    if (!zone || scope != 0) {
      family = 6;
      for (int i = 0; i < 4; i++) m[ADDR0 + i] = ntohl(w[i]);
      m[SCOPE] = scope;
    }
  }
  if (family) m[FAMILY] = (uint32_t)family;
  napi_value out;
  CHECK(napi_create_uint32(env, (uint32_t)family, &out));
  return out;
}

/* close(handle[, onClosed]): stop reading now; onClosed() once the descriptor is closed (the
 * loop's next close phase), so the port can be bound again from it. */
static napi_value mm_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  mm_socket *s = argc >= 1 ? unwrap(env, argv[0]) : NULL;
  if (!s) {
    napi_throw_type_error(env, NULL, "close(handle[, onClosed])");
    return NULL;
  }
  napi_valuetype t = napi_undefined;
  if (argc == 2) CHECK(napi_typeof(env, argv[1], &t));
  if (t == napi_function && !s->closed && !s->on_closed)
    CHECK(napi_create_reference(env, argv[1], 1, &s->on_closed));
  do_close(s);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, mm_open, NULL, NULL, NULL, napi_default, NULL},
      {"local", NULL, mm_local, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, mm_send, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, mm_close, NULL, NULL, NULL, napi_default, NULL},
      {"ntop", NULL, mm_ntop, NULL, NULL, NULL, napi_default, NULL},
      {"pton", NULL, mm_pton, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  napi_value n;
  CHECK(napi_create_uint32(env, META_WORDS, &n));
  CHECK(napi_set_named_property(env, exports, "META_WORDS", n));
  CHECK(napi_create_uint32(env, STAT_COUNT, &n));
  CHECK(napi_set_named_property(env, exports, "STAT_COUNT", n));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
