package real

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/privtest"
)

func (e *env) catchUp() {
	e.t.Helper()
	if err := e.r.CatchUp(context.Background()); err != nil {
		e.t.Fatalf("CatchUp: %v", err)
	}
}

func mkWhiteout(t *testing.T, path string) {
	t.Helper()
	if err := unix.Mknod(path, unix.S_IFCHR|0, 0); err != nil {
		t.Fatalf("mknod whiteout %s: %v", path, err)
	}
}

func TestCatchUpRecordsExactlyWhatChangedWhileDown(t *testing.T) {
	privtest.Require(t) // trusted.* xattrs and whiteouts need root
	e := newEnv(t, "A", "music/jazz")
	write(t, filepath.Join(e.lower, "A", "remote.txt"), "remote")
	write(t, filepath.Join(e.lower, "A", "replaced.txt"), "old remote")
	write(t, filepath.Join(e.upper, "A", "keep.txt"), "keep")
	write(t, filepath.Join(e.upper, "A", "edit.txt"), "v1")
	write(t, filepath.Join(e.upper, "A", "gone.txt"), "bye")
	write(t, filepath.Join(e.upper, "A", "sub", "deep.txt"), "deep")
	write(t, filepath.Join(e.upper, "A", "replaced.txt"), "new local")
	write(t, filepath.Join(e.upper, "music", "jazz", "a.flac"), "flac")
	write(t, filepath.Join(e.upper, "outside", "x"), "not in an arena")
	write(t, filepath.Join(e.upper, "music", "rock.mp3"), "not in an arena either")
	write(t, filepath.Join(e.upper, "top.txt"), "top level")
	e.catchUp()
	e.expect(
		link("A", "keep.txt", h("keep"), blob.Hash{}),
		link("A", "edit.txt", h("v1"), blob.Hash{}),
		link("A", "gone.txt", h("bye"), blob.Hash{}),
		link("A", "sub/deep.txt", h("deep"), blob.Hash{}),
		link("A", "replaced.txt", h("new local"), h("old remote")),
		link("music/jazz", "a.flac", h("flac"), blob.Hash{}),
	)
	if n, _ := e.ix.Last(context.Background()); n != 6 {
		t.Fatalf("Last = %d, want 6", n)
	}

	// Nothing changed: nothing recorded, nothing hashed.
	before := atomic.LoadInt64(&e.r.hashed)
	e.catchUp()
	e.expect()
	if n := atomic.LoadInt64(&e.r.hashed); n != before {
		t.Fatalf("an unchanged catch-up hashed %d files", n-before)
	}

	// "Down": a new daemon over the same database; meanwhile files change.
	write(t, filepath.Join(e.upper, "A", "edit.txt"), "v2 longer")
	if err := os.Remove(filepath.Join(e.upper, "A", "gone.txt")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(e.upper, "A", "sub", "new.txt"), "new")
	mkWhiteout(t, filepath.Join(e.upper, "A", "remote.txt"))
	e.open([]string{"A", "music/jazz"})
	e.catchUp()
	e.expect(
		link("A", "edit.txt", h("v2 longer"), h("v1")),
		unlink("A", "gone.txt", h("bye")),
		link("A", "sub/new.txt", h("new"), blob.Hash{}),
		unlink("A", "remote.txt", h("remote")),
	)
	if n := atomic.LoadInt64(&e.r.hashed); n != 2 {
		t.Fatalf("restarted catch-up hashed %d files, want 2 (edit.txt, new.txt)", n)
	}
	e.catchUp()
	e.expect()
}

func TestCatchUpSameSizeEditWithinSameSecond(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	p := filepath.Join(e.upper, "A", "f")
	write(t, p, "aaaa")
	e.catchUp()
	e.expect(link("A", "f", h("aaaa"), blob.Hash{}))
	fi, _ := os.Stat(p)
	write(t, p, "bbbb")
	os.Chtimes(p, fi.ModTime(), fi.ModTime()) // same size and mtime: ctime still differs
	e.catchUp()
	e.expect(link("A", "f", h("bbbb"), h("aaaa")))
}

func TestCatchUpWhiteoutKinds(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.lower, "A", "chr"), "c")
	write(t, filepath.Join(e.lower, "A", "xat"), "x")
	write(t, filepath.Join(e.lower, "A", "dir", "one"), "1")
	write(t, filepath.Join(e.lower, "A", "dir", "two", "three"), "3")
	if err := os.MkdirAll(filepath.Join(e.upper, "A"), 0o755); err != nil {
		t.Fatal(err)
	}
	mkWhiteout(t, filepath.Join(e.upper, "A", "chr"))
	write(t, filepath.Join(e.upper, "A", "xat"), "")
	if err := unix.Lsetxattr(filepath.Join(e.upper, "A", "xat"), "trusted.overlay.whiteout", nil, 0); err != nil {
		t.Fatal(err)
	}
	mkWhiteout(t, filepath.Join(e.upper, "A", "dir"))
	mkWhiteout(t, filepath.Join(e.upper, "A", "nothing")) // hides nothing remote: no entry
	e.catchUp()
	e.expect(
		unlink("A", "chr", h("c")),
		unlink("A", "xat", h("x")),
		unlink("A", "dir/one", h("1")),
		unlink("A", "dir/two/three", h("3")),
	)
	e.catchUp()
	e.expect()
	// The whiteout goes (say, the lower file is recreated locally): a new local file.
	os.Remove(filepath.Join(e.upper, "A", "chr"))
	write(t, filepath.Join(e.upper, "A", "chr"), "local c")
	e.catchUp()
	e.expect(link("A", "chr", h("local c"), blob.Hash{}))
}

func TestCatchUpSkipsSymlinksAndSpecialFiles(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.upper, "A", "f"), "f")
	if err := os.Symlink("f", filepath.Join(e.upper, "A", "link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(e.upper, "A", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(e.upper, "A", "dev"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	e.catchUp()
	e.expect(link("A", "f", h("f"), blob.Hash{}))
	e.catchUp()
	e.expect()
	if n := len(e.r.skipped); n != 3 {
		t.Fatalf("%d paths logged as skipped, want 3", n)
	}
}

func TestCatchUpRefusesMissingUpper(t *testing.T) {
	privtest.Require(t)
	ctx := context.Background()
	e := newEnv(t, "A", "B")
	write(t, filepath.Join(e.upper, "A", "f"), "f")
	write(t, filepath.Join(e.upper, "B", "g"), "g")
	e.catchUp()
	e.newEntries()
	if _, err := getXattr(e.upper, MarkerXattr); err != nil {
		t.Fatalf("no marker on the upper after the first catch-up: %v", err)
	}

	// An arena dir with index rows is gone.
	if err := os.Rename(filepath.Join(e.upper, "B"), filepath.Join(e.dir, "B.away")); err != nil {
		t.Fatal(err)
	}
	if err := e.r.CatchUp(ctx); !errors.Is(err, ErrUpperMissing) {
		t.Fatalf("CatchUp without arena dir B: %v, want ErrUpperMissing", err)
	}
	e.expect()
	os.Rename(filepath.Join(e.dir, "B.away"), filepath.Join(e.upper, "B"))

	// The upper lost its marker (say, an empty dir where a disk should be mounted).
	aside := filepath.Join(e.dir, "upper.real")
	if err := os.Rename(e.upper, aside); err != nil {
		t.Fatal(err)
	}
	if err := e.r.CatchUp(ctx); !errors.Is(err, ErrUpperMissing) {
		t.Fatalf("CatchUp without upper: %v, want ErrUpperMissing", err)
	}
	if err := os.MkdirAll(filepath.Join(e.upper, "A"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(e.upper, "B"), 0o755)
	if err := e.r.CatchUp(ctx); !errors.Is(err, ErrUpperMissing) {
		t.Fatalf("CatchUp on an unmarked upper: %v, want ErrUpperMissing", err)
	}
	e.expect()
	os.RemoveAll(e.upper)
	os.Rename(aside, e.upper)
	e.catchUp()
	e.expect()
}

func TestCatchUpManyFilesAcrossFlushes(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	n := flushAt*2 + 10
	var ws []want
	for i := 0; i < n; i++ {
		p := filepath.Join("d"+string(rune('a'+i%7)), time.Duration(i).String())
		write(t, filepath.Join(e.upper, "A", p), p)
		ws = append(ws, link("A", filepath.ToSlash(p), h(p), blob.Hash{}))
	}
	e.catchUp()
	e.expect(ws...)
	e.catchUp()
	e.expect()
}

// TestCatchUpRefusesEmptiedArenaAtStart: an arena dir found empty at a
// start while the index has its files (a disk not mounted there) records
// nothing; once it holds a file again the others are recorded deleted.
// While running (after a first catch-up), an arena emptied through the
// mount is just that: its files are Unlinked.
func TestCatchUpRefusesEmptiedArenaAtStart(t *testing.T) {
	privtest.Require(t)
	ctx := context.Background()
	e := newEnv(t, "A", "B")
	write(t, filepath.Join(e.upper, "A", "f"), "f")
	write(t, filepath.Join(e.upper, "A", "d", "g"), "g")
	write(t, filepath.Join(e.upper, "B", "x"), "x")
	e.catchUp()
	e.newEntries()

	for _, p := range []string{"f", "d"} {
		if err := os.RemoveAll(filepath.Join(e.upper, "A", p)); err != nil {
			t.Fatal(err)
		}
	}
	e.open([]string{"A", "B"}) // a start
	err := e.r.CatchUp(ctx)
	if !errors.Is(err, ErrUpperMissing) || !strings.Contains(err.Error(), filepath.Join(e.upper, "A")) {
		t.Fatalf("first CatchUp with arena dir A emptied: %v, want ErrUpperMissing naming it", err)
	}
	e.expect()

	write(t, filepath.Join(e.upper, "A", "new"), "new")
	e.catchUp()
	e.expect(unlink("A", "f", h("f")), unlink("A", "d/g", h("g")), link("A", "new", h("new"), blob.Hash{}))

	// Running: emptied (as deleting every local file through the mount does).
	if err := os.Remove(filepath.Join(e.upper, "A", "new")); err != nil {
		t.Fatal(err)
	}
	e.catchUp()
	e.expect(unlink("A", "new", h("new")))
}
