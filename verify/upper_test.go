package verify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/index"
	"github.com/realsync/real/privtest"
	"github.com/realsync/real/sqlitedb"
	"github.com/realsync/real/unreal"
)

// remoteFiles puts files in the store's Unreal cache, as peer "bob" reported them.
func remoteFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(filepath.Join(dir, "real.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := unreal.OpenCache(ctx, db, []string{"a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var batch []history.Entry
	mt := time.Now().Add(-time.Hour)
	for p, body := range files {
		batch = append(batch, history.Entry{Index: uint64(len(batch) + 1), Kind: history.Link, Arena: "a", Path: p,
			Mtime: mt, Size: int64(len(body)), Blob: blob.Of([]byte(body))})
	}
	if _, err := c.Apply(ctx, "bob", batch); err != nil {
		t.Fatal(err)
	}
}

func setX(t *testing.T, p, name, value string) {
	t.Helper()
	if err := unix.Lsetxattr(p, name, []byte(value), 0); err != nil {
		t.Fatal(err)
	}
}

// metacopy makes an upper metacopy file of size bytes at p.
func metacopy(t *testing.T, p string, size int64, ns string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	setX(t, p, ns+".overlay.metacopy", "")
}

func TestUpperFindings(t *testing.T) {
	privtest.Require(t) // trusted.* xattrs and whiteouts need root
	dir := store(t, map[string]string{"ok": "fine"})
	remoteFiles(t, dir, map[string]string{"r1": "remote one", "r2": "remote two", "d/x": "x", "gone/y": "y", "sized": "123456"})
	up := filepath.Join(dir, "upper/a")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Good: a whiteout over r1, a metacopy of r2 (user namespace), a dir renamed from d.
	must(unix.Mknod(filepath.Join(up, "r1"), unix.S_IFCHR, 0))
	metacopy(t, filepath.Join(up, "r2"), int64(len("remote two")), "user")
	os.MkdirAll(filepath.Join(up, "moved"), 0o755)
	setX(t, filepath.Join(up, "moved"), "trusted.overlay.redirect", "d")
	// Broken: whiteouts over nothing (both forms), a metacopy of nothing, a
	// metacopy whose lower data changed size, a redirect to nowhere, an
	// undecodable redirect, a symlink, a fifo, a whiteout xattr on a non-empty file.
	must(unix.Mknod(filepath.Join(up, "nothing"), unix.S_IFCHR, 0))
	os.WriteFile(filepath.Join(up, "nothing2"), nil, 0o644)
	setX(t, filepath.Join(up, "nothing2"), "trusted.overlay.whiteout", "")
	metacopy(t, filepath.Join(up, "lost"), 10, "trusted")
	metacopy(t, filepath.Join(up, "sized"), 3, "trusted")
	os.MkdirAll(filepath.Join(up, "nowhere"), 0o755)
	setX(t, filepath.Join(up, "nowhere"), "trusted.overlay.redirect", "/a/no/such/dir")
	os.MkdirAll(filepath.Join(up, "badredir"), 0o755)
	setX(t, filepath.Join(up, "badredir"), "trusted.overlay.redirect", "../up")
	must(os.Symlink("ok", filepath.Join(up, "link")))
	must(unix.Mkfifo(filepath.Join(up, "fifo"), 0o644))
	os.WriteFile(filepath.Join(up, "fat"), []byte("data"), 0o644)
	setX(t, filepath.Join(up, "fat"), "trusted.overlay.whiteout", "")

	got := strings.Join(codes(t, dir), "\n")
	for _, w := range []string{
		"whiteout-orphan nothing", "whiteout-orphan nothing2", "metacopy-missing lost", "metacopy-changed sized",
		"redirect-missing nowhere", "undecodable badredir", "undecodable link", "undecodable fifo", "undecodable fat",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("missing finding %q; got:\n%s", w, got)
		}
	}
	for _, bad := range []string{" r1", " r2", " moved", " ok"} {
		for _, line := range strings.Split(got, "\n") {
			if strings.HasSuffix(line, bad) && !strings.HasPrefix(line, "unindexed") {
				t.Errorf("finding for a good entry: %q", line)
			}
		}
	}
}

func TestIndexHashDiffers(t *testing.T) {
	dir := store(t, map[string]string{"f": "abcd"})
	p := filepath.Join(dir, "upper/a/f")
	fi, _ := os.Stat(p)
	os.WriteFile(p, []byte("wxyz"), 0o644) // same size
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	got := codes(t, dir)
	if len(got) != 1 || got[0] != "index-differ f" {
		t.Fatalf("findings %v, want index-differ f", got)
	}
}

func TestHistoryGap(t *testing.T) {
	dir := store(t, nil)
	db, err := sqlitedb.Open(filepath.Join(dir, "real.db"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	var es []history.Entry
	for i := 0; i < 3; i++ {
		es = append(es, history.Entry{Kind: history.Unlink, Arena: "a", Path: "p", Mtime: time.Now()})
	}
	if _, err := ix.Commit(context.Background(), index.ChangeSet{Entries: es}); err != nil {
		t.Fatal(err)
	}
	db.Exec(`DELETE FROM index_history WHERE idx=2`)
	db.Close()
	if got := codes(t, dir); len(got) != 1 || got[0] != "history-gap real.db" {
		t.Fatalf("findings %v", got)
	}
}

// A file deleted here and then removed by the peer that had it leaves a
// whiteout over nothing that the index records (the Real keeps it, hiding
// nothing, as the record of the local deletion): that is a healthy store,
// not a finding. A whiteout over nothing the index does not know still is.
func TestWhiteoutOfAFileThePeerRemoved(t *testing.T) {
	privtest.Require(t) // whiteouts need root
	dir := store(t, nil)
	up := filepath.Join(dir, "upper/a")
	for _, n := range []string{"deleted", "stray"} {
		if err := unix.Mknod(filepath.Join(up, n), unix.S_IFCHR, 0); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(up, "deleted2"), nil, 0o644)
	setX(t, filepath.Join(up, "deleted2"), "trusted.overlay.whiteout", "")
	db, err := sqlitedb.Open(filepath.Join(dir, "real.db"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cs index.ChangeSet
	for _, n := range []string{"deleted", "deleted2"} {
		fi, _ := os.Lstat(filepath.Join(up, n))
		cs.Put = append(cs.Put, index.Row{Arena: "a", Path: n, Kind: index.Whiteout, Mtime: fi.ModTime()})
	}
	if _, err := ix.Commit(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if got := codes(t, dir); len(got) != 1 || got[0] != "whiteout-orphan stray" {
		t.Fatalf("findings %v, want only whiteout-orphan stray", got)
	}
}
