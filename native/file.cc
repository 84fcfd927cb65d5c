// Files the root hands to a device as capabilities (a disk's backing store): opened beneath a directory with
// openat2(2) so that no path a user names can leave it (RESOLVE_BENEATH: no "..", no absolute path;
// RESOLVE_NO_SYMLINKS: no symlink at any component; RESOLVE_NO_MAGICLINKS: no /proc links), and the size of an open
// file or block device (lseek(2) to the end: fstat says 0 for a block device).
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "common.h"

namespace umdev {

namespace {

int openat2_retry(int dirfd, const char* path, struct open_how* how) {
  long r;
  do r = syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
  while (r < 0 && errno == EINTR);
  return static_cast<int>(r);
}

// openBeneath(dir, path, write, create, mode): an fd (close-on-exec) of `path` resolved beneath the directory `dir`
// with no symlink anywhere on the way. `write` opens read-write (else read-only); `create` creates a missing regular
// file with `mode`. O_NONBLOCK, so that a FIFO or a device node named by mistake never blocks the caller (the
// caller checks the kind with fstat before using it).
napi_value open_beneath(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  char dir[PATH_MAX];
  char path[PATH_MAX];
  bool write = false;
  bool create = false;
  uint64_t mode = 0600;
  if (!get_args(env, info, 5, argv) || !get_string(env, argv[0], "openBeneath", dir, sizeof(dir), ENAMETOOLONG) ||
      !get_string(env, argv[1], "openBeneath", path, sizeof(path), ENAMETOOLONG)) {
    return nullptr;
  }
  get_bool(env, argv[2], false, &write);
  get_bool(env, argv[3], false, &create);
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  if (t != napi_undefined && !get_size(env, argv[4], "openBeneath", "mode", &mode)) return nullptr;
  if (mode > 07777) return throw_einval(env, "openBeneath", "(mode must fit in 12 bits)");
  int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) return throw_errno(env, errno, "open", dir);
  struct open_how how = {};
  how.flags = (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (create ? O_CREAT : 0);
  how.mode = create ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd = openat2_retry(dirfd, path, &how);
  int saved = errno;
  close(dirfd);
  if (fd < 0) return throw_errno(env, saved, "openat2", path);
  return make_int(env, fd);
}

// fdSize(fd): the size in bytes of what `fd` refers to (a regular file or a block device), as a bigint.
napi_value fd_size(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "lseek", &fd)) return nullptr;
  off_t end = lseek(fd, 0, SEEK_END);
  if (end < 0) return throw_errno(env, errno, "lseek");
  napi_value out;
  napi_create_bigint_uint64(env, static_cast<uint64_t>(end), &out);
  return out;
}

}  // namespace

void init_file(napi_env env, napi_value exports) {
  export_fn(env, exports, "openBeneath", open_beneath);
  export_fn(env, exports, "fdSize", fd_size);
}

}  // namespace umdev
