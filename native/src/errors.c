/* The errors the addon throws: a code (SHOAL_ERR_*) and, for a failed system call, its errno name. */
#include "shoal_native.h"
#include <stdio.h>
#include <string.h>

napi_value shoal_throw_errno(napi_env env, const char *code, const char *what, int err) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value error, errno_name, msg_v, code_v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v);
  napi_create_error(env, code_v, msg_v, &error);
  const char *name = strerrorname_np(err);
  if (name) {
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &errno_name);
    napi_set_named_property(env, error, "errno", errno_name);
  }
  napi_throw(env, error);
  return NULL;
}

napi_value shoal_throw_msg(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}
