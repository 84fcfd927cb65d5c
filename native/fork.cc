// Forking device hosts from a booted one (the zygote, src/daemon/device-host/zygote.ts): a host that has loaded
// Node, umdev and the driver catalog forks a copy of itself per device, which shares every page it has not written
// (copy-on-write), so a new host costs a fork, not a Node start-up, and a hundred hosts share one copy of the code.
//
// Node is not made to be forked: the child has only the forking thread. What that takes, and where it is done:
// - the event loop's kernel state (epoll set, async and signal fds) is shared with the parent until uv_loop_fork
//   makes the child's own; it runs here, before any JavaScript can touch a watcher;
// - V8 helper threads are gone, so hosts run with --single-threaded (V8 never hands them work); libuv's thread pool
//   is started again on first use (libuv resets it in a pthread_atfork handler, which fork() runs);
// - Node's exit joins those threads, which the child does not have: a forked host leaves with exitNow (_exit).
// The parent (the zygote) reaps its children (reapChildren, when a child's pidfd says it ended) and reports each one's end to umdevd, which
// signals a host only through a pidfd, never by a pid that may have been reused.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common.h"

namespace umdev {

namespace {

// V8 marks its heap reservations MADV_DONTFORK, so a child would find its own heap unmapped. The zygote means to
// share exactly that memory with its children, copy-on-write: every mapping is made inheritable again first.
bool let_children_inherit_everything() {
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) return false;
  char line[512];
  unsigned long start, end;
  while (fgets(line, sizeof line, maps) != nullptr) {
    if (sscanf(line, "%lx-%lx", &start, &end) != 2) continue;
    // EINVAL on special mappings (the vsyscall page): nothing to inherit there anyway.
    madvise(reinterpret_cast<void*>(start), end - start, MADV_DOFORK);
  }
  fclose(maps);
  return true;
}

// forkHost(stderrFd): fork this process. In the child, the loop is made its own and `stderrFd` becomes fd 2 (the
// original is closed); returns 0 there, and the child's pid in the parent.
napi_value fork_host(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return nullptr;
  int err_fd;
  if (!get_fd(env, argv[0], "forkHost", &err_fd)) return nullptr;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return throw_einval(env, "forkHost", "no event loop");
  if (!let_children_inherit_everything()) return throw_errno(env, errno, "open", "/proc/self/maps");
  pid_t pid = fork();
  if (pid < 0) return throw_errno(env, errno, "fork");
  if (pid == 0) {
    // Before anything else: until this returns, a watcher change would edit the parent's epoll set.
    int r = uv_loop_fork(loop);
    if (r != 0) _exit(71);
    if (dup2(err_fd, 2) < 0) _exit(71);
    if (err_fd != 2) close(err_fd);
  }
  return make_int(env, pid);
}

// exitNow(code): leave at once, without Node's exit (which would wait for threads a forked child does not have).
napi_value exit_now(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return nullptr;
  int32_t code = 1;
  napi_get_value_int32(env, argv[0], &code);
  _exit(code & 0xff);
}

// reapChildren(): every child that has ended, as [pid, code, signal, pid, code, signal, ...] (code -1 when killed
// by a signal, signal 0 when it exited).
napi_value reap_children(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_array(env, &out);
  uint32_t n = 0;
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    napi_set_element(env, out, n++, make_int(env, pid));
    napi_set_element(env, out, n++, make_int(env, code));
    napi_set_element(env, out, n++, make_int(env, sig));
  }
  return out;
}

// pidfdOpen(pid): a pidfd for `pid` (close-on-exec); ESRCH when it is gone.
napi_value pidfd_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return nullptr;
  int32_t pid = 0;
  if (napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) return throw_einval(env, "pidfdOpen", "bad pid");
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return throw_errno(env, errno, "pidfd_open");
  return make_int(env, fd);
}

// pidfdKill(pidfd, signal): signal the process the pidfd names; false when it has already ended (ESRCH).
napi_value pidfd_kill(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return nullptr;
  int fd;
  if (!get_fd(env, argv[0], "pidfdKill", &fd)) return nullptr;
  int32_t sig = SIGKILL;
  napi_get_value_int32(env, argv[1], &sig);
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) < 0) {
    if (errno == ESRCH) return make_bool(env, false);
    return throw_errno(env, errno, "pidfd_send_signal");
  }
  return make_bool(env, true);
}

// dieWithParent(ppid): SIGKILL this process when its parent ends; ESRCH if `ppid` is no longer the parent.
napi_value die_with_parent(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return nullptr;
  int32_t ppid = 0;
  napi_get_value_int32(env, argv[0], &ppid);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return throw_errno(env, errno, "prctl", "PR_SET_PDEATHSIG");
  if (getppid() != ppid) return throw_errno(env, ESRCH, "getppid", "the parent is gone");
  return make_undefined(env);
}

// moveFd(from, to): `from` becomes `to` (dup2, close-on-exec) and `from` is closed.
napi_value move_fd(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return nullptr;
  int from, to;
  if (!get_fd(env, argv[0], "moveFd", &from) || !get_fd(env, argv[1], "moveFd", &to)) return nullptr;
  if (from == to) return make_undefined(env);
  if (dup3(from, to, O_CLOEXEC) < 0) return throw_errno(env, errno, "dup3");
  close(from);
  return make_undefined(env);
}

}  // namespace

void init_fork(napi_env env, napi_value exports) {
  export_fn(env, exports, "forkHost", fork_host);
  export_fn(env, exports, "exitNow", exit_now);
  export_fn(env, exports, "reapChildren", reap_children);
  export_fn(env, exports, "pidfdOpen", pidfd_open);
  export_fn(env, exports, "pidfdKill", pidfd_kill);
  export_fn(env, exports, "dieWithParent", die_with_parent);
  export_fn(env, exports, "moveFd", move_fd);
}

}  // namespace umdev
