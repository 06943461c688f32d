// Counts sync system calls by interposing the C library's wrappers.
//
// Why interposition: a backend's own counter says what it meant to do; only
// the calls that reach the kernel say what it did. LMDB and LevelDB issue
// their syncs inside their shared libraries, out of reach of any Swift
// wrapper, but their calls go through the PLT and the dynamic linker binds
// them to the first definition in the global search order: the executable's,
// when it exports one (the static linker exports a definition that a shared
// library on the link line references). Every function here forwards to the
// next definition (the C library's, found with dlsym(RTLD_NEXT)) with the
// same arguments and returns its result and errno untouched.
#define _GNU_SOURCE
// Fortified headers turn open() into an inline wrapper; this file defines it.
#undef _FORTIFY_SOURCE
#include "CSyncObserver.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { FSYNC, FDATASYNC, MSYNC, SYNC_FILE_RANGE, SYNC_WRITE, KINDS };

// MARK: Watches

#define MAX_WATCHES 256

typedef struct {
    // 1 while counting. Written under the lock, read under it or atomically.
    atomic_int active;
    size_t length;
    char path[PATH_MAX];
    _Atomic uint64_t counts[KINDS];
} watch_slot;

static watch_slot watches[MAX_WATCHES];
static atomic_int active_watches;
static _Atomic uint64_t process_counts[KINDS];
static pthread_rwlock_t watch_lock = PTHREAD_RWLOCK_INITIALIZER;

int raftlab_sync_watch(const char *directory) {
    char resolved[PATH_MAX];
    const char *path = realpath(directory, resolved) ? resolved : directory;
    size_t length = strlen(path);
    while (length > 1 && path[length - 1] == '/') length--;
    if (length == 0 || length >= PATH_MAX) return -1;
    int id = -1;
    pthread_rwlock_wrlock(&watch_lock);
    for (int i = 0; i < MAX_WATCHES; i++) {
        if (!atomic_load(&watches[i].active)) {
            id = i;
            break;
        }
    }
    if (id >= 0) {
        watch_slot *slot = &watches[id];
        memcpy(slot->path, path, length);
        slot->path[length] = 0;
        slot->length = length;
        for (int k = 0; k < KINDS; k++) atomic_store(&slot->counts[k], 0);
        atomic_store(&slot->active, 1);
        atomic_fetch_add(&active_watches, 1);
    }
    pthread_rwlock_unlock(&watch_lock);
    return id;
}

void raftlab_sync_unwatch(int id) {
    if (id < 0 || id >= MAX_WATCHES) return;
    pthread_rwlock_wrlock(&watch_lock);
    if (atomic_exchange(&watches[id].active, 0)) atomic_fetch_sub(&active_watches, 1);
    pthread_rwlock_unlock(&watch_lock);
}

void raftlab_sync_read(int id, raftlab_sync_counts *out) {
    _Atomic uint64_t *counts = id < 0 ? process_counts : id < MAX_WATCHES ? watches[id].counts : NULL;
    if (!counts) {
        memset(out, 0, sizeof *out);
        return;
    }
    out->fsync_calls = atomic_load(&counts[FSYNC]);
    out->fdatasync_calls = atomic_load(&counts[FDATASYNC]);
    out->msync_calls = atomic_load(&counts[MSYNC]);
    out->sync_file_range_calls = atomic_load(&counts[SYNC_FILE_RANGE]);
    out->sync_writes = atomic_load(&counts[SYNC_WRITE]);
}

/// Counts one call of `kind` against every watch containing `path`.
static void attribute_path(const char *path, size_t length, int kind) {
    pthread_rwlock_rdlock(&watch_lock);
    for (int i = 0; i < MAX_WATCHES; i++) {
        watch_slot *slot = &watches[i];
        if (!atomic_load(&slot->active) || length < slot->length) continue;
        if (memcmp(path, slot->path, slot->length) != 0) continue;
        // The directory itself (a directory fsync) or something inside it.
        if (length == slot->length || path[slot->length] == '/' || slot->length == 1) {
            atomic_fetch_add(&slot->counts[kind], 1);
        }
    }
    pthread_rwlock_unlock(&watch_lock);
}

static void count_fd(int fd, int kind) {
    atomic_fetch_add(&process_counts[kind], 1);
    if (atomic_load(&active_watches) == 0) return;
    char link[64];
    char path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = 0;
    attribute_path(path, (size_t)n, kind);
}

/// The file mapped at `address`, from /proc/self/maps (msync names memory,
/// not a descriptor). Slow, but only msync with watches active pays it.
static void count_mapping(const void *address, int kind) {
    atomic_fetch_add(&process_counts[kind], 1);
    if (atomic_load(&active_watches) == 0) return;
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps) return;
    char line[PATH_MAX + 256];
    uintptr_t target = (uintptr_t)address;
    while (fgets(line, sizeof line, maps)) {
        unsigned long start = 0, end = 0;
        int consumed = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &consumed) < 2) continue;
        if (target < start || target >= end) continue;
        char *path = line + consumed;
        size_t length = strcspn(path, "\n");
        path[length] = 0;
        if (length > 0 && path[0] == '/') attribute_path(path, length, kind);
        break;
    }
    fclose(maps);
}

// MARK: Descriptors opened with O_SYNC / O_DSYNC

#define TRACKED_FDS 65536
static atomic_uchar sync_fds[TRACKED_FDS];
/// Set once a sync descriptor beyond the table was opened: writes to such
/// descriptors are then checked with F_GETFL.
static atomic_int untracked_sync_fds;

static void note_open(int fd, int flags) {
    if (fd < 0) return;
    int synchronous = (flags & O_DSYNC) != 0;  // O_SYNC includes O_DSYNC on Linux
    if (fd < TRACKED_FDS) {
        atomic_store(&sync_fds[fd], (unsigned char)synchronous);
    } else if (synchronous) {
        atomic_store(&untracked_sync_fds, 1);
    }
}

static int real_fcntl_getfl(int fd);

/// Whether writes to `fd` are synchronous. The table says which descriptors
/// were opened so; F_GETFL confirms it, so a number reused by a descriptor
/// that did not come through open() is never miscounted.
static int is_sync_fd(int fd) {
    if (fd < 0) return 0;
    if (fd < TRACKED_FDS) {
        if (!atomic_load_explicit(&sync_fds[fd], memory_order_relaxed)) return 0;
    } else if (!atomic_load_explicit(&untracked_sync_fds, memory_order_relaxed)) {
        return 0;
    }
    int flags = real_fcntl_getfl(fd);
    return flags >= 0 && (flags & O_DSYNC) != 0;
}

// MARK: The next definitions (the C library's)

#define NEXT(name, type)                                              \
    static type next_##name(void) {                                   \
        static _Atomic(type) cached;                                  \
        type f = atomic_load_explicit(&cached, memory_order_acquire); \
        if (!f) {                                                     \
            f = (type)dlsym(RTLD_NEXT, #name);                        \
            atomic_store_explicit(&cached, f, memory_order_release);  \
        }                                                             \
        return f;                                                     \
    }

typedef int (*fd_fn)(int);
typedef int (*msync_fn)(void *, size_t, int);
typedef int (*sfr_fn)(int, off_t, off_t, unsigned int);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat2_fn)(int, const char *, int);
typedef int (*fcntl_fn)(int, int, ...);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);

NEXT(fsync, fd_fn)
NEXT(fdatasync, fd_fn)
NEXT(msync, msync_fn)
NEXT(sync_file_range, sfr_fn)
NEXT(open, open_fn)
NEXT(open64, open_fn)
NEXT(openat, openat_fn)
NEXT(openat64, openat_fn)
NEXT(__open_2, open2_fn)
NEXT(__open64_2, open2_fn)
NEXT(__openat_2, openat2_fn)
NEXT(__openat64_2, openat2_fn)
NEXT(fcntl, fcntl_fn)
NEXT(close, fd_fn)
NEXT(write, write_fn)
NEXT(pwrite, pwrite_fn)
NEXT(pwrite64, pwrite_fn)
NEXT(writev, writev_fn)
NEXT(pwritev, pwritev_fn)
NEXT(pwritev64, pwritev_fn)

static int real_fcntl_getfl(int fd) {
    int saved = errno;
    int flags = next_fcntl()(fd, F_GETFL);
    errno = saved;
    return flags;
}

int raftlab_sync_observer_active(void) {
    void *found = dlsym(RTLD_DEFAULT, "fdatasync");
    return found == (void *)&fdatasync;
}

// MARK: Sync calls

int fsync(int fd) {
    int result = next_fsync()(fd);
    if (result == 0) {
        int saved = errno;
        count_fd(fd, FSYNC);
        errno = saved;
    }
    return result;
}

int fdatasync(int fd) {
    int result = next_fdatasync()(fd);
    if (result == 0) {
        int saved = errno;
        count_fd(fd, FDATASYNC);
        errno = saved;
    }
    return result;
}

int msync(void *address, size_t length, int flags) {
    int result = next_msync()(address, length, flags);
    if (result == 0 && (flags & MS_SYNC)) {
        int saved = errno;
        count_mapping(address, MSYNC);
        errno = saved;
    }
    return result;
}

int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags) {
    int result = next_sync_file_range()(fd, offset, nbytes, flags);
    if (result == 0) {
        int saved = errno;
        count_fd(fd, SYNC_FILE_RANGE);
        errno = saved;
    }
    return result;
}

// MARK: Opening and closing descriptors

static int needs_mode(int flags) {
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

static mode_t mode_argument(int flags, va_list arguments) {
    return needs_mode(flags) ? (mode_t)va_arg(arguments, int) : 0;
}

static int opened(int fd, int flags) {
    int saved = errno;
    note_open(fd, flags);
    errno = saved;
    return fd;
}

int open(const char *path, int flags, ...) {
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = mode_argument(flags, arguments);
    va_end(arguments);
    return opened(next_open()(path, flags, mode), flags);
}

int open64(const char *path, int flags, ...) {
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = mode_argument(flags, arguments);
    va_end(arguments);
    return opened(next_open64()(path, flags, mode), flags);
}

int openat(int directory, const char *path, int flags, ...) {
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = mode_argument(flags, arguments);
    va_end(arguments);
    return opened(next_openat()(directory, path, flags, mode), flags);
}

int openat64(int directory, const char *path, int flags, ...) {
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = mode_argument(flags, arguments);
    va_end(arguments);
    return opened(next_openat64()(directory, path, flags, mode), flags);
}

// The _FORTIFY_SOURCE entry points a library may have been compiled against.
int __open_2(const char *path, int flags) { return opened(next___open_2()(path, flags), flags); }
int __open64_2(const char *path, int flags) { return opened(next___open64_2()(path, flags), flags); }
int __openat_2(int directory, const char *path, int flags) {
    return opened(next___openat_2()(directory, path, flags), flags);
}
int __openat64_2(int directory, const char *path, int flags) {
    return opened(next___openat64_2()(directory, path, flags), flags);
}

int close(int fd) {
    if (fd >= 0 && fd < TRACKED_FDS) atomic_store_explicit(&sync_fds[fd], 0, memory_order_relaxed);
    return next_close()(fd);
}

// MARK: Writes through synchronous descriptors

static void wrote(int fd, ssize_t result) {
    if (result <= 0 || !is_sync_fd(fd)) return;
    int saved = errno;
    count_fd(fd, SYNC_WRITE);
    errno = saved;
}

ssize_t write(int fd, const void *buffer, size_t count) {
    ssize_t result = next_write()(fd, buffer, count);
    wrote(fd, result);
    return result;
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    ssize_t result = next_pwrite()(fd, buffer, count, offset);
    wrote(fd, result);
    return result;
}

ssize_t pwrite64(int fd, const void *buffer, size_t count, off_t offset) {
    ssize_t result = next_pwrite64()(fd, buffer, count, offset);
    wrote(fd, result);
    return result;
}

ssize_t writev(int fd, const struct iovec *vectors, int count) {
    ssize_t result = next_writev()(fd, vectors, count);
    wrote(fd, result);
    return result;
}

ssize_t pwritev(int fd, const struct iovec *vectors, int count, off_t offset) {
    ssize_t result = next_pwritev()(fd, vectors, count, offset);
    wrote(fd, result);
    return result;
}

ssize_t pwritev64(int fd, const struct iovec *vectors, int count, off_t offset) {
    ssize_t result = next_pwritev64()(fd, vectors, count, offset);
    wrote(fd, result);
    return result;
}
