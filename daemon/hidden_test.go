package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realsync/real/privtest"
)

// TestMountOverFilesWarns: a mountpoint that holds files is mounted over
// with a warning naming it (its files are hidden, not touched), and they
// are there again after the peer stops.
func TestMountOverFilesWarns(t *testing.T) {
	privtest.Require(t)
	ps := household(t, "a")
	a := ps["a"]
	if strings.Contains(a.log.String(), "mountpoint is not empty") {
		t.Fatalf("warned for an empty mountpoint:\n%s", a.log)
	}
	a.stop(t)
	mine := filepath.Join(a.mount, "mine.txt")
	if err := os.WriteFile(mine, []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.start(t)
	if log := a.log.String(); !strings.Contains(log, "mountpoint is not empty") || !strings.Contains(log, "mine.txt") {
		t.Fatalf("no warning naming the hidden file:\n%s", log)
	}
	a.stop(t)
	if b, err := os.ReadFile(mine); err != nil || string(b) != "kept" {
		t.Fatalf("the hidden file after the stop: %q, %v", b, err)
	}
}
