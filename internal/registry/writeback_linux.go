package registry

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeBehind is called by an upload's writer after each span it writes:
// it starts that span's writeback, then waits for the span before it to be
// on disk and drops it from the page cache. A large upload thus does not
// leave hundreds of dirty megabytes for the fsync at the end, nor take
// that much page cache: under a memory limit (a container, a systemd
// service) new pages must otherwise be reclaimed from others first, and a
// 256 MiB write measured here took 0.5-1.4 s instead of 0.05-0.1 s. The cost
// is that the first pull of a blob just pushed reads it from disk.
// Errors are ignored: the fsync that follows the upload reports write
// errors, and a page left in the cache is harmless.
func writeBehind(f *os.File, prev, cur span) {
	fd := int(f.Fd())
	_ = unix.SyncFileRange(fd, cur.off, cur.n, unix.SYNC_FILE_RANGE_WRITE)
	if prev.n == 0 {
		return
	}
	_ = unix.SyncFileRange(fd, prev.off, prev.n,
		unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
	_ = unix.Fadvise(fd, prev.off, prev.n, unix.FADV_DONTNEED)
}
