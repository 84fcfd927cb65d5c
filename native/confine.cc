// Confinement of a device host, the process that runs a vendor's device model for one tenant: give up root for a
// uid/gid of its own, then lock the process down for good (no new privileges, not dumpable, killed with its parent,
// and a seccomp filter that refuses what a device model never needs). One call, in this order, because each step
// undoes or needs the one before: a credential change resets `dumpable` and the parent-death signal
// (commit_creds), and an unprivileged process may install a filter only once no_new_privs is set.
//
// The filter (see docs/isolation.md for the list and why) answers EPERM, or EACCES for the open family, rather than
// killing: a refused call is then an ordinary error in the host's JavaScript, which umdev reports. It is installed
// with SECCOMP_FILTER_FLAG_TSYNC so every thread Node has already started is covered too.
#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "common.h"

namespace umdev {

namespace {

#if defined(__x86_64__)
constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
#error "confine.cc: no seccomp architecture for this target"
#endif

constexpr uint32_t kNr = offsetof(struct seccomp_data, nr);
constexpr uint32_t kArchOff = offsetof(struct seccomp_data, arch);
// The low 32 bits of the first argument (little-endian): clone's flags, prctl's option.
constexpr uint32_t kArg0 = offsetof(struct seccomp_data, args);

// Calls refused with EPERM: running other programs, reaching other processes' memory or namespaces, the kernel's
// module, key and BPF interfaces, new sockets (the host holds the only ones it needs), new processes (threads only),
// changing credentials, io_uring (whose operations bypass this filter) and paths that make or change files.
const int kDenied[] = {
    __NR_execve, __NR_execveat, __NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_kcmp,
    __NR_pidfd_getfd, __NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot, __NR_unshare, __NR_setns,
    __NR_mount_setattr, __NR_fsopen, __NR_fsmount, __NR_fsconfig, __NR_fspick, __NR_open_tree, __NR_move_mount,
    __NR_bpf, __NR_kexec_load, __NR_kexec_file_load, __NR_keyctl, __NR_add_key, __NR_request_key, __NR_init_module,
    __NR_finit_module, __NR_delete_module, __NR_perf_event_open, __NR_userfaultfd, __NR_socket, __NR_socketpair,
    __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register, __NR_setuid, __NR_setgid, __NR_setreuid,
    __NR_setregid, __NR_setresuid, __NR_setresgid, __NR_setgroups, __NR_setfsuid, __NR_setfsgid, __NR_capset,
    __NR_personality, __NR_reboot, __NR_swapon, __NR_swapoff, __NR_syslog, __NR_acct, __NR_quotactl,
    __NR_settimeofday, __NR_clock_settime, __NR_clock_adjtime, __NR_adjtimex, __NR_name_to_handle_at,
    __NR_open_by_handle_at, __NR_mknodat, __NR_mkdirat, __NR_unlinkat, __NR_symlinkat, __NR_linkat,
    __NR_renameat2, __NR_fchmodat, __NR_fchownat, __NR_truncate, __NR_utimensat,
#ifdef __NR_fork
    __NR_fork, __NR_vfork, __NR_mknod, __NR_mkdir, __NR_rmdir, __NR_unlink, __NR_symlink, __NR_link, __NR_rename,
    __NR_renameat, __NR_chmod, __NR_chown, __NR_lchown, __NR_utime, __NR_utimes, __NR_futimesat, __NR_iopl,
    __NR_ioperm, __NR_uselib,
#endif
};

// Opening any path: refused with EACCES. A host opens nothing once confined (its code is loaded before).
const int kNoOpen[] = {
    __NR_openat, __NR_openat2,
#ifdef __NR_open
    __NR_open, __NR_creat,
#endif
};

sock_filter stmt(uint16_t code, uint32_t k) { return BPF_STMT(code, k); }
sock_filter jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return BPF_JUMP(code, k, jt, jf); }

std::vector<sock_filter> build_filter() {
  std::vector<sock_filter> f;
  const uint32_t kAllow = SECCOMP_RET_ALLOW;
  const uint32_t kEperm = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
  const uint32_t kEacces = SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA);
  // clone3 passes its flags in memory the filter cannot read: ENOSYS makes the C library fall back to clone,
  // whose flags it can.
  const uint32_t kEnosys = SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA);
  // A call made through another ABI (i386 on x86_64) would have other numbers: kill rather than misjudge it.
  f.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, kArchOff));
  f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0));
  f.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  f.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, kNr));
#if defined(__x86_64__)
  // x32 numbers share the arch with bit 30 set.
  f.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
  f.push_back(stmt(BPF_RET | BPF_K, kEperm));
#endif
  for (int nr : kDenied) {
    f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1));
    f.push_back(stmt(BPF_RET | BPF_K, kEperm));
  }
  for (int nr : kNoOpen) {
    f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1));
    f.push_back(stmt(BPF_RET | BPF_K, kEacces));
  }
  f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1));
  f.push_back(stmt(BPF_RET | BPF_K, kEnosys));
  // clone: threads (CLONE_THREAD) only; a new process is refused.
  f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4));
  f.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, kArg0));
  f.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1));
  f.push_back(stmt(BPF_RET | BPF_K, kAllow));
  f.push_back(stmt(BPF_RET | BPF_K, kEperm));
  // prctl: everything but making the process dumpable again (or naming a ptracer), which would undo the lock.
  f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 0, 5));
  f.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, kArg0));
  f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_DUMPABLE, 2, 0));
  f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_PTRACER, 1, 0));
  f.push_back(stmt(BPF_RET | BPF_K, kAllow));
  f.push_back(stmt(BPF_RET | BPF_K, kEperm));
  f.push_back(stmt(BPF_RET | BPF_K, kAllow));
  return f;
}

// confine(uid, gid, parentPid): as the header says. uid/gid -1 keeps the current ids (a daemon that is not root has
// none to give up; it is still locked down). Throws with the failed step's errno; the caller must then exit, as the
// process is half-confined.
napi_value confine(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int64_t uid, gid, parent;
  if (!get_args(env, info, 3, argv)) return nullptr;
  if (napi_get_value_int64(env, argv[0], &uid) != napi_ok || napi_get_value_int64(env, argv[1], &gid) != napi_ok ||
      napi_get_value_int64(env, argv[2], &parent) != napi_ok)
    return throw_einval(env, "confine", "expected (uid, gid, parentPid) numbers");
  if (uid < -1 || uid > 0xfffffffe || gid < -1 || gid > 0xfffffffe || parent < 1)
    return throw_einval(env, "confine", "uid/gid out of range or no parent pid");
  if (gid >= 0) {
    if (setgroups(0, nullptr) < 0) return throw_errno(env, errno, "setgroups");
    if (setresgid(gid, gid, gid) < 0) return throw_errno(env, errno, "setresgid");
  }
  if (uid >= 0 && setresuid(uid, uid, uid) < 0) return throw_errno(env, errno, "setresuid");
  if (uid >= 0) {
    uid_t r, e, s;
    if (getresuid(&r, &e, &s) < 0 || r != uid || e != uid || s != uid) return throw_errno(env, EPERM, "setresuid");
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return throw_errno(env, errno, "prctl", "PR_SET_NO_NEW_PRIVS");
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) return throw_errno(env, errno, "prctl", "PR_SET_DUMPABLE");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return throw_errno(env, errno, "prctl", "PR_SET_PDEATHSIG");
  // The parent may have died before the signal was armed: then nobody would ever send it.
  if (getppid() != parent) return throw_errno(env, ESRCH, "getppid", "the parent is gone");
  std::vector<sock_filter> filter = build_filter();
  sock_fprog prog{static_cast<unsigned short>(filter.size()), filter.data()};
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
  // TSYNC answers the id of a thread it could not synchronise (a positive number) instead of failing.
  if (rc != 0) return throw_errno(env, rc > 0 ? EAGAIN : errno, "seccomp", rc > 0 ? "a thread could not be synchronised" : nullptr);
  return make_undefined(env);
}

}  // namespace

void init_confine(napi_env env, napi_value exports) { export_fn(env, exports, "confine", confine); }

}  // namespace umdev
