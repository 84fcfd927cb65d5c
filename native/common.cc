// Argument checks and errno-shaped exceptions; see common.h.
#include "common.h"

#include <ctime>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

namespace umdev {

namespace {

// The JS error factory `(name, errno, syscall, message) => Error`, registered once per environment (main thread or
// worker) by setErrorFactory and owned by that environment's instance data.
struct InstanceData {
  napi_ref factory = nullptr;
};

void free_instance(napi_env env, void* data, void*) {
  auto* d = static_cast<InstanceData*>(data);
  if (d->factory) napi_delete_reference(env, d->factory);
  delete d;
}

InstanceData* instance(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  if (data) return static_cast<InstanceData*>(data);
  auto* d = new InstanceData();
  napi_set_instance_data(env, d, free_instance, nullptr);
  return d;
}

const char* errno_name(int errnum, char* fallback, size_t cap) {
  const char* name = strerrorname_np(errnum);
  if (name) return name;
  snprintf(fallback, cap, "E%d", errnum);
  return fallback;
}

napi_value set_error_factory(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return nullptr;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_function) return throw_einval(env, "setErrorFactory", "expected a function");
  InstanceData* d = instance(env);
  if (d->factory) napi_delete_reference(env, d->factory);
  napi_create_reference(env, argv[0], 1, &d->factory);
  return make_undefined(env);
}

}  // namespace

napi_value make_errno_error(napi_env env, int errnum, const char* syscall, const char* detail) {
  char fallback[16];
  const char* name = errno_name(errnum, fallback, sizeof fallback);
  std::string message = syscall;
  if (detail) message += std::string(" ") + detail;
  message += ": ";
  message += strerror(errnum);
  napi_value args[4];
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &args[0]);
  napi_create_int32(env, errnum, &args[1]);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &args[2]);
  napi_create_string_utf8(env, message.c_str(), message.size(), &args[3]);
  napi_value error = nullptr;
  InstanceData* d = instance(env);
  napi_value factory = nullptr;
  if (d->factory) napi_get_reference_value(env, d->factory, &factory);
  if (factory) {
    napi_value global;
    napi_get_global(env, &global);
    if (napi_call_function(env, global, factory, 4, args, &error) != napi_ok) return nullptr;
  } else {
    // Only reached if the addon is used without its wrapper: a Node-style system error.
    napi_create_error(env, args[0], args[3], &error);
    napi_set_named_property(env, error, "errno", args[1]);
    napi_set_named_property(env, error, "syscall", args[2]);
  }
  return error;
}

napi_value throw_errno(napi_env env, int errnum, const char* syscall, const char* detail) {
  napi_value error = make_errno_error(env, errnum, syscall, detail);
  if (error) napi_throw(env, error);  // else the factory's own exception is already pending
  return nullptr;
}

napi_value throw_einval(napi_env env, const char* call, const char* problem) {
  return throw_errno(env, EINVAL, call, problem);
}

bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value* argv, napi_value* self) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, self, nullptr) != napi_ok) return false;
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (size_t i = argc; i < n; i++) argv[i] = undef;
  return true;
}

bool get_fd(napi_env env, napi_value v, const char* call, int* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || std::trunc(d) != d || d < INT32_MIN || d > INT32_MAX) {
    throw_einval(env, call, "(fd must be an integer)");
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

bool get_size(napi_env env, napi_value v, const char* call, const char* what, uint64_t* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_bigint) {
    bool lossless;
    uint64_t u;
    if (napi_get_value_bigint_uint64(env, v, &u, &lossless) == napi_ok && lossless) {
      *out = u;
      return true;
    }
  } else {
    double d;
    if (napi_get_value_double(env, v, &d) == napi_ok && std::trunc(d) == d && d >= 0 && d <= 9007199254740991.0) {
      *out = static_cast<uint64_t>(d);
      return true;
    }
  }
  std::string problem = std::string("(") + what + " must be a non-negative integer)";
  throw_einval(env, call, problem.c_str());
  return false;
}

bool get_bool(napi_env env, napi_value v, bool dflt, bool* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined || t == napi_null) {
    *out = dflt;
    return true;
  }
  napi_value b;
  napi_coerce_to_bool(env, v, &b);
  napi_get_value_bool(env, b, out);
  return true;
}

bool get_string(napi_env env, napi_value v, const char* call, char* buf, size_t cap, int too_long_errno) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) {
    throw_einval(env, call, "(expected a string)");
    return false;
  }
  if (len + 1 > cap) {
    throw_errno(env, too_long_errno, call);
    return false;
  }
  napi_get_value_string_utf8(env, v, buf, cap, &len);
  if (strlen(buf) != len) {
    throw_einval(env, call, "(string contains NUL)");
    return false;
  }
  return true;
}

bool get_bytes(napi_env env, napi_value v, const char* call, uint8_t** data, size_t* len) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) {
    throw_einval(env, call, "(expected a Uint8Array)");
    return false;
  }
  napi_typedarray_type type;
  size_t elements;
  void* ptr;
  napi_get_typedarray_info(env, v, &type, &elements, &ptr, nullptr, nullptr);
  size_t elem = 1;
  switch (type) {
    case napi_int16_array: case napi_uint16_array: elem = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
    default: break;
  }
  *data = static_cast<uint8_t*>(ptr);
  *len = elements * elem;
  return true;
}

bool get_window(napi_env env, napi_value buf, napi_value off, napi_value len, const char* call, uint8_t** data,
                size_t* length) {
  uint8_t* base;
  size_t size;
  uint64_t o, l;
  if (!get_bytes(env, buf, call, &base, &size)) return false;
  if (!get_size(env, off, call, "offset", &o) || !get_size(env, len, call, "length", &l)) return false;
  if (o > size || l > size - o) {
    throw_einval(env, call, "(offset + length is past the end of the buffer)");
    return false;
  }
  *data = base + o;
  *length = l;
  return true;
}

namespace {
uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

bool get_spin(napi_env env, napi_value v, const char* call, uint64_t* until) {
  *until = 0;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined) return true;
  uint64_t ns;
  if (!get_size(env, v, call, "spinNs", &ns)) return false;
  // The caller's event loop is blocked while it spins: a window beyond a millisecond is a bug, not a tuning.
  if (ns > 1000000) {
    throw_einval(env, call, "(spinNs above 1 ms)");
    return false;
  }
  if (ns) *until = monotonic_ns() + ns;
  return true;
}

bool spin_again(uint64_t until) { return until && monotonic_ns() < until; }

napi_value make_int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

napi_value make_bool(napi_env env, bool v) {
  napi_value r;
  napi_get_boolean(env, v, &r);
  return r;
}

napi_value make_null(napi_env env) {
  napi_value r;
  napi_get_null(env, &r);
  return r;
}

napi_value make_undefined(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

void export_fn(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}

void init_common(napi_env env, napi_value exports) {
  export_fn(env, exports, "setErrorFactory", set_error_factory);
}

}  // namespace umdev
