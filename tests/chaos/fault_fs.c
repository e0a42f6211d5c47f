// LD_PRELOAD fault injection for the chaos tests: makes the data directory behave as a disk
// that went read-only (or failed) under a running process, which a real `mount -o remount,ro`
// cannot do: the kernel refuses it (EBUSY) while any file on it is open for writing, and
// SQLite keeps its database and WAL open.
//
// SSEHUB_FAULT_DIR     the directory whose files are affected
// SSEHUB_FAULT_CONTROL a file; while it exists, holding an errno name (EROFS, ENOSPC, EIO),
//                      every write, sync, truncate, and write-mode open under the directory
//                      fails with that errno. Reads always work.
//
// Build: cc -shared -fPIC -O2 -o fault_fs.so fault_fs.c -ldl

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define REAL(name) static __typeof__(name)* real_##name; if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

// The errno to fail with now, or 0. Cheap when off: one access() per call.
static int active_errno(void) {
  const char* control = getenv("SSEHUB_FAULT_CONTROL");
  if (!control || access(control, F_OK) != 0) return 0;
  char text[32] = {0};
  int saved = errno;
  int fd = (int)syscall(SYS_openat, AT_FDCWD, control, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, text, sizeof text - 1);
    if (n > 0) text[n] = 0;
    close(fd);
  }
  errno = saved;
  if (strncmp(text, "ENOSPC", 6) == 0) return ENOSPC;
  if (strncmp(text, "EIO", 3) == 0) return EIO;
  return EROFS;
}

static int under_dir(const char* path) {
  const char* dir = getenv("SSEHUB_FAULT_DIR");
  if (!dir || !path) return 0;
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') --n;
  return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == 0);
}

static int fd_under_dir(int fd) {
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  int saved = errno;
  ssize_t n = readlink(link, target, sizeof target - 1);
  errno = saved;
  if (n <= 0) return 0;
  target[n] = 0;
  return under_dir(target);
}

static int path_under_dir(int dirfd, const char* path) {
  if (!path) return 0;
  if (path[0] == '/') return under_dir(path);
  char base[PATH_MAX];
  if (dirfd == AT_FDCWD) {
    if (!getcwd(base, sizeof base)) return 0;
  } else {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, base, sizeof base - 1);
    if (n <= 0) return 0;
    base[n] = 0;
  }
  char full[PATH_MAX * 2];
  snprintf(full, sizeof full, "%s/%s", base, path);
  return under_dir(full);
}

static int fd_fault(int fd) {
  int e = active_errno();
  if (e && fd_under_dir(fd)) {
    errno = e;
    return 1;
  }
  return 0;
}

static int path_fault(int dirfd, const char* path) {
  int e = active_errno();
  if (e && path_under_dir(dirfd, path)) {
    errno = e;
    return 1;
  }
  return 0;
}

static int writes(int flags) { return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0; }

ssize_t write(int fd, const void* buf, size_t n) {
  REAL(write);
  if (fd_fault(fd)) return -1;
  return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  REAL(pwrite);
  if (fd_fault(fd)) return -1;
  return real_pwrite(fd, buf, n, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t offset) {
  REAL(pwrite64);
  if (fd_fault(fd)) return -1;
  return real_pwrite64(fd, buf, n, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  REAL(writev);
  if (fd_fault(fd)) return -1;
  return real_writev(fd, iov, count);
}

int fsync(int fd) {
  REAL(fsync);
  if (fd_fault(fd)) return -1;
  return real_fsync(fd);
}

int fdatasync(int fd) {
  REAL(fdatasync);
  if (fd_fault(fd)) return -1;
  return real_fdatasync(fd);
}

int ftruncate(int fd, off_t length) {
  REAL(ftruncate);
  if (fd_fault(fd)) return -1;
  return real_ftruncate(fd, length);
}

int ftruncate64(int fd, off64_t length) {
  REAL(ftruncate64);
  if (fd_fault(fd)) return -1;
  return real_ftruncate64(fd, length);
}

int fallocate(int fd, int mode, off_t offset, off_t length) {
  REAL(fallocate);
  if (fd_fault(fd)) return -1;
  return real_fallocate(fd, mode, offset, length);
}

int unlink(const char* path) {
  REAL(unlink);
  if (path_fault(AT_FDCWD, path)) return -1;
  return real_unlink(path);
}

int mkdir(const char* path, mode_t mode) {
  REAL(mkdir);
  if (path_fault(AT_FDCWD, path)) return -1;
  return real_mkdir(path, mode);
}

#define OPEN_WRAPPER(name, ...)                                 \
  int name(const char* path, int flags, ...) {                  \
    mode_t mode = 0;                                            \
    if (flags & (O_CREAT | __O_TMPFILE)) {                      \
      va_list args;                                             \
      va_start(args, flags);                                    \
      mode = va_arg(args, mode_t);                              \
      va_end(args);                                             \
    }                                                           \
    REAL(name);                                                 \
    if (writes(flags) && path_fault(AT_FDCWD, path)) return -1; \
    return real_##name(path, flags, mode);                      \
  }

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                    \
  int name(int dirfd, const char* path, int flags, ...) {       \
    mode_t mode = 0;                                            \
    if (flags & (O_CREAT | __O_TMPFILE)) {                      \
      va_list args;                                             \
      va_start(args, flags);                                    \
      mode = va_arg(args, mode_t);                              \
      va_end(args);                                             \
    }                                                           \
    REAL(name);                                                 \
    if (writes(flags) && path_fault(dirfd, path)) return -1;    \
    return real_##name(dirfd, path, flags, mode);               \
  }

OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)
