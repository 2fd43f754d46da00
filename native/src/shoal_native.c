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
 *   nftLoad() -> null when libnftables is usable, else why not (string)
 *   nftRun(nsPath|null, outputFlags, text, asFile) -> Promise<{ rc, out, err, file }>
 *   datagramOpen, datagramRecv, datagramSend, datagramClose: batched UDP (datagram.c)
 *   netlinkAck(fd, request) -> Promise<errno name | ''>: a request on a pool thread (netlink-ack.c)
 *   constants { AF_INET, AF_INET6, AF_NETLINK, SOCK_DGRAM, SOCK_STREAM, SOCK_RAW,
 *               NFT_OUTPUT_HANDLE, NFT_OUTPUT_JSON }
 *
 * nftRun is the one asynchronous export: a transaction of 250,000 set elements takes
 * seconds, so it runs on a libuv pool thread, which moves into the namespace for the call
 * and back out of it (see the nftables section below).
 */
#include "shoal_native.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/netlink.h>

#define NETNS_RUN_DIR "/run/netns"

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
  if (argc < 6) return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "openSocket(nsPath, domain, type, protocol, address, port)");
  char path[4096], addr_s[64];
  int has_ns = get_opt_string(env, argv[0], path, sizeof path);
  int has_addr = get_opt_string(env, argv[4], addr_s, sizeof addr_s);
  int domain, type, protocol, port;
  if (has_ns < 0 || has_addr < 0 || get_int(env, argv[1], &domain) || get_int(env, argv[2], &type) ||
      get_int(env, argv[3], &protocol) || get_int(env, argv[5], &port) || port < 0 || port > 65535)
    return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "openSocket: bad argument");

  int self = -1, err = 0;
  if (has_ns) {
    self = enter_netns(path, &err);
    if (self < 0) return shoal_throw_errno(env, err == ENOENT ? "SHOAL_ERR_NETNS_NOT_FOUND" : "SHOAL_ERR_NETNS", path, err);
  }
  int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
  err = errno;
  if (self >= 0) leave_netns(self);
  if (fd < 0) return shoal_throw_errno(env, "SHOAL_ERR_NATIVE", "socket", err);

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
      if (has_addr && inet_pton(AF_INET, addr_s, &sa.sin_addr) != 1) { close(fd); return shoal_throw_msg(env, "SHOAL_ERR_BAD_ADDRESS", "openSocket: bad IPv4 address"); }
      rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    } else if (domain == AF_INET6) {
      struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
      if (has_addr && inet_pton(AF_INET6, addr_s, &sa.sin6_addr) != 1) { close(fd); return shoal_throw_msg(env, "SHOAL_ERR_BAD_ADDRESS", "openSocket: bad IPv6 address"); }
      rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    }
  }
  if (rc != 0) { err = errno; close(fd); return shoal_throw_errno(env, "SHOAL_ERR_NATIVE", "bind", err); }
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
  if (has_ns < 0 || t != napi_function) return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "runInNetns(nsPath, fn)");
  napi_value global, result = NULL;
  napi_get_global(env, &global);
  if (!has_ns) {
    napi_call_function(env, global, argv[1], 0, NULL, &result);
    return result;
  }
  int err = 0;
  int self = enter_netns(path, &err);
  if (self < 0) return shoal_throw_errno(env, err == ENOENT ? "SHOAL_ERR_NETNS_NOT_FOUND" : "SHOAL_ERR_NETNS", path, err);
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
    shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", msg);
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
  if (ensure_run_dir(&err) != 0) return shoal_throw_errno(env, "SHOAL_ERR_NETNS", NETNS_RUN_DIR, err);
  int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EEXIST) { napi_get_boolean(env, 0, &result); return result; }
    return shoal_throw_errno(env, "SHOAL_ERR_NETNS", path, errno);
  }
  close(fd);
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) { err = errno; unlink(path); return shoal_throw_errno(env, "SHOAL_ERR_NETNS", "open own netns", err); }
  if (unshare(CLONE_NEWNET) != 0) { err = errno; close(self); unlink(path); return shoal_throw_errno(env, "SHOAL_ERR_NETNS", "unshare", err); }
  int rc = mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL);
  err = errno;
  leave_netns(self);
  if (rc != 0) { unlink(path); return shoal_throw_errno(env, "SHOAL_ERR_NETNS", "bind mount of new namespace", err); }
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
    return shoal_throw_errno(env, "SHOAL_ERR_NETNS", path, errno);
  }
  if (umount2(path, MNT_DETACH) != 0 && errno != EINVAL) return shoal_throw_errno(env, "SHOAL_ERR_NETNS", "umount", errno);
  if (unlink(path) != 0 && errno != ENOENT) return shoal_throw_errno(env, "SHOAL_ERR_NETNS", "unlink", errno);
  napi_get_boolean(env, 1, &result);
  return result;
}

static napi_value NetnsInode(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  int has = argc >= 1 ? get_opt_string(env, argv[0], path, sizeof path) : 0;
  if (has < 0) return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "netnsInode(nsPath|null)");
  struct stat st;
  if (stat(has ? path : "/proc/thread-self/ns/net", &st) != 0)
    return shoal_throw_errno(env, errno == ENOENT ? "SHOAL_ERR_NETNS_NOT_FOUND" : "SHOAL_ERR_NETNS", has ? path : "own netns", errno);
  napi_create_double(env, (double)st.st_ino, &result);
  return result;
}

/* ---------------------------------------------------------------------------------------
 * nftables through libnftables, the library the nft tool is a thin wrapper over.
 *
 * Debian ships libnftables.so.1 with the nftables package but no headers, so it is opened
 * with dlopen() and the handful of functions used are declared here. Their signatures and
 * the output flag bits are those of nftables 1.0.6's public API (stable since 0.9.x):
 * bit 3 prints handles (nft -a), bit 4 prints JSON (nft -j); with the JSON bit set,
 * nft_run_cmd_from_buffer() also reads its buffer as a JSON command list (1.0.6 has no
 * separate input flags). The run functions return 0 on success, nonzero on failure (the
 * tool then exits 1).
 *
 * A script (`nft -f -`) is run from a file, not a buffer: for a buffer, 1.0.6 prints an
 * error's location without line number and always quotes the buffer's first line, which
 * names the wrong line of a multi-line transaction. The file is a memfd holding the text,
 * opened by name (/proc/self/fd/N) so that errors read "FILE:LINE:COL: Error: ..." as the
 * tool's do; the caller is told the name to show it as the tool would.
 *
 * A context opens its netlink socket in the namespace of the thread that creates it, so
 * each call creates a fresh context on the pool thread after setns() and frees it before
 * the thread moves back. libnftables is not documented as thread-safe: the JavaScript
 * side keeps at most one call in flight per process.
 */
#define SHOAL_NFT_OUTPUT_HANDLE (1u << 3)
#define SHOAL_NFT_OUTPUT_JSON (1u << 4)
#define SHOAL_NFT_CTX_DEFAULT 0u

struct nft_ctx;

static struct {
  int tried;
  char why[512];
  struct nft_ctx *(*ctx_new)(uint32_t flags);
  void (*ctx_free)(struct nft_ctx *ctx);
  void (*output_set_flags)(struct nft_ctx *ctx, unsigned int flags);
  unsigned int (*output_get_flags)(struct nft_ctx *ctx);
  int (*buffer_output)(struct nft_ctx *ctx);
  const char *(*get_output_buffer)(struct nft_ctx *ctx);
  int (*buffer_error)(struct nft_ctx *ctx);
  const char *(*get_error_buffer)(struct nft_ctx *ctx);
  int (*run_cmd_from_buffer)(struct nft_ctx *ctx, const char *buf);
  int (*run_cmd_from_filename)(struct nft_ctx *ctx, const char *filename);
} nftlib;

/* The namespace this process was in when the addon loaded: where a call with no
 * namespace runs, whatever namespace the pool thread happens to have inherited. */
static int home_netns_fd = -1;

/* Loads libnftables once; returns NULL when usable, else the reason. Main thread only. */
static const char *nft_load(void) {
  if (nftlib.tried) return nftlib.why[0] ? nftlib.why : NULL;
  nftlib.tried = 1;
  void *lib = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    snprintf(nftlib.why, sizeof nftlib.why, "dlopen libnftables.so.1: %s", dlerror());
    return nftlib.why;
  }
  struct { void **slot; const char *name; } syms[] = {
    { (void **)&nftlib.ctx_new, "nft_ctx_new" },
    { (void **)&nftlib.ctx_free, "nft_ctx_free" },
    { (void **)&nftlib.output_set_flags, "nft_ctx_output_set_flags" },
    { (void **)&nftlib.output_get_flags, "nft_ctx_output_get_flags" },
    { (void **)&nftlib.buffer_output, "nft_ctx_buffer_output" },
    { (void **)&nftlib.get_output_buffer, "nft_ctx_get_output_buffer" },
    { (void **)&nftlib.buffer_error, "nft_ctx_buffer_error" },
    { (void **)&nftlib.get_error_buffer, "nft_ctx_get_error_buffer" },
    { (void **)&nftlib.run_cmd_from_buffer, "nft_run_cmd_from_buffer" },
    { (void **)&nftlib.run_cmd_from_filename, "nft_run_cmd_from_filename" },
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    *syms[i].slot = dlsym(lib, syms[i].name);
    if (!*syms[i].slot) {
      snprintf(nftlib.why, sizeof nftlib.why, "libnftables.so.1 has no %s", syms[i].name);
      dlclose(lib);
      return nftlib.why;
    }
  }
  return NULL;
}

static napi_value NftLoad(napi_env env, napi_callback_info info) {
  (void)info;
  const char *why = nft_load();
  napi_value result;
  if (why) napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &result);
  else napi_get_null(env, &result);
  return result;
}

struct nft_job {
  napi_async_work work;
  napi_deferred deferred;
  int has_ns;
  char path[4096];
  unsigned int flags;
  int as_file;
  char file[64];
  char *buffer;
  /* results */
  int rc;
  char *out, *err;
  int sys_errno;        /* nonzero: the call did not reach libnftables */
  const char *failed;   /* what failed then */
};

static char *dup_or_empty(const char *s) {
  char *d = strdup(s ? s : "");
  if (!d) {
    fprintf(stderr, "shoal native: out of memory copying nft output\n");
    abort();
  }
  return d;
}

/* Runs job->buffer as a script file (see above); sets job->sys_errno if it cannot. */
static int nft_run_file(struct nft_ctx *ctx, struct nft_job *job) {
  int fd = memfd_create("shoal-nft", MFD_CLOEXEC);
  if (fd < 0) { job->sys_errno = errno; job->failed = "memfd_create"; return -1; }
  size_t len = strlen(job->buffer), done = 0;
  while (done < len) {
    ssize_t n = write(fd, job->buffer + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { job->sys_errno = errno; job->failed = "write memfd"; close(fd); return -1; }
    done += (size_t)n;
  }
  snprintf(job->file, sizeof job->file, "/proc/self/fd/%d", fd);
  int rc = nftlib.run_cmd_from_filename(ctx, job->file);
  close(fd);
  return rc;
}

/* Pool thread: no N-API calls here. */
static void NftExecute(napi_env env, void *data) {
  (void)env;
  struct nft_job *job = data;
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) { job->sys_errno = errno; job->failed = "open own netns"; return; }
  int target = job->has_ns ? open(job->path, O_RDONLY | O_CLOEXEC) : home_netns_fd;
  if (target < 0) {
    job->sys_errno = job->has_ns ? errno : EBADF;
    job->failed = job->has_ns ? job->path : "home netns";
    close(self);
    return;
  }
  int rc = setns(target, CLONE_NEWNET);
  int err = errno;
  if (job->has_ns) close(target);
  if (rc != 0) { job->sys_errno = err; job->failed = "setns"; close(self); return; }

  struct nft_ctx *ctx = nftlib.ctx_new(SHOAL_NFT_CTX_DEFAULT);
  if (!ctx) {
    job->sys_errno = ENOMEM;
    job->failed = "nft_ctx_new";
  } else if (nftlib.buffer_output(ctx) != 0 || nftlib.buffer_error(ctx) != 0) {
    job->sys_errno = ENOMEM;
    job->failed = "nft_ctx_buffer_output";
    nftlib.ctx_free(ctx);
  } else {
    /* Exactly the tool's flags: nft sets the flags its options name and no others. */
    nftlib.output_set_flags(ctx, job->flags);
    if (nftlib.output_get_flags(ctx) != job->flags) {
      job->sys_errno = EINVAL;
      job->failed = "nft_ctx_output_set_flags";
    } else {
      job->rc = job->as_file ? nft_run_file(ctx, job) : nftlib.run_cmd_from_buffer(ctx, job->buffer);
      if (!job->sys_errno) {
        job->out = dup_or_empty(nftlib.get_output_buffer(ctx));
        job->err = dup_or_empty(nftlib.get_error_buffer(ctx));
      }
    }
    nftlib.ctx_free(ctx);
  }
  /* A pool thread left in the target namespace would run later work (this addon's or
   * Node's) there: leave_netns aborts if it cannot return. */
  leave_netns(self);
}

static void NftComplete(napi_env env, napi_status status, void *data) {
  struct nft_job *job = data;
  if (status != napi_ok && !job->sys_errno) { job->sys_errno = ECANCELED; job->failed = "nft job"; }
  if (job->sys_errno) {
    char msg[4200];
    snprintf(msg, sizeof msg, "%s: %s", job->failed, strerror(job->sys_errno));
    const char *code = "SHOAL_ERR_NATIVE";
    if (job->failed == job->path) code = job->sys_errno == ENOENT ? "SHOAL_ERR_NETNS_NOT_FOUND" : "SHOAL_ERR_NETNS";
    else if (strcmp(job->failed, "setns") == 0) code = "SHOAL_ERR_NETNS";
    napi_value error, msg_v, code_v, errno_v;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v);
    napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v);
    napi_create_error(env, code_v, msg_v, &error);
    const char *name = strerrorname_np(job->sys_errno);
    if (name) {
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &errno_v);
      napi_set_named_property(env, error, "errno", errno_v);
    }
    napi_reject_deferred(env, job->deferred, error);
  } else {
    napi_value result, rc_v, out_v, err_v, file_v;
    napi_create_object(env, &result);
    if (job->file[0]) napi_create_string_utf8(env, job->file, NAPI_AUTO_LENGTH, &file_v);
    else napi_get_null(env, &file_v);
    napi_set_named_property(env, result, "file", file_v);
    napi_create_int32(env, job->rc, &rc_v);
    napi_create_string_utf8(env, job->out, NAPI_AUTO_LENGTH, &out_v);
    napi_create_string_utf8(env, job->err, NAPI_AUTO_LENGTH, &err_v);
    napi_set_named_property(env, result, "rc", rc_v);
    napi_set_named_property(env, result, "out", out_v);
    napi_set_named_property(env, result, "err", err_v);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free(job->buffer);
  free(job->out);
  free(job->err);
  free(job);
}

static napi_value NftRun(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const char *why = nft_load();
  if (why) return shoal_throw_msg(env, "SHOAL_ERR_NATIVE_UNAVAILABLE", why);
  struct nft_job *job = calloc(1, sizeof *job);
  if (!job) return shoal_throw_errno(env, "SHOAL_ERR_NATIVE", "nftRun", ENOMEM);
  int flags = 0;
  napi_valuetype t = napi_undefined;
  bool as_file = false;
  if (argc >= 4) napi_typeof(env, argv[2], &t);
  job->has_ns = argc >= 4 && napi_get_value_bool(env, argv[3], &as_file) == napi_ok ? get_opt_string(env, argv[0], job->path, sizeof job->path) : -1;
  if (job->has_ns < 0 || get_int(env, argv[1], &flags) || flags < 0 ||
      ((unsigned int)flags & ~(SHOAL_NFT_OUTPUT_HANDLE | SHOAL_NFT_OUTPUT_JSON)) || t != napi_string) {
    free(job);
    return shoal_throw_msg(env, "SHOAL_ERR_INVALID_ARGUMENT", "nftRun(nsPath, outputFlags, text, asFile)");
  }
  job->flags = (unsigned int)flags;
  job->as_file = as_file;
  size_t len = 0;
  napi_get_value_string_utf8(env, argv[2], NULL, 0, &len);
  job->buffer = malloc(len + 1);
  if (!job->buffer) { free(job); return shoal_throw_errno(env, "SHOAL_ERR_NATIVE", "nftRun", ENOMEM); }
  napi_get_value_string_utf8(env, argv[2], job->buffer, len + 1, &len);
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "shoal:nft", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, NftExecute, NftComplete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    free(job->buffer);
    free(job);
    return shoal_throw_msg(env, "SHOAL_ERR_NATIVE", "nftRun: cannot queue work");
  }
  return promise;
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
    { "nftLoad", NULL, NftLoad, NULL, NULL, NULL, napi_enumerable, NULL },
    { "nftRun", NULL, NftRun, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (home_netns_fd < 0) home_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value c;
  napi_create_object(env, &c);
  set_int(env, c, "AF_INET", AF_INET);
  set_int(env, c, "AF_INET6", AF_INET6);
  set_int(env, c, "AF_NETLINK", AF_NETLINK);
  set_int(env, c, "SOCK_DGRAM", SOCK_DGRAM);
  set_int(env, c, "SOCK_STREAM", SOCK_STREAM);
  set_int(env, c, "SOCK_RAW", SOCK_RAW);
  set_int(env, c, "NFT_OUTPUT_HANDLE", SHOAL_NFT_OUTPUT_HANDLE);
  set_int(env, c, "NFT_OUTPUT_JSON", SHOAL_NFT_OUTPUT_JSON);
  napi_set_named_property(env, exports, "constants", c);
  shoal_datagram_init(env, exports);
  shoal_netlink_ack_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
