package unreal

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A directory's mtime moves, with the same st_ino, as soon as Apply changes
// its listing: in the Unreal and in the merged view (a lower-only and a
// merged directory), without waiting for the attribute timeout.
func TestDirMtimeVisibleAtOnce(t *testing.T) {
	c, _, o := setupOverlay(t)
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	idx := uint64(10)
	for _, tc := range overlayDirs {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(o.merged, "docs", tc.dir)
			// Held open: without xino, overlayfs gives a merged dir the
			// st_ino of its own inode, a new one after the inode was
			// evicted, which any drop_caches on the machine does to an
			// unused one (other tests write it; the test failed so once).
			held, err := os.Open(d)
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			before := statT(t, d)
			idx++
			mustApply(t, c, "alice", link(idx, "docs", joinRel(tc.dir, "new.txt"), "seed", old))
			after := statT(t, d)
			if tc.dir != "" && !time.Unix(after.Mtim.Unix()).After(time.Unix(before.Mtim.Unix())) {
				t.Fatalf("mtime of the lower-only dir %s did not move: %v -> %v", d, before.Mtim, after.Mtim)
			}
			if after.Ino != before.Ino {
				t.Fatalf("st_ino of %s changed: %d -> %d", d, before.Ino, after.Ino)
			}
		})
	}
}

func statT(t *testing.T, p string) syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// The Unreal itself: every listing change shows in the directory's mtime at once.
func TestMountDirMtimeAtOnce(t *testing.T) {
	c := newCache(t)
	dir := mountUnreal(t, c, newFetcher("x"))
	mustApply(t, c, "alice", link(1, "docs", "d/a", "x", t0))
	d := filepath.Join(dir, "docs", "d")
	prev := statT(t, d)
	for i, e := range []struct {
		what string
		fn   func(idx uint64)
	}{
		{"add", func(idx uint64) { mustApply(t, c, "alice", link(idx, "docs", "d/b", "x", t0)) }},
		{"remove", func(idx uint64) { mustApply(t, c, "alice", unlink(idx, "docs", "d/b", t0)) }},
	} {
		e.fn(uint64(i + 2))
		st := statT(t, d)
		if st.Mtim == prev.Mtim || st.Ino != prev.Ino {
			t.Fatalf("%s: mtime %v -> %v, ino %d -> %d", e.what, prev.Mtim, st.Mtim, prev.Ino, st.Ino)
		}
		prev = st
	}
	if _, err := os.Stat(filepath.Join(d, "a")); err != nil {
		t.Fatal(err)
	}
}
