// Shared helpers for the umdev native addon: argument checks and errno-shaped exceptions.
//
// Every failure is thrown through the JS error factory registered by src/native/index.ts (setErrorFactory), so
// JavaScript sees umdev's one error type with the errno name of the failed syscall. Functions here return false after
// throwing; callers then return nullptr to JavaScript at once.
#pragma once

#define NAPI_VERSION 8
#include <node_api.h>

#include <cstddef>
#include <cstdint>

namespace umdev {

// Creates (without throwing) the errno-shaped error that throw_errno would throw; nullptr if the factory threw.
napi_value make_errno_error(napi_env env, int errnum, const char* syscall, const char* detail = nullptr);

// Throws an errno-shaped error for a failed syscall (`errnum` > 0), e.g. ("read", EBADF). `detail` adds context such
// as a path. Always returns nullptr so a binding can `return throw_errno(...)`.
napi_value throw_errno(napi_env env, int errnum, const char* syscall, const char* detail = nullptr);

// Throws EINVAL for bad arguments, with a message naming the call and the problem.
napi_value throw_einval(napi_env env, const char* call, const char* problem);

// Gets up to `n` arguments; missing ones are `undefined`.
bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value* argv, napi_value* self = nullptr);

// A file descriptor: an integer in [0, INT32_MAX]. Negative numbers are passed through to the kernel (which answers
// EBADF) so callers see the same error as from C.
bool get_fd(napi_env env, napi_value v, const char* call, int* out);

// A non-negative safe integer (used for sizes, offsets and counts).
bool get_size(napi_env env, napi_value v, const char* call, const char* what, uint64_t* out);

// A boolean; `undefined` gives `dflt`.
bool get_bool(napi_env env, napi_value v, bool dflt, bool* out);

// A string into a fixed buffer; too long (including NUL) gives `too_long_errno` (e.g. ENAMETOOLONG).
bool get_string(napi_env env, napi_value v, const char* call, char* buf, size_t cap, int too_long_errno);

// The bytes of a Uint8Array (any TypedArray is accepted, counted in bytes).
bool get_bytes(napi_env env, napi_value v, const char* call, uint8_t** data, size_t* len);

// The `[offset, offset + length)` window of a Uint8Array, checked against its size.
bool get_window(napi_env env, napi_value buf, napi_value off, napi_value len, const char* call, uint8_t** data,
                size_t* length);

// An optional busy-poll window in ns (undefined = 0), at most 1 ms; `until` gets its deadline on CLOCK_MONOTONIC (0
// when there is none).
bool get_spin(napi_env env, napi_value v, const char* call, uint64_t* until);
// Whether a busy-poll with deadline `until` (from get_spin) should try again.
bool spin_again(uint64_t until);

napi_value make_int(napi_env env, int64_t v);
napi_value make_bool(napi_env env, bool v);
napi_value make_null(napi_env env);
napi_value make_undefined(napi_env env);

// Registration helpers for each source file's exports.
void export_fn(napi_env env, napi_value exports, const char* name, napi_callback cb);
void init_common(napi_env env, napi_value exports);
void init_io(napi_env env, napi_value exports);
void init_watch(napi_env env, napi_value exports);
void init_sock(napi_env env, napi_value exports);
void init_fork(napi_env env, napi_value exports);
void init_mem(napi_env env, napi_value exports);
void init_confine(napi_env env, napi_value exports);

}  // namespace umdev
