package unreal

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A directory offset past the end (a telldir kept from before the
// directory shrank) reads as the end, as on ext4, not as an error.
func TestSeekdirPastEndIsEnd(t *testing.T) {
	c := newCache(t)
	mustApply(t, c, "alice", link(1, "docs", "a", "a", t0), link(2, "docs", "b", "b", t0))
	dir := mountUnreal(t, c, newFetcher("a", "b"))
	fd, err := unix.Open(filepath.Join(dir, "docs"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	if n, err := unix.Getdents(fd, buf); err != nil || n == 0 {
		t.Fatalf("first getdents: %d, %v", n, err)
	}
	if _, err := unix.Seek(fd, 100, 0); err != nil {
		t.Fatalf("seek: %v", err)
	}
	if n, err := unix.Getdents(fd, buf); err != nil || n != 0 {
		t.Fatalf("getdents at an offset past the end: %d bytes, %v; want the end (0, nil)", n, err)
	}
	// And back to the start lists everything again.
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Getdents(fd, buf); err != nil || n == 0 {
		t.Fatalf("getdents after rewinding: %d, %v", n, err)
	}
}
