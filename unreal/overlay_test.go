package unreal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"golang.org/x/sys/unix"
)

// These tests run the Unreal as the daemon does: as the lower layer of a real
// overlay (metacopy=on, redirect_dir=on), and look only at the merged view.
// Each change must be visible as soon as Apply returns: the invalidation is
// synchronous, so no waiting is needed (or allowed: a stale overlay dentry
// would stay stale for good, see invalidate.go).
//
// Each runs in a directory that exists only in the lower ("docs/remote") and
// in one that exists in the upper too ("docs", a merged directory: it holds
// a local file).

type overlayCase struct {
	name string
	dir  string // directory in the merged view, relative to the arena docs
}

var overlayDirs = []overlayCase{{"lower-only dir", "remote"}, {"merged dir", ""}}

// setupOverlay mounts the Unreal with docs/remote/seed.txt from alice, an
// overlay over it, and a local file docs/local.txt in the merged view.
func setupOverlay(t *testing.T) (*Cache, *memFetcher, overlay) {
	c := newCache(t)
	f := newFetcher("seed")
	mustApply(t, c, "alice", link(1, "docs", "remote/seed.txt", "seed", t0))
	o := mountOverlay(t, mountUnreal(t, c, f))
	if err := os.WriteFile(filepath.Join(o.merged, "docs", "local.txt"), []byte("local"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(o.upper, "docs", "local.txt")); err != nil {
		t.Fatalf("docs is not a merged directory: %v", err)
	}
	return c, f, o
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func mustNotExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat %s: %v, want ENOENT", p, err)
	}
}

func mustRead(t *testing.T, p, want string) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != int64(len(want)) {
		t.Fatalf("%s: size %d, want %d", p, st.Size(), len(want))
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != want {
		t.Fatalf("%s: read %q, %v, want %q", p, b, err, want)
	}
}

func TestOverlayNewFile(t *testing.T) {
	for _, tc := range overlayDirs {
		t.Run(tc.name, func(t *testing.T) {
			c, f, o := setupOverlay(t)
			dir := filepath.Join(o.merged, "docs", tc.dir)
			p := filepath.Join(dir, "new.txt")
			// Looked up while absent, twice, and listed: the overlay now
			// holds a negative dentry for it.
			mustNotExist(t, p)
			mustNotExist(t, p)
			if slices.Contains(readDirNames(t, dir), "new.txt") {
				t.Fatal("listed before it exists")
			}
			f.add("brand new")
			mustApply(t, c, "bob", link(1, "docs", joinRel(tc.dir, "new.txt"), "brand new", t0))
			mustRead(t, p, "brand new")
			if !slices.Contains(readDirNames(t, dir), "new.txt") {
				t.Fatalf("%s does not list new.txt", dir)
			}
		})
	}
}

func TestOverlayNewDirectory(t *testing.T) {
	for _, tc := range overlayDirs {
		t.Run(tc.name, func(t *testing.T) {
			c, f, o := setupOverlay(t)
			d := filepath.Join(o.merged, "docs", tc.dir, "newdir")
			mustNotExist(t, d)
			mustNotExist(t, filepath.Join(d, "f.txt"))
			f.add("in a new dir")
			mustApply(t, c, "bob", link(1, "docs", joinRel(tc.dir, "newdir/f.txt"), "in a new dir", t0))
			if st, err := os.Stat(d); err != nil || !st.IsDir() {
				t.Fatalf("new directory: %v, %v", st, err)
			}
			mustRead(t, filepath.Join(d, "f.txt"), "in a new dir")
		})
	}
}

func TestOverlayChangedFile(t *testing.T) {
	for _, tc := range overlayDirs {
		t.Run(tc.name, func(t *testing.T) {
			c, f, o := setupOverlay(t)
			rel := joinRel(tc.dir, "doc.txt")
			p := filepath.Join(o.merged, "docs", rel)
			f.add("v1")
			mustApply(t, c, "bob", link(1, "docs", rel, "v1", t0))
			mustRead(t, p, "v1")
			// Changed by another peer, longer: new size and new bytes.
			f.add("version two")
			mustApply(t, c, "carol", link(1, "docs", rel, "version two", t0.Add(time.Minute)))
			mustRead(t, p, "version two")
			buf := make([]byte, 128)
			n, err := unix.Getxattr(p, "user.real.blob", buf)
			if err != nil || string(buf[:n]) != blob.Of([]byte("version two")).String() {
				t.Fatalf("user.real.blob in the merged view: %q, %v", buf[:n], err)
			}
			// And shorter again, from the first peer.
			f.add("3")
			mustApply(t, c, "bob", link(2, "docs", rel, "3", t0.Add(2*time.Minute)))
			mustRead(t, p, "3")
		})
	}
}

func TestOverlayRemovedFile(t *testing.T) {
	for _, tc := range overlayDirs {
		t.Run(tc.name, func(t *testing.T) {
			c, f, o := setupOverlay(t)
			rel := joinRel(tc.dir, "gone.txt")
			p := filepath.Join(o.merged, "docs", rel)
			f.add("soon gone")
			mustApply(t, c, "bob", link(1, "docs", rel, "soon gone", t0))
			mustRead(t, p, "soon gone") // the overlay caches a positive dentry
			mustApply(t, c, "bob", unlink(2, "docs", rel, t0.Add(time.Minute)))
			_, err := os.Stat(p)
			if errors.Is(err, syscall.ESTALE) {
				t.Fatalf("stat %s: %v: the overlay kept a stale dentry", p, err)
			}
			mustNotExist(t, p)
			if slices.Contains(readDirNames(t, filepath.Join(o.merged, "docs", tc.dir)), "gone.txt") {
				t.Fatal("still listed")
			}
			if _, err := os.ReadFile(p); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("open after removal: %v", err)
			}
		})
	}
}

func TestOverlayRemovedDirectory(t *testing.T) {
	c, _, o := setupOverlay(t)
	d := filepath.Join(o.merged, "docs", "remote")
	mustRead(t, filepath.Join(d, "seed.txt"), "seed")
	mustApply(t, c, "alice", unlink(2, "docs", "remote/seed.txt", t0.Add(time.Minute)))
	mustNotExist(t, filepath.Join(d, "seed.txt"))
	mustNotExist(t, d)
	if got := readDirNames(t, filepath.Join(o.merged, "docs")); !slices.Equal(got, []string{"local.txt"}) {
		t.Fatalf("docs lists %v, want only local.txt", got)
	}
}

// A file removed by one holder but kept by another stays, and a batch that
// removes and brings back a name leaves it readable.
func TestOverlayKeptAndReplaced(t *testing.T) {
	c, f, o := setupOverlay(t)
	p := filepath.Join(o.merged, "docs", "remote", "seed.txt")
	mustApply(t, c, "bob", link(1, "docs", "remote/seed.txt", "seed", t0))
	mustRead(t, p, "seed")
	mustApply(t, c, "alice", unlink(2, "docs", "remote/seed.txt", t0.Add(time.Minute)))
	mustRead(t, p, "seed")
	f.add("reborn")
	mustApply(t, c, "bob", unlink(2, "docs", "remote/seed.txt", t0.Add(time.Minute)), link(3, "docs", "remote/seed.txt", "reborn", t0.Add(2*time.Minute)))
	mustRead(t, p, "reborn")
}

// A removed file whose overlay dentry a reader held through every drop
// (here: an open descriptor across the removal and a stale lookup) still
// heals once the reader lets go: every lookup of a lately removed name asks
// for a drop, not only the first.
func TestOverlayRemovedWhileHeld(t *testing.T) {
	c, f, o := setupOverlay(t)
	p := filepath.Join(o.merged, "docs", "remote", "held.txt")
	f.add("held")
	mustApply(t, c, "bob", link(1, "docs", "remote/held.txt", "held", t0))
	mustRead(t, p, "held")
	fd, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, c, "bob", unlink(2, "docs", "remote/held.txt", t0.Add(time.Minute)))
	time.Sleep(2 * redropAfter) // the drops of the removal pass; fd holds the dentry
	os.Stat(p)                  // a lookup while held: its drop misses too
	time.Sleep(2 * healEvery)
	fd.Close()
	eventually(t, 3*time.Second, "removed file gone from the merged view", func() error {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("stat: %v, want ENOENT", err)
		}
		return nil
	})
}
