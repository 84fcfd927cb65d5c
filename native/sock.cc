// AF_UNIX stream sockets that carry fds (SCM_RIGHTS): what vfio-user needs to pass DMA memfds, eventfds for
// interrupts and region fds, and what fusermount3 uses to hand over /dev/fuse. Node's net module cannot send or
// receive fds. Every socket is non-blocking and close-on-exec; EAGAIN is an ordinary result, EINTR is retried.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fcntl.h>
#include <stdio.h>

#include <cerrno>
#include <cstddef>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

namespace umdev {

namespace {

// The kernel's limit on fds in one SCM_RIGHTS message (SCM_MAX_FD).
constexpr size_t kMaxFds = 253;

bool get_sockaddr(napi_env env, napi_value v, const char* call, sockaddr_un* addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  return get_string(env, v, call, addr->sun_path, sizeof addr->sun_path, ENAMETOOLONG);
}

napi_value socketpair_fn(napi_env env, napi_callback_info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
    return throw_errno(env, errno, "socketpair");
  napi_value pair;
  napi_create_array_with_length(env, 2, &pair);
  napi_set_element(env, pair, 0, make_int(env, sv[0]));
  napi_set_element(env, pair, 1, make_int(env, sv[1]));
  return pair;
}

// The directory part of a socket path ("." for a bare name, "/" for a name in the root).
std::string dir_of(const char* path) {
  const char* slash = strrchr(path, '/');
  if (!slash) return ".";
  if (slash == path) return "/";
  return std::string(path, slash - path);
}

// Moves the ready socket from `from` to `to` without replacing anything there (EADDRINUSE if `to` exists, as bind
// would answer). Filesystems without RENAME_NOREPLACE get link + unlink, which refuses an existing name the same way.
int move_noreplace(const char* from, const char* to) {
  if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno == EEXIST ? EADDRINUSE : errno;
  if (link(from, to) < 0) return errno == EEXIST ? EADDRINUSE : errno;
  unlink(from);
  return 0;
}

// Binds, sets the mode (and group) and listens in a fresh 0700 directory next to `path`, then renames the socket to
// `path`: the socket appears with its final mode and owner, already listening, and nobody can reach it before.
// (The other way, umask(2) around bind(2), changes a process-wide value while libuv's threadpool may be creating
// files, which would then get the socket's narrower mode.) Returns 0 or an errno; `step` names the failed call.
int bind_private(int fd, const sockaddr_un& final_addr, mode_t mode, uid_t uid, gid_t gid, int backlog,
                 const char** step) {
  std::string dir = dir_of(final_addr.sun_path) + "/.umdev-bind-XXXXXX";
  *step = "mkdtemp";
  if (!mkdtemp(dir.data())) return errno;
  std::string tmp = dir + "/s";
  int e = 0;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (tmp.size() >= sizeof addr.sun_path) {
    e = ENAMETOOLONG;
    *step = "bind";
  } else {
    memcpy(addr.sun_path, tmp.c_str(), tmp.size() + 1);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) e = errno, *step = "bind";
    else if (chmod(tmp.c_str(), mode) < 0) e = errno, *step = "chmod";
    else if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) && chown(tmp.c_str(), uid, gid) < 0)
      e = errno, *step = "chown";
    else if (listen(fd, backlog) < 0) e = errno, *step = "listen";
    else if ((e = move_noreplace(tmp.c_str(), final_addr.sun_path)) != 0) *step = "bind";
  }
  unlink(tmp.c_str());  // ENOENT after a successful move
  rmdir(dir.c_str());
  return e;
}

// An optional owner id of listenUnix: absent is -1 (left as it is); given, it needs a mode and must be a real id.
bool get_owner_id(napi_env env, napi_value v, bool with_mode, const char* what, const char* needs_mode, uint32_t* out) {
  *out = 0xffffffffu;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined) return true;
  if (!with_mode) return throw_einval(env, "listenUnix", needs_mode), false;
  uint64_t id;
  if (!get_size(env, v, "listenUnix", what, &id)) return false;
  if (id >= 0xffffffffu) return throw_einval(env, "listenUnix", (std::string("(") + what + " out of range)").c_str()), false;
  *out = static_cast<uint32_t>(id);
  return true;
}

// listenUnix(path, backlog, mode?, gid?, uid?): a listening socket at `path`. With a mode (and optionally a group
// and an owner) the socket is created with them (bind_private); without, bind(2) in place gives it the umask's mode. A stale socket
// file is the caller's to remove (EADDRINUSE), so a live server's socket is never unlinked by accident.
napi_value listen_unix(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  sockaddr_un addr;
  uint64_t backlog, mode = 0;
  if (!get_args(env, info, 5, argv) || !get_sockaddr(env, argv[0], "listenUnix", &addr) ||
      !get_size(env, argv[1], "listenUnix", "backlog", &backlog))
    return nullptr;
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  bool with_mode = t != napi_undefined;
  if (with_mode) {
    if (!get_size(env, argv[2], "listenUnix", "mode", &mode)) return nullptr;
    if (mode > 07777) return throw_einval(env, "listenUnix", "(mode must be at most 07777)");
  }
  uint32_t gid, uid;
  if (!get_owner_id(env, argv[3], with_mode, "gid", "(a group needs a mode)", &gid) ||
      !get_owner_id(env, argv[4], with_mode, "uid", "(an owner needs a mode)", &uid))
    return nullptr;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  int bl = backlog > INT_MAX ? INT_MAX : static_cast<int>(backlog);
  const char* step = "bind";
  int e = 0;
  if (with_mode) {
    e = bind_private(fd, addr, static_cast<mode_t>(mode), static_cast<uid_t>(uid), static_cast<gid_t>(gid), bl, &step);
  } else if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    e = errno;
  } else if (listen(fd, bl) < 0) {
    e = errno;
    step = "listen";
    unlink(addr.sun_path);  // we created it
  }
  if (e != 0) {
    close(fd);
    return throw_errno(env, e, step, addr.sun_path);
  }
  return make_int(env, fd);
}

// peerCred(fd) -> { pid, uid, gid, groups }: the credentials the peer of a connected AF_UNIX socket had when it
// connected (SO_PEERCRED, and SO_PEERGROUPS for its supplementary groups; Linux >= 4.13). The kernel records them
// at connect(2), so a peer that changes its ids later, or passes the socket on, cannot change the answer.
napi_value peer_cred(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "peerCred", &fd)) return nullptr;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return throw_errno(env, errno, "getsockopt", "SO_PEERCRED");
  std::vector<gid_t> groups(64);
  for (;;) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      break;
    }
    if (errno != ERANGE || glen / sizeof(gid_t) <= groups.size()) return throw_errno(env, errno, "getsockopt", "SO_PEERGROUPS");
    groups.resize(glen / sizeof(gid_t));
  }
  napi_value result, list;
  napi_create_object(env, &result);
  napi_create_array_with_length(env, groups.size(), &list);
  for (size_t i = 0; i < groups.size(); i++) napi_set_element(env, list, i, make_int(env, groups[i]));
  napi_set_named_property(env, result, "pid", make_int(env, cred.pid));
  napi_set_named_property(env, result, "uid", make_int(env, cred.uid));
  napi_set_named_property(env, result, "gid", make_int(env, cred.gid));
  napi_set_named_property(env, result, "groups", list);
  return result;
}

// accept(listenFd) -> fd, or -1 when no connection is pending. A connection that was aborted before we took it
// (ECONNABORTED) is skipped, like EINTR.
napi_value accept_fn(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int lfd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "accept", &lfd)) return nullptr;
  for (;;) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return make_int(env, fd);
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int(env, -1);
    return throw_errno(env, errno, "accept");
  }
}

// connectUnix(path): a non-blocking connect. On AF_UNIX it completes at once or fails (EAGAIN when the listener's
// backlog is full), so it never blocks and never leaves a half-open socket.
napi_value connect_unix(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  sockaddr_un addr;
  if (!get_args(env, info, 1, argv) || !get_sockaddr(env, argv[0], "connectUnix", &addr)) return nullptr;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  int r;
  do r = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "connect", addr.sun_path);
  }
  return make_int(env, fd);
}

// recvMsgInto(fd, buf, offset, length, fds, spinNs?) -> bytes received (0 at EOF), or -1 when nothing is ready (within
// spinNs: EAGAIN is retried until then, a busy poll for a peer about to send). `fds` is an
// Int32Array the caller reuses: fds[0] gets the number of fds received, fds[1..] the fds, so at most
// fds.length - 1 are accepted. Nothing is allocated per call (this is every vfio-user message's receive).
napi_value recv_msg_into(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int fd;
  uint8_t* data;
  size_t len;
  uint64_t until;
  if (!get_args(env, info, 6, argv) || !get_fd(env, argv[0], "recvmsg", &fd) ||
      !get_window(env, argv[1], argv[2], argv[3], "recvmsg", &data, &len) || !get_spin(env, argv[5], "recvmsg", &until))
    return nullptr;
  bool is_ta = false;
  napi_is_typedarray(env, argv[4], &is_ta);
  napi_typedarray_type type = napi_uint8_array;
  size_t slots = 0;
  void* out = nullptr;
  if (is_ta) napi_get_typedarray_info(env, argv[4], &type, &slots, &out, nullptr, nullptr);
  if (!is_ta || type != napi_int32_array || slots < 1) return throw_einval(env, "recvmsg", "(fds must be an Int32Array of at least 1 slot)");
  int32_t* fds_out = static_cast<int32_t*>(out);
  size_t max_fds = slots - 1 > kMaxFds ? kMaxFds : slots - 1;
  // With room for no fds there is no control buffer: fds the peer sent are discarded by the kernel (MSG_CTRUNC).
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  iovec iov{data, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = max_fds ? control : nullptr;
  msg.msg_controllen = max_fds ? CMSG_SPACE(sizeof(int) * max_fds) : 0;
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && (errno == EINTR || ((errno == EAGAIN || errno == EWOULDBLOCK) && spin_again(until))));
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int(env, -1);
    return throw_errno(env, errno, "recvmsg");
  }
  size_t count = 0;
  bool overflow = (msg.msg_flags & MSG_CTRUNC) != 0;
  for (cmsghdr* c = msg.msg_controllen ? CMSG_FIRSTHDR(&msg) : nullptr; c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t in_cmsg = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < in_cmsg; i++) {
      int received;
      memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (count < max_fds) fds_out[1 + count++] = received;
      else close(received), overflow = true;
    }
  }
  if (overflow) {
    // The kernel already closed the fds that did not fit; close the rest so none leak, and refuse the message.
    for (size_t i = 0; i < count; i++) close(fds_out[1 + i]);
    fds_out[0] = 0;
    return throw_errno(env, EMSGSIZE, "recvmsg", "(more fds than maxFds)");
  }
  fds_out[0] = static_cast<int32_t>(count);
  return make_int(env, n);
}

// sendMsg(fd, bufs, fds?) -> bytes sent, or -1 when the socket is full.
napi_value send_msg(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], "sendmsg", &fd)) return nullptr;
  bool is_array;
  napi_is_array(env, argv[1], &is_array);
  if (!is_array) return throw_einval(env, "sendmsg", "(bufs must be an array of Uint8Array)");
  uint32_t nbufs;
  napi_get_array_length(env, argv[1], &nbufs);
  if (nbufs > IOV_MAX) return throw_einval(env, "sendmsg", "(too many buffers)");
  // A reply is a header and a payload or two: those iovecs live on the stack.
  iovec small[8];
  std::vector<iovec> large(nbufs > 8 ? nbufs : 0);
  iovec* iov = nbufs > 8 ? large.data() : small;
  size_t total = 0;
  for (uint32_t i = 0; i < nbufs; i++) {
    napi_value b;
    napi_get_element(env, argv[1], i, &b);
    uint8_t* data;
    size_t len;
    if (!get_bytes(env, b, "sendmsg", &data, &len)) return nullptr;
    iov[i] = iovec{data, len};
    total += len;
  }
  std::vector<int> fds;
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_undefined && t != napi_null) {
    napi_is_array(env, argv[2], &is_array);
    if (!is_array) return throw_einval(env, "sendmsg", "(fds must be an array of fds)");
    uint32_t nfds;
    napi_get_array_length(env, argv[2], &nfds);
    if (nfds > kMaxFds) return throw_einval(env, "sendmsg", "(more than 253 fds)");
    fds.resize(nfds);
    for (uint32_t i = 0; i < nfds; i++) {
      napi_value v;
      napi_get_element(env, argv[2], i, &v);
      if (!get_fd(env, v, "sendmsg", &fds[i])) return nullptr;
    }
  }
  // On a stream socket the fds ride on the first byte; with no bytes the kernel would drop them silently.
  if (!fds.empty() && total == 0) return throw_einval(env, "sendmsg", "(fds need at least one byte of data)");
  std::vector<uint8_t> control(fds.empty() ? 0 : CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = nbufs;
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int(env, -1);
    return throw_errno(env, errno, "sendmsg");
  }
  return make_int(env, n);
}

// send(fd, buf, offset, length) -> bytes sent (possibly fewer), or -1 when the socket is full: one contiguous
// window, no fds, never SIGPIPE. The cheapest way out for a message already laid out in one buffer.
napi_value send_fn(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd;
  uint8_t* data;
  size_t len;
  if (!get_args(env, info, 4, argv) || !get_fd(env, argv[0], "send", &fd) ||
      !get_window(env, argv[1], argv[2], argv[3], "send", &data, &len))
    return nullptr;
  ssize_t n;
  do n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int(env, -1);
    return throw_errno(env, errno, "send");
  }
  return make_int(env, n);
}

// sendDatagram(path, data) -> bytes sent: one datagram on a fresh AF_UNIX SOCK_DGRAM socket, which is what
// sd_notify(3) sends to $NOTIFY_SOCKET. A path starting with '@' names an abstract socket (the '@' becomes the
// leading NUL, and the address length ends at the name, as systemd expects). Never blocks: a full queue is EAGAIN.
napi_value send_datagram(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  sockaddr_un addr;
  uint8_t* data;
  size_t len;
  if (!get_args(env, info, 2, argv) || !get_sockaddr(env, argv[0], "sendDatagram", &addr) ||
      !get_bytes(env, argv[1], "sendDatagram", &data, &len))
    return nullptr;
  size_t name_len = strlen(addr.sun_path);
  if (name_len == 0) return throw_einval(env, "sendDatagram", "(empty socket path)");
  socklen_t alen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  else alen += 1;  // a filesystem path's address includes its NUL
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  ssize_t n;
  do n = sendto(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&addr), alen);
  while (n < 0 && errno == EINTR);
  int e = errno;
  close(fd);
  if (n < 0) return throw_errno(env, e, "sendto");
  return make_int(env, n);
}

}  // namespace

void init_sock(napi_env env, napi_value exports) {
  export_fn(env, exports, "socketpair", socketpair_fn);
  export_fn(env, exports, "listenUnix", listen_unix);
  export_fn(env, exports, "peerCred", peer_cred);
  export_fn(env, exports, "accept", accept_fn);
  export_fn(env, exports, "connectUnix", connect_unix);
  export_fn(env, exports, "recvMsgInto", recv_msg_into);
  export_fn(env, exports, "sendMsg", send_msg);
  export_fn(env, exports, "send", send_fn);
  export_fn(env, exports, "sendDatagram", send_datagram);
}

}  // namespace umdev
