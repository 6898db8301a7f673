package unreal

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A signal to a thread waiting in open, stat or listxattr on the mount makes
// the kernel interrupt the FUSE request; metadata requests must still
// succeed (a C program's SIGCHLD or a Go program's SIGURG must not turn
// open into EINTR, which unix.Open and most programs do not retry).
func TestMetadataIgnoresInterrupts(t *testing.T) {
	c := newCache(t)
	var batch []string
	for i := 0; i < 50; i++ {
		batch = append(batch, fmt.Sprintf("f%02d", i))
	}
	for i, name := range batch {
		mustApply(t, c, "alice", link(uint64(i+1), "docs", name, "x", t0))
	}
	dir := mountUnreal(t, c, newFetcher("x"))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	go func() {
		for range sigs {
		}
	}()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			unix.Tgkill(os.Getpid(), tid, syscall.SIGUSR1)
		}
	}()
	defer func() { stop.Store(true); <-done }()

	var st unix.Stat_t
	buf := make([]byte, 256)
	for round := 0; round < 8; round++ {
		for _, name := range batch {
			p := filepath.Join(dir, "docs", name)
			if err := unix.Lstat(p, &st); err != nil {
				t.Fatalf("round %d: lstat %s: %v", round, name, err)
			}
			fd, err := unix.Open(p, unix.O_RDONLY, 0)
			if err != nil {
				t.Fatalf("round %d: open %s: %v", round, name, err)
			}
			unix.Close(fd)
			if _, err := unix.Listxattr(p, buf); err != nil && !errors.Is(err, unix.ERANGE) {
				t.Fatalf("round %d: listxattr %s: %v", round, name, err)
			}
		}
	}
}
