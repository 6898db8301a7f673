package unreal

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/privtest"
)

// TestUnmountWhileAnotherNamespaceHoldsACopy: a mount namespace made while
// the Unreal is mounted keeps a copy of the mount (here / is private, as in
// a container); Unmount must still end, by aborting the connection.
func TestUnmountWhileAnotherNamespaceHoldsACopy(t *testing.T) {
	privtest.Require(t)
	c := newCache(t)
	dir := filepath.Join(t.TempDir(), "lower")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Mount(dir, c, newFetcher(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "60")
	holder.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS} // Go makes its / private
	if err := holder.Start(); err != nil {
		s.Unmount()
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })

	done := make(chan error, 1)
	go func() { done <- s.Unmount() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Unmount: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Unmount hangs while another mount namespace holds a copy of the mount")
	}
}
