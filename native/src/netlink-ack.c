/*
 * Netlink requests sent and answered on a libuv pool thread:
 *   netlinkAck(fd, request) -> Promise<errno name, or '' when it succeeded>: one request
 *       with NLM_F_ACK, answered by its acknowledgement;
 *   netlinkDump(fd, request, timeoutMs) -> Promise<{ errno, messages }>: one NLM_F_DUMP
 *       request; `messages` is every message of the dump (headers included) back to back,
 *       `errno` the dump's error ('' when it ended with NLMSG_DONE).
 *
 * The kernel executes an rtnetlink request inside the sendmsg that carries it, under the
 * rtnl lock. Most take microseconds, but deleting a link waits for RCU grace periods (a veth
 * delete takes 20 ms on an idle machine and 170-260 ms on a busy one), and a sendmsg on
 * Node's main thread stops the whole event loop for that long: the agent's gossip,
 * resolver and readiness checks with it. A conntrack dump is the same: the kernel walks
 * its whole table (every namespace's entries) inside the sendmsg and recvmsg calls, and
 * with a filter that matches few entries one call walks all of it, hundreds of
 * milliseconds after heavy traffic. Requests that may be slow go here instead.
 *
 * `fd` is a netlink socket opened in the target namespace (openSocket) and used for nothing
 * else while a request is in flight: the caller runs one at a time per socket. Replies are
 * those with the request's sequence number (others are skipped). Each read waits at most
 * the timeout (REPLY_TIMEOUT_S for an ack); then the promise rejects (ETIMEDOUT).
 */
#include "shoal_native.h"
#include <errno.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define REPLY_TIMEOUT_S 10
/* larger than any one read: a dump part is at most 32 KiB */
#define REPLY_BUFFER 65536
/* a dump that grows past this is refused (EMSGSIZE) rather than kept in memory */
#define DUMP_MAX (256u << 20)

struct ack_job {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  void *request;
  size_t length;
  uint32_t seq;
  int result;    /* the kernel's answer: 0, or a positive errno */
  int sys_errno; /* a failure to send or receive */
  const char *failed;
  bool dump;
  int timeout_ms;
  char *messages; /* a dump's messages */
  size_t messages_len, messages_cap;
};

/* Appends one message to a dump's; false when out of memory or past DUMP_MAX. */
static bool keep(struct ack_job *job, const struct nlmsghdr *h) {
  size_t n = h->nlmsg_len;
  if (job->messages_len + n > DUMP_MAX) return false;
  if (job->messages_len + n > job->messages_cap) {
    size_t cap = job->messages_cap ? job->messages_cap * 2 : 65536;
    while (cap < job->messages_len + n) cap *= 2;
    char *grown = realloc(job->messages, cap);
    if (!grown) return false;
    job->messages = grown;
    job->messages_cap = cap;
  }
  memcpy(job->messages + job->messages_len, h, n);
  job->messages_len += n;
  return true;
}

/* Pool thread: no N-API calls here. */
static void AckExecute(napi_env env, void *data) {
  (void)env;
  struct ack_job *job = data;
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  ssize_t n;
  do n = sendto(job->fd, job->request, job->length, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (n < 0 && errno == EINTR);
  if (n < 0) { job->sys_errno = errno; job->failed = "netlink request: sendto"; return; }
  struct timeval tv = { .tv_sec = job->timeout_ms / 1000, .tv_usec = (job->timeout_ms % 1000) * 1000 };
  setsockopt(job->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char *buf = malloc(REPLY_BUFFER);
  if (!buf) { job->sys_errno = ENOMEM; job->failed = "netlink request"; return; }
  for (;;) {
    struct iovec iov = { .iov_base = buf, .iov_len = REPLY_BUFFER };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    do n = recvmsg(job->fd, &mh, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) { job->sys_errno = errno == EAGAIN ? ETIMEDOUT : errno; job->failed = "netlink request: recv"; break; }
    if (mh.msg_flags & MSG_TRUNC) { job->sys_errno = EMSGSIZE; job->failed = "netlink request: a reply cut short"; break; }
    int len = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != job->seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) { job->sys_errno = EPROTO; job->failed = "netlink request: a short reply"; }
        else job->result = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
        free(buf);
        return;
      }
      if (!job->dump) continue;
      if (h->nlmsg_type == NLMSG_DONE) {
        /* a dump that failed part way says so in the DONE message's payload */
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
          int e = *(int *)NLMSG_DATA(h);
          if (e < 0) job->result = -e;
        }
        free(buf);
        return;
      }
      if (!keep(job, h)) { job->sys_errno = EMSGSIZE; job->failed = "netlink dump: too large"; free(buf); return; }
    }
  }
  free(buf);
}

static void AckComplete(napi_env env, napi_status status, void *data) {
  struct ack_job *job = data;
  if (status != napi_ok && !job->sys_errno) { job->sys_errno = ECANCELED; job->failed = "netlinkAck"; }
  if (job->sys_errno) {
    napi_value error = NULL;
    /* shoal_throw_errno throws; take the error back for the rejection */
    shoal_throw_errno(env, job->sys_errno == ETIMEDOUT ? "SHOAL_ERR_TIMEOUT" : "SHOAL_ERR_NETLINK", job->failed, job->sys_errno);
    napi_get_and_clear_last_exception(env, &error);
    napi_reject_deferred(env, job->deferred, error);
  } else {
    /* ENOTSUP and EOPNOTSUPP are one number here: named ENOTSUP, as the rest of shoal names it */
    const char *name = job->result == ENOTSUP ? "ENOTSUP" : job->result ? strerrorname_np(job->result) : "";
    napi_value v;
    napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &v);
    if (job->dump) {
      napi_value result, messages;
      void *copy = NULL;
      napi_create_object(env, &result);
      napi_set_named_property(env, result, "errno", v);
      napi_create_buffer_copy(env, job->messages_len, job->messages_len ? job->messages : "", &copy, &messages);
      napi_set_named_property(env, result, "messages", messages);
      v = result;
    }
    napi_resolve_deferred(env, job->deferred, v);
  }
  napi_delete_async_work(env, job->work);
  free(job->request);
  free(job->messages);
  free(job);
}

/* Queues one request; `dump` chooses the reply awaited. */
static napi_value queue_request(napi_env env, napi_callback_info info, bool dump) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const char *usage = dump ? "netlinkDump(fd, request, timeoutMs)" : "netlinkAck(fd, request)";
  int32_t fd = -1, timeout_ms = REPLY_TIMEOUT_S * 1000;
  void *bytes = NULL;
  size_t length = 0;
  bool is_buffer = false;
  if (argc >= 2) napi_is_buffer(env, argv[1], &is_buffer);
  if (argc < (dump ? 3u : 2u) || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || !is_buffer ||
      napi_get_buffer_info(env, argv[1], &bytes, &length) != napi_ok || length < sizeof(struct nlmsghdr) ||
      (dump && (napi_get_value_int32(env, argv[2], &timeout_ms) != napi_ok || timeout_ms <= 0)))
    return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", usage);
  const struct nlmsghdr *h = bytes;
  if (h->nlmsg_len != length || !(h->nlmsg_flags & (dump ? NLM_F_DUMP : NLM_F_ACK)))
    return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", dump ? "netlinkDump: one whole message with NLM_F_DUMP" : "netlinkAck: one whole message with NLM_F_ACK");
  struct ack_job *job = calloc(1, sizeof *job);
  if (!job || !(job->request = malloc(length))) {
    free(job);
    return shoal_throw_errno(env, "SHOAL_ERR_NATIVE", usage, ENOMEM);
  }
  memcpy(job->request, bytes, length);
  job->length = length;
  job->fd = fd;
  job->seq = h->nlmsg_seq;
  job->dump = dump;
  job->timeout_ms = timeout_ms;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "shoal:netlink", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, AckExecute, AckComplete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    free(job->request);
    free(job);
    return shoal_throw_msg(env, "SHOAL_ERR_NATIVE", "netlink request: cannot queue work");
  }
  return promise;
}

static napi_value NetlinkAck(napi_env env, napi_callback_info info) {
  return queue_request(env, info, false);
}

static napi_value NetlinkDump(napi_env env, napi_callback_info info) {
  return queue_request(env, info, true);
}

void shoal_netlink_ack_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "netlinkAck", NULL, NetlinkAck, NULL, NULL, NULL, napi_enumerable, NULL },
    { "netlinkDump", NULL, NetlinkDump, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
