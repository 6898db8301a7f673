package verify

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// While a daemon runs (its control socket answers), a finding the next
// pass no longer makes (a change the watcher was recording) is not
// reported; one every pass makes is.
func TestRecheckWhileRunning(t *testing.T) {
	dir := store(t, map[string]string{"x": "1"})
	l, err := net.Listen("unix", filepath.Join(dir, controlSocket))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	up := filepath.Join(dir, "upper/a")
	os.WriteFile(filepath.Join(up, "transient"), []byte("t"), 0o644)
	os.WriteFile(filepath.Join(up, "lasting"), []byte("l"), 0o644)
	// "Recorded" between the passes (the daemon would index it; here it goes).
	gone := func() { os.Remove(filepath.Join(up, "transient")) }
	found, err := checkHooked(context.Background(), dir, 10*time.Millisecond, gone)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Code != CodeUnindexed || filepath.Base(found[0].Path) != "lasting" {
		t.Fatalf("findings %+v, want only unindexed lasting", found)
	}

	// Without a daemon, one pass: the transient state is reported as it is.
	l.Close()
	os.Remove(filepath.Join(dir, controlSocket))
	os.WriteFile(filepath.Join(up, "transient"), []byte("t"), 0o644)
	if c := codes(t, dir); len(c) != 2 {
		t.Fatalf("daemon stopped: findings %v, want lasting and transient", c)
	}
}
