// Plain fd I/O that never blocks the event loop: non-blocking mode, close-on-exec, read(2), write(2), close(2),
// flock(2).
// EAGAIN is an ordinary answer (-1), not an exception; EINTR is retried.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "common.h"

namespace umdev {

namespace {

// setNonBlocking(fd, on): sets or clears O_NONBLOCK on the open file description (shared by every dup of it).
napi_value set_nonblocking(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  bool on;
  if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "fcntl", &fd)) return nullptr;
  get_bool(env, argv[1], true, &on);
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return throw_errno(env, errno, "fcntl");
  int next = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (next != flags && fcntl(fd, F_SETFL, next) < 0) return throw_errno(env, errno, "fcntl");
  return make_undefined(env);
}

// setCloseOnExec(fd): sets FD_CLOEXEC, so no child this process starts inherits the fd.
napi_value set_cloexec(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "fcntl", &fd)) return nullptr;
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return throw_errno(env, errno, "fcntl");
  if (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return throw_errno(env, errno, "fcntl");
  return make_undefined(env);
}

// read(fd, buf, offset, length, spinNs?) -> bytes read, 0 at EOF, -1 if nothing is ready (EAGAIN) within spinNs.
napi_value read_fd(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int fd;
  uint8_t* data;
  size_t len;
  uint64_t until;
  if (!get_args(env, info, 5, argv) || !get_fd(env, argv[0], "read", &fd) ||
      !get_window(env, argv[1], argv[2], argv[3], "read", &data, &len) || !get_spin(env, argv[4], "read", &until))
    return nullptr;
  ssize_t n;
  do n = read(fd, data, len);
  while (n < 0 && (errno == EINTR || ((errno == EAGAIN || errno == EWOULDBLOCK) && spin_again(until))));
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int(env, -1);
    return throw_errno(env, errno, "read");
  }
  return make_int(env, n);
}

// write(fd, buf, offset, length) -> bytes written (possibly fewer than asked), -1 if the fd is full (EAGAIN).
napi_value write_fd(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd;
  uint8_t* data;
  size_t len;
  if (!get_args(env, info, 4, argv) || !get_fd(env, argv[0], "write", &fd) ||
      !get_window(env, argv[1], argv[2], argv[3], "write", &data, &len))
    return nullptr;
  ssize_t n;
  do n = write(fd, data, len);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int(env, -1);
    return throw_errno(env, errno, "write");
  }
  return make_int(env, n);
}

// close(fd). On Linux the fd is released even when close reports EINTR, so EINTR is success and never retried
// (a retry could close an fd another part of the process has just been given).
napi_value close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "close", &fd)) return nullptr;
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close");
  return make_undefined(env);
}

// tryLock(fd) -> true when this open file description now holds an exclusive flock(2), false when another holds
// it. The kernel drops the lock when the last fd of the description closes, so a killed holder never leaves it.
napi_value try_lock(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "flock", &fd)) return nullptr;
  int r;
  do r = flock(fd, LOCK_EX | LOCK_NB);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EWOULDBLOCK) return make_bool(env, false);
    return throw_errno(env, errno, "flock");
  }
  return make_bool(env, true);
}

}  // namespace

void init_io(napi_env env, napi_value exports) {
  export_fn(env, exports, "setNonBlocking", set_nonblocking);
  export_fn(env, exports, "setCloseOnExec", set_cloexec);
  export_fn(env, exports, "read", read_fd);
  export_fn(env, exports, "write", write_fd);
  export_fn(env, exports, "close", close_fd);
  export_fn(env, exports, "tryLock", try_lock);
}

}  // namespace umdev
