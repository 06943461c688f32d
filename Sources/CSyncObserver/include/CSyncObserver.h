// Sync calls observed at the system-call boundary of this process.
//
// This target defines fsync, fdatasync, msync, sync_file_range, the open
// family and the write family. Linked into an executable, its definitions
// come first in the dynamic linker's symbol search, so calls made inside
// shared libraries (liblmdb, libleveldb, ...) reach them as well as calls
// from Swift code; each passes straight through to the C library and is
// counted on the way. Writes are counted only for descriptors opened with
// O_SYNC or O_DSYNC, where every write is a sync (LMDB writes its meta page
// that way).
//
// Counts are kept for the whole process and per watched directory: a call is
// attributed to every watched directory that contains the file its
// descriptor refers to (resolved through /proc/self/fd), or for msync the
// file mapped at its address (resolved through /proc/self/maps).
#ifndef CSYNCOBSERVER_H
#define CSYNCOBSERVER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /// fsync(2) calls.
    uint64_t fsync_calls;
    /// fdatasync(2) calls.
    uint64_t fdatasync_calls;
    /// msync(2) calls with MS_SYNC (MS_ASYNC only schedules writeback).
    uint64_t msync_calls;
    /// sync_file_range(2) calls: writeback requests, not durability points
    /// (they flush neither metadata nor the disk's cache).
    uint64_t sync_file_range_calls;
    /// write/pwrite/writev/pwritev calls on O_SYNC or O_DSYNC descriptors.
    uint64_t sync_writes;
} raftlab_sync_counts;

/// 1 when calls from shared libraries reach this observer (the executable
/// exports the interposed symbols), 0 when only this executable's own calls
/// would be seen.
int raftlab_sync_observer_active(void);

/// Starts counting syncs of files inside `directory` (an absolute path; it
/// is resolved with realpath when it exists). Returns a watch id >= 0, or -1
/// when every slot is taken or the path is too long.
int raftlab_sync_watch(const char *directory);

/// Stops a watch; its counts stay readable until the id is handed out again.
void raftlab_sync_unwatch(int watch);

/// The counts of `watch`, or of the whole process when `watch` is -1.
void raftlab_sync_read(int watch, raftlab_sync_counts *out);

#ifdef __cplusplus
}
#endif

#endif
