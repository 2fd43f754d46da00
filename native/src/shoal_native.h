/* What the addon's source files share. */
#ifndef SHOAL_NATIVE_H
#define SHOAL_NATIVE_H
#include <node_api.h>

/* errors.c: throws an Error with `code`, the message "what: strerror(err)" and `errno` (its name). */
napi_value shoal_throw_errno(napi_env env, const char *code, const char *what, int err);
/* Throws an Error with `code` and `msg`. */
napi_value shoal_throw_msg(napi_env env, const char *code, const char *msg);
/* Adds the datagram exports (datagram.c) to `exports`. */
void shoal_datagram_init(napi_env env, napi_value exports);
/* Adds netlinkAck (netlink-ack.c) to `exports`. */
void shoal_netlink_ack_init(napi_env env, napi_value exports);

#endif
