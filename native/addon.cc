// Entry point of umdev_native: the syscalls Node lacks (fd readiness on any fd, fd passing, eventfd, memfd, mmap,
// and the confinement of a device host).
// Each source file registers its own exports; src/native/index.ts is the only JavaScript that loads this addon.
#include "common.h"

namespace {

napi_value init(napi_env env, napi_value exports) {
  umdev::init_common(env, exports);
  umdev::init_io(env, exports);
  umdev::init_watch(env, exports);
  umdev::init_sock(env, exports);
  umdev::init_mem(env, exports);
  umdev::init_confine(env, exports);
  umdev::init_fork(env, exports);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
