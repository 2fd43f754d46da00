/*
 * Batched UDP for the embedded resolver: many datagrams per system call (recvmmsg,
 * sendmmsg) into and out of buffers JavaScript owns, with nothing allocated per datagram.
 * Node's dgram makes a Buffer, an address string and an info object for every datagram it
 * receives and a request object for every one it sends; at tens of thousands of queries a
 * second that garbage, and the collections it causes, were most of the resolver's tail.
 *
 * The socket is an IPv4 UDP fd the caller opened (openSocket, in a sandbox's namespace).
 * libuv polls it on Node's event loop; when it is readable the JavaScript callback runs,
 * and reads what is queued with datagramRecv. Polling is level-triggered: what one read
 * leaves is announced again on the next turn of the loop, so one busy socket cannot starve
 * the rest of the loop.
 *
 * Exports (addresses are IPv4 as unsigned 32-bit numbers in host order):
 *   datagramOpen(fd, onReadable) -> handle        onReadable(status): status < 0 is a libuv error;
 *       the fd is the handle's from then on (closed by datagramClose, or at once if this throws
 *       past its argument checks)
 *   datagramRecv(handle, buf, slotSize, meta) -> count
 *       datagram i in buf[i*slotSize, +len]; meta[3i] = len (-1: longer than a slot, cut),
 *       meta[3i+1] = source address, meta[3i+2] = source port; at most DATAGRAM_BATCH
 *   datagramSend(handle, buf, meta, count) -> how many were sent
 *       datagram i is buf[meta[4i], +meta[4i+1]] to meta[4i+2]:meta[4i+3]; one that the
 *       kernel refuses is skipped (the count tells how many)
 *   datagramLocalPort(handle) -> the port the socket is bound to
 *   datagramClose(handle)                          stops polling and closes the fd; idempotent
 * The buffers are copied by the kernel before a call returns, so they are free again at once.
 */
#include "shoal_native.h"
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define DATAGRAM_BATCH 64

struct datagram {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  int fd;
  bool closed;
  /* freed when both have happened: libuv let go of the poll, and the handle was collected */
  bool uv_closed;
  bool finalized;
};

static void on_closed(uv_handle_t *h) {
  struct datagram *d = h->data;
  close(d->fd);
  d->uv_closed = true;
  if (d->finalized) free(d);
}

/* Stops polling and closes the fd (once libuv lets go of the poll handle). */
static void datagram_close(struct datagram *d) {
  if (d->closed) return;
  d->closed = true;
  napi_delete_reference(d->env, d->callback);
  napi_async_destroy(d->env, d->async);
  uv_poll_stop(&d->poll);
  uv_close((uv_handle_t *)&d->poll, on_closed);
}

/* The handle was collected without datagramClose: close it then. */
static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct datagram *d = data;
  d->finalized = true;
  datagram_close(d);
  if (d->uv_closed) free(d);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  (void)events;
  struct datagram *d = p->data;
  if (d->closed) return;
  napi_env env = d->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, arg, result;
  napi_get_reference_value(env, d->callback, &fn);
  napi_get_global(env, &recv); /* napi_make_callback wants an object as `this` */
  napi_create_int32(env, status, &arg);
  if (napi_make_callback(env, d->async, recv, fn, 1, &arg, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static struct datagram *get_handle(napi_env env, napi_value v) {
  napi_valuetype t;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

/* A Uint8Array's (or Int32Array's) bytes and element count; false when v is not that type. */
static bool get_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  bool is = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  if (napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok) return false;
  return type == want;
}

/* Points message `m` at one buffer and one address. */
static void set_msg(struct mmsghdr *m, struct iovec *iov, struct sockaddr_in *addr, void *base, size_t len) {
  iov->iov_base = base;
  iov->iov_len = len;
  m->msg_hdr.msg_iov = iov;
  m->msg_hdr.msg_iovlen = 1;
  m->msg_hdr.msg_name = addr;
  m->msg_hdr.msg_namelen = sizeof *addr;
}

static napi_value DatagramOpen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  napi_valuetype t = napi_undefined;
  if (argc == 2) napi_typeof(env, argv[1], &t);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || t != napi_function)
    return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "datagramOpen(fd, onReadable)");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return shoal_throw_msg(env, "SHOAL_ERR_NATIVE", "datagramOpen: no event loop");
  struct datagram *d = calloc(1, sizeof *d);
  if (!d) return shoal_throw_errno(env, "SHOAL_ERR_NATIVE", "datagramOpen", ENOMEM);
  d->env = env;
  d->fd = fd;
  int rc = uv_poll_init(loop, &d->poll, fd);
  if (rc != 0) {
    close(fd);
    free(d);
    return shoal_throw_errno(env, "SHOAL_ERR_NATIVE", "datagramOpen: uv_poll_init", -rc);
  }
  d->poll.data = d;
  napi_value name, handle;
  napi_create_string_utf8(env, "shoal:datagram", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[1], 1, &d->callback);
  napi_async_init(env, NULL, name, &d->async);
  if (napi_create_external(env, d, finalize, NULL, &handle) != napi_ok) {
    d->finalized = true; /* no handle will be collected */
    datagram_close(d);
    return shoal_throw_msg(env, "SHOAL_ERR_NATIVE", "datagramOpen: cannot make the handle");
  }
  rc = uv_poll_start(&d->poll, UV_READABLE, on_poll);
  if (rc != 0) {
    datagram_close(d);
    return shoal_throw_errno(env, "SHOAL_ERR_NATIVE", "datagramOpen: uv_poll_start", -rc);
  }
  return handle;
}

static napi_value DatagramRecv(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct datagram *d = argc == 4 ? get_handle(env, argv[0]) : NULL;
  uint8_t *buf;
  int32_t *meta;
  size_t buf_len = 0, meta_len = 0;
  int32_t slot = 0;
  if (!d || !get_array(env, argv[1], napi_uint8_array, (void **)&buf, &buf_len) ||
      napi_get_value_int32(env, argv[2], &slot) != napi_ok || slot <= 0 ||
      !get_array(env, argv[3], napi_int32_array, (void **)&meta, &meta_len))
    return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "datagramRecv(handle, buf, slotSize, meta)");
  napi_value out;
  if (d->closed) {
    napi_create_int32(env, 0, &out);
    return out;
  }
  size_t n = buf_len / (size_t)slot;
  if (n > meta_len / 3) n = meta_len / 3;
  if (n > DATAGRAM_BATCH) n = DATAGRAM_BATCH;
  struct mmsghdr msgs[DATAGRAM_BATCH];
  struct iovec iov[DATAGRAM_BATCH];
  struct sockaddr_in from[DATAGRAM_BATCH];
  memset(msgs, 0, n * sizeof msgs[0]);
  for (size_t i = 0; i < n; i++) set_msg(&msgs[i], &iov[i], &from[i], buf + i * (size_t)slot, (size_t)slot);
  int got;
  do got = n > 0 ? recvmmsg(d->fd, msgs, (unsigned int)n, MSG_DONTWAIT, NULL) : 0;
  while (got < 0 && errno == EINTR);
  if (got < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return shoal_throw_errno(env, "SHOAL_ERR_NATIVE", "datagramRecv: recvmmsg", errno);
    got = 0;
  }
  for (int i = 0; i < got; i++) {
    bool cut = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    meta[3 * i] = cut ? -1 : (int32_t)msgs[i].msg_len;
    meta[3 * i + 1] = (int32_t)ntohl(from[i].sin_addr.s_addr);
    meta[3 * i + 2] = ntohs(from[i].sin_port);
  }
  napi_create_int32(env, got, &out);
  return out;
}

static napi_value DatagramSend(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct datagram *d = argc == 4 ? get_handle(env, argv[0]) : NULL;
  uint8_t *buf;
  int32_t *meta;
  size_t buf_len = 0, meta_len = 0;
  int32_t count = 0;
  if (!d || !get_array(env, argv[1], napi_uint8_array, (void **)&buf, &buf_len) ||
      !get_array(env, argv[2], napi_int32_array, (void **)&meta, &meta_len) ||
      napi_get_value_int32(env, argv[3], &count) != napi_ok || count < 0 || count > DATAGRAM_BATCH ||
      (size_t)count * 4 > meta_len)
    return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "datagramSend(handle, buf, meta, count)");
  struct mmsghdr msgs[DATAGRAM_BATCH];
  struct iovec iov[DATAGRAM_BATCH];
  struct sockaddr_in to[DATAGRAM_BATCH];
  memset(msgs, 0, (size_t)count * sizeof msgs[0]);
  for (int i = 0; i < count; i++) {
    int32_t off = meta[4 * i], len = meta[4 * i + 1], port = meta[4 * i + 3];
    if (off < 0 || len < 0 || (size_t)off + (size_t)len > buf_len || port < 0 || port > 65535)
      return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "datagramSend: a datagram outside the buffer, or a bad port");
    memset(&to[i], 0, sizeof to[i]);
    to[i].sin_family = AF_INET;
    to[i].sin_port = htons((uint16_t)port);
    to[i].sin_addr.s_addr = htonl((uint32_t)meta[4 * i + 2]);
    set_msg(&msgs[i], &iov[i], &to[i], buf + off, (size_t)len);
  }
  int sent = 0;
  for (int i = 0; i < count && !d->closed;) {
    int rc = sendmmsg(d->fd, msgs + i, (unsigned int)(count - i), MSG_DONTWAIT);
    if (rc > 0) {
      sent += rc;
      i += rc;
    } else if (rc < 0 && errno == EINTR) {
      continue;
    } else {
      i++; /* the kernel refused datagram i (full buffer, unreachable): skip it */
    }
  }
  napi_value out;
  napi_create_int32(env, sent, &out);
  return out;
}

static napi_value DatagramLocalPort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct datagram *d = argc == 1 ? get_handle(env, argv[0]) : NULL;
  if (!d || d->closed) return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "datagramLocalPort(handle): not an open handle");
  struct sockaddr_in self;
  socklen_t len = sizeof self;
  if (getsockname(d->fd, (struct sockaddr *)&self, &len) != 0) return shoal_throw_errno(env, "SHOAL_ERR_NATIVE", "datagramLocalPort: getsockname", errno);
  napi_value out;
  napi_create_int32(env, self.sin_family == AF_INET ? ntohs(self.sin_port) : -1, &out);
  return out;
}

static napi_value DatagramClose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct datagram *d = argc == 1 ? get_handle(env, argv[0]) : NULL;
  if (!d) return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "datagramClose(handle)");
  datagram_close(d);
  return NULL;
}

void shoal_datagram_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "datagramOpen", NULL, DatagramOpen, NULL, NULL, NULL, napi_enumerable, NULL },
    { "datagramRecv", NULL, DatagramRecv, NULL, NULL, NULL, napi_enumerable, NULL },
    { "datagramSend", NULL, DatagramSend, NULL, NULL, NULL, napi_enumerable, NULL },
    { "datagramLocalPort", NULL, DatagramLocalPort, NULL, NULL, NULL, napi_enumerable, NULL },
    { "datagramClose", NULL, DatagramClose, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
