// FdWatcher: readiness of any pollable fd (a /dev/fuse session, a socket, an eventfd) through a libuv uv_poll_t on
// the main loop, so the callback runs on the JS thread with no thread hop.
//
// Ownership: the JS object owns a Watcher; the Watcher owns one PollHandle while it is open. While open, the Watcher
// holds a strong reference to its JS object (so a watcher nobody references still fires); stop() drops it. libuv
// frees handles asynchronously, so a PollHandle is released by its uv_close callback (on_closed), never directly,
// and it outlives its Watcher when the JS object is collected before the close completes.
//
// Teardown: each PollHandle holds an async cleanup hook from creation until on_closed. Node then keeps running the
// loop while tearing down an environment (a worker exiting) until every handle has closed, so on_closed never runs
// after the addon has been unloaded.
//
// The fd itself is the caller's: stop() the watcher BEFORE closing the fd, or epoll may report a later fd that
// reuses the number. uv_poll_init also puts the fd into non-blocking mode (libuv requires it).
#include <uv.h>

#include <cerrno>

#include "common.h"

namespace umdev {

namespace {

struct Watcher;

struct PollHandle {
  uv_poll_t poll;
  Watcher* owner = nullptr;  // null once the watcher stopped: a late event is then ignored
  napi_async_cleanup_hook_handle hook = nullptr;  // removed in on_closed
};

struct Watcher {
  napi_env env = nullptr;
  napi_ref self = nullptr;  // from napi_wrap; count 1 while open, 0 after stop()
  napi_ref cb = nullptr;
  napi_async_context async = nullptr;
  PollHandle* handle = nullptr;  // null once stopped
  int events = 0;
};

void on_closed(uv_handle_t* h) {
  auto* handle = reinterpret_cast<PollHandle*>(h);
  if (handle->hook) napi_remove_async_cleanup_hook(handle->hook);
  delete handle;
}

// Closes the poll handle and drops what keeps the JS object alive. Idempotent. `in_teardown` is set when the
// environment is going away: its references then die with it and no JS may run, so only the handle is closed.
void stop_watcher(Watcher* w, bool in_teardown) {
  if (!w->handle) return;
  uv_poll_stop(&w->handle->poll);
  w->handle->owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&w->handle->poll), on_closed);
  w->handle = nullptr;
  if (in_teardown) return;
  napi_env env = w->env;
  napi_delete_reference(env, w->cb);
  w->cb = nullptr;
  napi_async_destroy(env, w->async);
  w->async = nullptr;
  uint32_t count;
  napi_reference_unref(env, w->self, &count);
}

// Environment teardown: close a still-open handle; on_closed then removes this hook (a handle already closing
// removes it itself).
void teardown_hook(napi_async_cleanup_hook_handle, void* arg) {
  auto* handle = static_cast<PollHandle*>(arg);
  if (handle->owner) stop_watcher(handle->owner, true);
}

void finalize(napi_env env, void* data, void*) {
  auto* w = static_cast<Watcher*>(data);
  // An open watcher is strongly held, so an open handle here means the environment is being torn down.
  stop_watcher(w, true);
  napi_delete_reference(env, w->self);
  delete w;
}

// Reads `{ readable?, writable?, hangup? }` into a UV_READABLE | UV_WRITABLE | UV_DISCONNECT mask. `hangup` alone
// lets a caller that stopped reading (backpressure) still see the peer go away.
bool get_events(napi_env env, napi_value v, const char* call, int* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_object) {
    throw_einval(env, call, "(events must be { readable?, writable? })");
    return false;
  }
  napi_value r, w, h;
  bool readable, writable, hangup;
  napi_get_named_property(env, v, "readable", &r);
  napi_get_named_property(env, v, "writable", &w);
  napi_get_named_property(env, v, "hangup", &h);
  get_bool(env, r, false, &readable);
  get_bool(env, w, false, &writable);
  get_bool(env, h, false, &hangup);
  *out = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0) | (hangup ? UV_DISCONNECT : 0);
  return true;
}

void on_poll(uv_poll_t* h, int status, int events) {
  Watcher* w = reinterpret_cast<PollHandle*>(h)->owner;
  if (!w) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value self, cb, argv[2], result;
  napi_get_reference_value(env, w->self, &self);
  napi_get_reference_value(env, w->cb, &cb);
  napi_value exception = nullptr;
  if (status < 0) {
    // libuv stops the handle when it reports an error (POLLERR, as EBADF); update() can re-arm it.
    w->events = 0;
    argv[0] = make_errno_error(env, -status, "poll");
    if (!argv[0]) napi_get_and_clear_last_exception(env, &exception);
    events = 0;
  } else {
    argv[0] = make_null(env);
  }
  if (!exception) {
    // A bit mask (FdReady in src/native/index.ts), not an object: this runs for every message a socket brings.
    argv[1] = make_int(env, (events & UV_READABLE ? 1 : 0) | (events & UV_WRITABLE ? 2 : 0) | (events & UV_DISCONNECT ? 4 : 0));
    // napi_make_callback (not napi_call_function) so async hooks see the callback and process.nextTick and
    // promise jobs queued by it run before control returns to libuv.
    if (napi_make_callback(env, w->async, self, cb, 2, argv, &result) == napi_pending_exception)
      napi_get_and_clear_last_exception(env, &exception);
  }
  // A throwing callback is the program's bug: report it like any uncaught exception ('uncaughtException' or exit
  // with the stack), never swallow it.
  if (exception) napi_fatal_exception(env, exception);
  napi_close_handle_scope(env, scope);
}

// new Watcher(fd, events, cb)
napi_value construct(napi_env env, napi_callback_info info) {
  napi_value argv[3], self;
  int fd, events;
  if (!get_args(env, info, 3, argv, &self) || !get_fd(env, argv[0], "watch", &fd) ||
      !get_events(env, argv[1], "watch", &events))
    return nullptr;
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_function) return throw_einval(env, "watch", "(callback must be a function)");
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, ENOSYS, "watch", "(no event loop)");
  auto* handle = new PollHandle();
  int r = uv_poll_init(loop, &handle->poll, fd);
  if (r < 0) {
    delete handle;  // never registered with the loop, so no uv_close
    return throw_errno(env, -r, "watch");
  }
  napi_add_async_cleanup_hook(env, teardown_hook, handle, &handle->hook);
  if (events) r = uv_poll_start(&handle->poll, events, on_poll);
  if (r < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&handle->poll), on_closed);
    return throw_errno(env, -r, "watch");
  }
  auto* w = new Watcher();
  w->env = env;
  w->handle = handle;
  w->events = events;
  handle->owner = w;
  napi_wrap(env, self, w, finalize, nullptr, &w->self);
  uint32_t count;
  napi_reference_ref(env, w->self, &count);
  napi_create_reference(env, argv[2], 1, &w->cb);
  napi_value name;
  napi_create_string_utf8(env, "umdev:FdWatcher", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, self, name, &w->async);
  return self;
}

Watcher* unwrap(napi_env env, napi_callback_info info, size_t n, napi_value* argv) {
  napi_value self;
  void* data = nullptr;
  if (!get_args(env, info, n, argv, &self)) return nullptr;
  if (napi_unwrap(env, self, &data) != napi_ok || !data) {
    throw_einval(env, "FdWatcher", "(not a watcher)");
    return nullptr;
  }
  return static_cast<Watcher*>(data);
}

// update(events): changes the interest set; {} pauses without closing.
napi_value update(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Watcher* w = unwrap(env, info, 1, argv);
  int events;
  if (!w || !get_events(env, argv[0], "FdWatcher.update", &events)) return nullptr;
  if (!w->handle) return throw_einval(env, "FdWatcher.update", "(watcher is stopped)");
  if (events == w->events) return make_undefined(env);
  int r = events ? uv_poll_start(&w->handle->poll, events, on_poll) : uv_poll_stop(&w->handle->poll);
  if (r < 0) return throw_errno(env, -r, "FdWatcher.update");
  w->events = events;
  return make_undefined(env);
}

napi_value stop(napi_env env, napi_callback_info info) {
  Watcher* w = unwrap(env, info, 0, nullptr);
  if (!w) return nullptr;
  stop_watcher(w, false);
  return make_undefined(env);
}

napi_value ref(napi_env env, napi_callback_info info) {
  Watcher* w = unwrap(env, info, 0, nullptr);
  if (!w) return nullptr;
  if (w->handle) uv_ref(reinterpret_cast<uv_handle_t*>(&w->handle->poll));
  return make_undefined(env);
}

napi_value unref(napi_env env, napi_callback_info info) {
  Watcher* w = unwrap(env, info, 0, nullptr);
  if (!w) return nullptr;
  if (w->handle) uv_unref(reinterpret_cast<uv_handle_t*>(&w->handle->poll));
  return make_undefined(env);
}

}  // namespace

void init_watch(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"update", nullptr, update, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stop", nullptr, stop, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ref", nullptr, ref, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unref", nullptr, unref, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value cls;
  napi_define_class(env, "FdWatcher", NAPI_AUTO_LENGTH, construct, nullptr, sizeof methods / sizeof methods[0],
                    methods, &cls);
  napi_set_named_property(env, exports, "FdWatcher", cls);
}

}  // namespace umdev
