// eventfd (vfio-user interrupts and irqfd-style signalling), memfd (guest/DMA memory and region backing that can be
// passed over SCM_RIGHTS) and shared mmap of any such fd as an ArrayBuffer.
//
// Mapping lifetime: mmap() returns an external ArrayBuffer over the mapping. Exactly one of munmap() (explicit; it
// detaches the ArrayBuffer first so no view can touch unmapped memory) or the ArrayBuffer's finalizer (on garbage
// collection) unmaps it: both claim the Mapping through its `unmapped` flag, under `g_mutex` since finalizers of
// different worker threads may run concurrently.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "common.h"

namespace umdev {

namespace {

struct Mapping {
  void* addr;
  size_t length;
  bool unmapped;
};

std::mutex g_mutex;
std::unordered_map<void*, Mapping*> g_mappings;  // live (not yet unmapped) mappings by address

// Claims a mapping for unmapping; false if it was already claimed.
bool claim(Mapping* m) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (m->unmapped) return false;
  m->unmapped = true;
  g_mappings.erase(m->addr);
  return true;
}

void finalize_mapping(napi_env, void*, void* hint) {
  auto* m = static_cast<Mapping*>(hint);
  if (claim(m)) munmap(m->addr, m->length);
  delete m;
}

napi_value eventfd_fn(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint64_t initval;
  if (!get_args(env, info, 2, argv) || !get_size(env, argv[0], "eventfd", "initval", &initval)) return nullptr;
  if (initval > UINT32_MAX) return throw_einval(env, "eventfd", "(initval must fit in 32 bits)");
  int flags = EFD_CLOEXEC;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t == napi_object) {
    napi_value v;
    bool on;
    napi_get_named_property(env, argv[1], "nonblock", &v);
    get_bool(env, v, false, &on);
    if (on) flags |= EFD_NONBLOCK;
    napi_get_named_property(env, argv[1], "semaphore", &v);
    get_bool(env, v, false, &on);
    if (on) flags |= EFD_SEMAPHORE;
  } else if (t != napi_undefined) {
    return throw_einval(env, "eventfd", "(flags must be { nonblock?, semaphore? })");
  }
  int fd = eventfd(static_cast<unsigned>(initval), flags);
  if (fd < 0) return throw_errno(env, errno, "eventfd");
  return make_int(env, fd);
}

// eventfdRead(fd) -> the counter as a bigint (1 in semaphore mode), or null when it is zero on a non-blocking fd.
napi_value eventfd_read(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "eventfdRead", &fd)) return nullptr;
  uint64_t value;
  ssize_t n;
  do n = read(fd, &value, sizeof value);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return make_null(env);
    return throw_errno(env, errno, "eventfdRead");
  }
  if (n != sizeof value) return throw_errno(env, EINVAL, "eventfdRead", "(not an eventfd)");
  napi_value r;
  napi_create_bigint_uint64(env, value, &r);
  return r;
}

// eventfdWrite(fd, value): adds value; EAGAIN (thrown) when a non-blocking counter would overflow.
napi_value eventfd_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  uint64_t value;
  if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "eventfdWrite", &fd) ||
      !get_size(env, argv[1], "eventfdWrite", "value", &value))
    return nullptr;
  ssize_t n;
  do n = write(fd, &value, sizeof value);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "eventfdWrite");
  if (n != sizeof value) return throw_errno(env, EINVAL, "eventfdWrite", "(not an eventfd)");
  return make_undefined(env);
}

// eventfdSignal(fd) -> true when 1 was added, false when the counter is full (the signal is dropped). It never
// blocks, even on an eventfd the client made blocking: the fd's O_NONBLOCK is (re)set first, and a full counter is
// seen by poll before the write. (eventfd has no RWF_NOWAIT; the client shares the open file description, so it
// could clear O_NONBLOCK again between fcntl and write: that race is the only way left to block here.)
napi_value eventfd_signal(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "eventfdSignal", &fd)) return nullptr;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return throw_errno(env, errno, "fcntl");
  if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return throw_errno(env, errno, "fcntl");
  struct pollfd p = {fd, POLLOUT, 0};
  int r;
  do r = poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, errno, "poll");
  if (r == 0 || !(p.revents & POLLOUT)) return make_bool(env, false);
  uint64_t one = 1;
  ssize_t n;
  do n = write(fd, &one, sizeof one);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return make_bool(env, false);
    return throw_errno(env, errno, "eventfdSignal");
  }
  if (n != sizeof one) return throw_errno(env, EINVAL, "eventfdSignal", "(not an eventfd)");
  return make_bool(env, true);
}

// getSeals(fd) -> the memfd seals (F_SEAL_*) of fd; 0 for a file that cannot carry seals (F_GET_SEALS: EINVAL).
napi_value get_seals(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "getSeals", &fd)) return nullptr;
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    if (errno == EINVAL) return make_int(env, 0);
    return throw_errno(env, errno, "fcntl");
  }
  return make_int(env, seals);
}

// memfdCreate(name, size, seals?): an anonymous shared file of `size` bytes (zero-filled), close-on-exec; with
// `seals` (F_SEAL_* bits) it is created sealable and those seals are added after sizing it.
napi_value memfd_create_fn(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char name[250];  // the kernel's limit: 249 bytes plus NUL
  uint64_t size;
  uint64_t seals = 0;
  napi_valuetype t;
  if (!get_args(env, info, 3, argv) || !get_string(env, argv[0], "memfdCreate", name, sizeof name, EINVAL) ||
      !get_size(env, argv[1], "memfdCreate", "size", &size))
    return nullptr;
  napi_typeof(env, argv[2], &t);
  if (t != napi_undefined && !get_size(env, argv[2], "memfdCreate", "seals", &seals)) return nullptr;
  int fd = memfd_create(name, MFD_CLOEXEC | (seals ? MFD_ALLOW_SEALING : 0));
  if (fd < 0) return throw_errno(env, errno, "memfd_create");
  if (ftruncate(fd, static_cast<off_t>(size)) < 0 ||
      (seals && fcntl(fd, F_ADD_SEALS, static_cast<int>(seals)) < 0)) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "memfd_create");
  }
  return make_int(env, fd);
}

// mmap(fd, offset, length, writable) -> ArrayBuffer over a MAP_SHARED mapping.
napi_value mmap_fn(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd;
  uint64_t offset, length;
  bool writable;
  if (!get_args(env, info, 4, argv) || !get_fd(env, argv[0], "mmap", &fd) ||
      !get_size(env, argv[1], "mmap", "offset", &offset) || !get_size(env, argv[2], "mmap", "length", &length))
    return nullptr;
  get_bool(env, argv[3], false, &writable);
  if (length == 0) return throw_einval(env, "mmap", "(length must be positive)");
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* addr = mmap(nullptr, length, prot, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (addr == MAP_FAILED) return throw_errno(env, errno, "mmap");
  auto* m = new Mapping{addr, static_cast<size_t>(length), false};
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_mappings[addr] = m;
  }
  napi_value ab;
  napi_status s = napi_create_external_arraybuffer(env, addr, length, finalize_mapping, m, &ab);
  if (s != napi_ok) {
    claim(m);
    munmap(addr, length);
    delete m;
    return throw_errno(env, ENOMEM, "mmap", "(cannot wrap the mapping in an ArrayBuffer)");
  }
  return ab;
}

// munmap(ab): detaches the ArrayBuffer, then unmaps. A detached buffer (already unmapped) is a no-op.
napi_value munmap_fn(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return nullptr;
  bool is_ab = false;
  napi_is_arraybuffer(env, argv[0], &is_ab);
  if (!is_ab) return throw_einval(env, "munmap", "(expected an ArrayBuffer from mmap)");
  bool detached = false;
  napi_is_detached_arraybuffer(env, argv[0], &detached);
  if (detached) return make_undefined(env);
  void* data;
  size_t length;
  napi_get_arraybuffer_info(env, argv[0], &data, &length);
  Mapping* m = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_mappings.find(data);
    if (it != g_mappings.end() && it->second->length == length) m = it->second;
  }
  if (!m || !claim(m)) return throw_einval(env, "munmap", "(not a buffer from mmap)");
  // Detach first: afterwards no JS view can reach the memory. The finalizer may run (now or later) and free `m`,
  // so only the copies below are used after this point.
  void* addr = m->addr;
  size_t len = m->length;
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) {
    std::lock_guard<std::mutex> lock(g_mutex);
    m->unmapped = false;
    g_mappings[addr] = m;
    return throw_errno(env, EBUSY, "munmap", "(the ArrayBuffer cannot be detached)");
  }
  munmap(addr, len);
  return make_undefined(env);
}

napi_value page_size(napi_env env, napi_callback_info) { return make_int(env, sysconf(_SC_PAGESIZE)); }

}  // namespace

void init_mem(napi_env env, napi_value exports) {
  export_fn(env, exports, "eventfd", eventfd_fn);
  export_fn(env, exports, "eventfdRead", eventfd_read);
  export_fn(env, exports, "eventfdWrite", eventfd_write);
  export_fn(env, exports, "eventfdSignal", eventfd_signal);
  export_fn(env, exports, "getSeals", get_seals);
  export_fn(env, exports, "memfdCreate", memfd_create_fn);
  export_fn(env, exports, "mmap", mmap_fn);
  export_fn(env, exports, "munmap", munmap_fn);
  export_fn(env, exports, "pageSize", page_size);
}

}  // namespace umdev
