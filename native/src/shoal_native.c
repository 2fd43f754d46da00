/*
 * shoal's native addon: the few system calls Node cannot make.
 *
 * A socket belongs to the network namespace of the thread that created it, for its whole
 * life. Node has no setns(), so to serve DNS inside a sandbox or talk rtnetlink to an
 * overlay namespace we switch the calling thread into the target namespace, create the
 * socket, and switch back before returning to JavaScript. Only the calling thread moves,
 * only for the duration of one synchronous call, and it always moves back (a failure to
 * return aborts the process: continuing in the wrong namespace would silently program
 * the wrong kernel state).
 *
 * Exports:
 *   openSocket(nsPath|null, domain, type, protocol, address|null, port) -> fd
 *   runInNetns(nsPath|null, fn) -> fn()'s result
 *   createNetns(name) -> bool (false: existed)   deleteNetns(name) -> bool (false: missing)
 *   netnsInode(nsPath|null) -> number (the namespace's inode, to compare identities)
 *   constants { AF_INET, AF_INET6, AF_NETLINK, SOCK_DGRAM, SOCK_STREAM, SOCK_RAW }
 */
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/netlink.h>

#define NETNS_RUN_DIR "/run/netns"

static napi_value throw_errno(napi_env env, const char *code, const char *what, int err) {
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

static napi_value throw_msg(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

/* Reads an optional string argument into buf; returns 0 if null/undefined, 1 if set, -1 on error. */
static int get_opt_string(napi_env env, napi_value v, char *buf, size_t len) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) return 0;
  if (t != napi_string) return -1;
  size_t got;
  if (napi_get_value_string_utf8(env, v, buf, len, &got) != napi_ok || got >= len - 1) return -1;
  return 1;
}

static int get_int(napi_env env, napi_value v, int *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) return -1;
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

/* Enters the namespace at path; returns the fd of the namespace to return to, or -errno. */
static int enter_netns(const char *path, int *err_out) {
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) { *err_out = errno; return -1; }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) { *err_out = errno; close(self); return -1; }
  if (setns(target, CLONE_NEWNET) != 0) { *err_out = errno; close(target); close(self); return -1; }
  close(target);
  return self;
}

static void leave_netns(int self) {
  if (setns(self, CLONE_NEWNET) != 0) {
    fprintf(stderr, "shoal native: cannot return to the original network namespace: %s\n", strerror(errno));
    abort();
  }
  close(self);
}

static napi_value OpenSocket(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) return throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "openSocket(nsPath, domain, type, protocol, address, port)");
  char path[4096], addr_s[64];
  int has_ns = get_opt_string(env, argv[0], path, sizeof path);
  int has_addr = get_opt_string(env, argv[4], addr_s, sizeof addr_s);
  int domain, type, protocol, port;
  if (has_ns < 0 || has_addr < 0 || get_int(env, argv[1], &domain) || get_int(env, argv[2], &type) ||
      get_int(env, argv[3], &protocol) || get_int(env, argv[5], &port) || port < 0 || port > 65535)
    return throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "openSocket: bad argument");

  int self = -1, err = 0;
  if (has_ns) {
    self = enter_netns(path, &err);
    if (self < 0) return throw_errno(env, err == ENOENT ? "SHOAL_ERR_NETNS_NOT_FOUND" : "SHOAL_ERR_NETNS", path, err);
  }
  int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
  err = errno;
  if (self >= 0) leave_netns(self);
  if (fd < 0) return throw_errno(env, "SHOAL_ERR_NATIVE", "socket", err);

  /* Binding happens after we are back: a socket keeps its namespace, and bind() resolves
   * the address in the socket's namespace, not the caller's. */
  int rc = 0;
  if (domain == AF_NETLINK) {
    struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_pid = 0, .nl_groups = 0 };
    rc = bind(fd, (struct sockaddr *)&nl, sizeof nl);
  } else if (has_addr || port) {
    int one = 1;
    if ((type & 0xf) == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (domain == AF_INET) {
      struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
      if (has_addr && inet_pton(AF_INET, addr_s, &sa.sin_addr) != 1) { close(fd); return throw_msg(env, "SHOAL_ERR_BAD_ADDRESS", "openSocket: bad IPv4 address"); }
      rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    } else if (domain == AF_INET6) {
      struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
      if (has_addr && inet_pton(AF_INET6, addr_s, &sa.sin6_addr) != 1) { close(fd); return throw_msg(env, "SHOAL_ERR_BAD_ADDRESS", "openSocket: bad IPv6 address"); }
      rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    }
  }
  if (rc != 0) { err = errno; close(fd); return throw_errno(env, "SHOAL_ERR_NATIVE", "bind", err); }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

static napi_value RunInNetns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], this_arg;
  napi_get_cb_info(env, info, &argc, argv, &this_arg, NULL);
  char path[4096];
  int has_ns = argc >= 2 ? get_opt_string(env, argv[0], path, sizeof path) : -1;
  napi_valuetype t = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t);
  if (has_ns < 0 || t != napi_function) return throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "runInNetns(nsPath, fn)");
  napi_value global, result = NULL;
  napi_get_global(env, &global);
  if (!has_ns) {
    napi_call_function(env, global, argv[1], 0, NULL, &result);
    return result;
  }
  int err = 0;
  int self = enter_netns(path, &err);
  if (self < 0) return throw_errno(env, err == ENOENT ? "SHOAL_ERR_NETNS_NOT_FOUND" : "SHOAL_ERR_NETNS", path, err);
  /* A pending exception propagates to the caller once we return. */
  napi_call_function(env, global, argv[1], 0, NULL, &result);
  leave_netns(self);
  return result;
}

static int ensure_run_dir(int *err_out) {
  if (mkdir(NETNS_RUN_DIR, 0755) != 0 && errno != EEXIST) { *err_out = errno; return -1; }
  /* Like iproute2: make the directory a shared mount point so namespaces mounted here are
   * seen from other mount namespaces too. */
  if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) == 0) return 0;
  if (errno != EINVAL) { *err_out = errno; return -1; }
  if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) != 0) { *err_out = errno; return -1; }
  if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) != 0) { *err_out = errno; return -1; }
  return 0;
}

static int valid_ns_name(const char *name) {
  return name[0] && strlen(name) < 256 && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

/* Reads the single namespace-name argument into path (NETNS_RUN_DIR/NAME); 0 on success,
 * -1 with a JS exception pending. */
static int ns_path_arg(napi_env env, napi_callback_info info, const char *fn, char *path, size_t len) {
  size_t argc = 1;
  napi_value argv[1];
  char name[512];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || get_opt_string(env, argv[0], name, sizeof name) != 1 || !valid_ns_name(name)) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s: bad namespace name", fn);
    throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", msg);
    return -1;
  }
  snprintf(path, len, NETNS_RUN_DIR "/%s", name);
  return 0;
}

static napi_value CreateNetns(napi_env env, napi_callback_info info) {
  napi_value result;
  char path[1024];
  if (ns_path_arg(env, info, "createNetns", path, sizeof path) != 0) return NULL;
  int err = 0;
  if (ensure_run_dir(&err) != 0) return throw_errno(env, "SHOAL_ERR_NETNS", NETNS_RUN_DIR, err);
  int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EEXIST) { napi_get_boolean(env, 0, &result); return result; }
    return throw_errno(env, "SHOAL_ERR_NETNS", path, errno);
  }
  close(fd);
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) { err = errno; unlink(path); return throw_errno(env, "SHOAL_ERR_NETNS", "open own netns", err); }
  if (unshare(CLONE_NEWNET) != 0) { err = errno; close(self); unlink(path); return throw_errno(env, "SHOAL_ERR_NETNS", "unshare", err); }
  int rc = mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL);
  err = errno;
  leave_netns(self);
  if (rc != 0) { unlink(path); return throw_errno(env, "SHOAL_ERR_NETNS", "bind mount of new namespace", err); }
  napi_get_boolean(env, 1, &result);
  return result;
}

static napi_value DeleteNetns(napi_env env, napi_callback_info info) {
  napi_value result;
  char path[1024];
  if (ns_path_arg(env, info, "deleteNetns", path, sizeof path) != 0) return NULL;
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) { napi_get_boolean(env, 0, &result); return result; }
    return throw_errno(env, "SHOAL_ERR_NETNS", path, errno);
  }
  if (umount2(path, MNT_DETACH) != 0 && errno != EINVAL) return throw_errno(env, "SHOAL_ERR_NETNS", "umount", errno);
  if (unlink(path) != 0 && errno != ENOENT) return throw_errno(env, "SHOAL_ERR_NETNS", "unlink", errno);
  napi_get_boolean(env, 1, &result);
  return result;
}

static napi_value NetnsInode(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  int has = argc >= 1 ? get_opt_string(env, argv[0], path, sizeof path) : 0;
  if (has < 0) return throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "netnsInode(nsPath|null)");
  struct stat st;
  if (stat(has ? path : "/proc/thread-self/ns/net", &st) != 0)
    return throw_errno(env, errno == ENOENT ? "SHOAL_ERR_NETNS_NOT_FOUND" : "SHOAL_ERR_NETNS", has ? path : "own netns", errno);
  napi_create_double(env, (double)st.st_ino, &result);
  return result;
}

static void set_int(napi_env env, napi_value obj, const char *name, int v) {
  napi_value n;
  napi_create_int32(env, v, &n);
  napi_set_named_property(env, obj, name, n);
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "openSocket", NULL, OpenSocket, NULL, NULL, NULL, napi_enumerable, NULL },
    { "runInNetns", NULL, RunInNetns, NULL, NULL, NULL, napi_enumerable, NULL },
    { "createNetns", NULL, CreateNetns, NULL, NULL, NULL, napi_enumerable, NULL },
    { "deleteNetns", NULL, DeleteNetns, NULL, NULL, NULL, napi_enumerable, NULL },
    { "netnsInode", NULL, NetnsInode, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value c;
  napi_create_object(env, &c);
  set_int(env, c, "AF_INET", AF_INET);
  set_int(env, c, "AF_INET6", AF_INET6);
  set_int(env, c, "AF_NETLINK", AF_NETLINK);
  set_int(env, c, "SOCK_DGRAM", SOCK_DGRAM);
  set_int(env, c, "SOCK_STREAM", SOCK_STREAM);
  set_int(env, c, "SOCK_RAW", SOCK_RAW);
  napi_set_named_property(env, exports, "constants", c);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
