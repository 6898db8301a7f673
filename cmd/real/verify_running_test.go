package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realsync/real/privtest"
)

// real verify while real run records a stream of writes: what the watcher
// is still recording is not a finding (exit 0 each time), a lasting problem
// still is (exit 1), and the daemon is left running and unharmed.
func TestVerifyWhileRunning(t *testing.T) {
	privtest.Require(t)
	store := newStore(t, "solo")
	mustReal(t, "arena", "add", "--store", store, "--name", "docs")
	p, mnt := runUntilCleanup(t, store)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a user busy in the merged view
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Each path changes once (or twice: made, then removed), as
			// a user saving files would; one rewritten every few hundred
			// milliseconds forever is always being recorded.
			name := filepath.Join(mnt, "docs", fmt.Sprintf("f%05d", i))
			if err := os.WriteFile(name, []byte(strings.Repeat("x", i)), 0o644); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			if i%3 == 0 {
				os.Remove(filepath.Join(mnt, "docs", fmt.Sprintf("f%05d", i-1)))
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	for i := 0; i < 3; i++ {
		if code, out, errs := realCmd(t, "verify", "--store", store); code != 0 {
			close(stop)
			wg.Wait()
			t.Fatalf("verify %d while writing: exit %d:\n%s%s\ndaemon:\n%s", i, code, out, errs, p.out)
		}
	}
	close(stop)
	wg.Wait()

	os.Chmod(filepath.Join(store, "identity.key"), 0o644)
	code, out, _ := realCmd(t, "verify", "--store", store)
	if code != 1 || !strings.Contains(out, "key-mode") {
		t.Fatalf("verify with a readable key while running: exit %d:\n%s", code, out)
	}
	if err := os.WriteFile(filepath.Join(mnt, "docs", "after"), []byte("still recording"), 0o644); err != nil {
		t.Fatalf("daemon unusable after verify: %v", err)
	}
}
