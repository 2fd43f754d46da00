/*
 * One netlink request answered by an acknowledgement, sent and awaited on a libuv pool
 * thread: netlinkAck(fd, request) -> Promise<errno name, or '' when it succeeded>.
 *
 * The kernel executes an rtnetlink request inside the sendmsg that carries it, under the
 * rtnl lock. Most take microseconds, but deleting a link waits for RCU grace periods (a veth
 * delete takes 20 ms on an idle machine and 170-260 ms on a busy one), and a sendmsg on
 * Node's main thread stops the whole event loop for that long: the agent's gossip,
 * resolver and readiness checks with it. Requests that may be slow go here instead.
 *
 * `fd` is a NETLINK_ROUTE socket opened in the target namespace (openSocket) and used for
 * nothing else while a request is in flight: the caller runs one at a time per socket.
 * `request` is one netlink message with NLM_F_ACK set; the reply awaited is the
 * NLMSG_ERROR with its sequence number (other messages are skipped). A reply takes at most
 * REPLY_TIMEOUT_S; after that the promise rejects (ETIMEDOUT).
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
#define REPLY_BUFFER 32768

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
};

/* Pool thread: no N-API calls here. */
static void AckExecute(napi_env env, void *data) {
  (void)env;
  struct ack_job *job = data;
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  ssize_t n;
  do n = sendto(job->fd, job->request, job->length, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (n < 0 && errno == EINTR);
  if (n < 0) { job->sys_errno = errno; job->failed = "netlinkAck: sendto"; return; }
  struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
  setsockopt(job->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char *buf = malloc(REPLY_BUFFER);
  if (!buf) { job->sys_errno = ENOMEM; job->failed = "netlinkAck"; return; }
  for (;;) {
    do n = recv(job->fd, buf, REPLY_BUFFER, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) { job->sys_errno = errno == EAGAIN ? ETIMEDOUT : errno; job->failed = "netlinkAck: recv"; break; }
    int len = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq != job->seq) continue;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) { job->sys_errno = EPROTO; job->failed = "netlinkAck: a short reply"; }
      else job->result = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
      free(buf);
      return;
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
    shoal_throw_errno(env, "SHOAL_ERR_NETLINK", job->failed, job->sys_errno);
    napi_get_and_clear_last_exception(env, &error);
    napi_reject_deferred(env, job->deferred, error);
  } else {
    /* ENOTSUP and EOPNOTSUPP are one number here: named ENOTSUP, as the rest of shoal names it */
    const char *name = job->result == ENOTSUP ? "ENOTSUP" : job->result ? strerrorname_np(job->result) : "";
    napi_value v;
    napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &v);
    napi_resolve_deferred(env, job->deferred, v);
  }
  napi_delete_async_work(env, job->work);
  free(job->request);
  free(job);
}

static napi_value NetlinkAck(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  void *bytes = NULL;
  size_t length = 0;
  bool is_buffer = false;
  if (argc == 2) napi_is_buffer(env, argv[1], &is_buffer);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || !is_buffer ||
      napi_get_buffer_info(env, argv[1], &bytes, &length) != napi_ok || length < sizeof(struct nlmsghdr))
    return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "netlinkAck(fd, request)");
  const struct nlmsghdr *h = bytes;
  if (h->nlmsg_len != length || !(h->nlmsg_flags & NLM_F_ACK))
    return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "netlinkAck: one whole message with NLM_F_ACK");
  struct ack_job *job = calloc(1, sizeof *job);
  if (!job || !(job->request = malloc(length))) {
    free(job);
    return shoal_throw_errno(env, "SHOAL_ERR_NATIVE", "netlinkAck", ENOMEM);
  }
  memcpy(job->request, bytes, length);
  job->length = length;
  job->fd = fd;
  job->seq = h->nlmsg_seq;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "shoal:netlink", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, AckExecute, AckComplete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    free(job->request);
    free(job);
    return shoal_throw_msg(env, "SHOAL_ERR_NATIVE", "netlinkAck: cannot queue work");
  }
  return promise;
}

void shoal_netlink_ack_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "netlinkAck", NULL, NetlinkAck, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, 1, props);
}
