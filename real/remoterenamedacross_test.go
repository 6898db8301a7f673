package real

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/index"
	"github.com/realsync/real/privtest"
)

func (e *env) remoteEditIn(arena, p, data string) {
	e.t.Helper()
	full := filepath.Join(e.lower, arena, filepath.FromSlash(p))
	old, _, _ := blob.File(full)
	write(e.t, full, data)
	mt := time.Now().Add(-time.Hour).Truncate(time.Second)
	must(e.t, os.Chtimes(full, mt, mt))
	must(e.t, e.r.RemoteChanged(context.Background(), history.Entry{Kind: history.Link, Arena: arena, Path: p,
		Mtime: mt, Size: int64(len(data)), Blob: h(data), PrevBlob: old}))
}

// A remote dir renamed into another arena (an absolute redirect across
// arenas), and a dir inside it renamed again (a relative redirect under
// it): a peer's new file and edit under the inner one are announced at the
// new paths, with the Unlink at the old one for the new file, and the
// store service serves all of them from the lower at their new paths.
func TestRemoteChangeUnderDirRenamedAcrossArenas(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A", "B")
	write(t, filepath.Join(e.lower, "A", "dir", "one"), "remote dir/one")
	write(t, filepath.Join(e.lower, "A", "dir", "sub", "two"), "remote dir/sub/two")
	merged := e.mount()
	e.serve()
	m := func(p string) string { return filepath.Join(merged, filepath.FromSlash(p)) }
	must(t, os.MkdirAll(m("B/x"), 0o755))
	e.renameDirThenSub(m, "B", "x/moved")
	write(t, filepath.Join(e.lower, "A", "dir", "sub", "n"), "o")
	e.remoteEditIn("A", "dir/sub/n", "new n")
	e.eventually(link("B", "x/moved/sub2/n", h("new n"), blob.Hash{}), unlink("A", "dir/sub/n", h("new n")))
	e.remoteEditIn("A", "dir/sub/two", "two edited")
	e.eventually(link("B", "x/moved/sub2/two", h("two edited"), rh("dir/sub/two")))
	for p, d := range map[string]string{"x/moved/sub2/n": "new n", "x/moved/sub2/two": "two edited", "x/moved/one": "remote dir/one"} {
		f, err := e.r.Open("B", p, h(d))
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != d {
			t.Fatalf("%s: %q", p, b)
		}
	}
	e.open([]string{"A", "B"})
	e.catchUp()
	e.expect()
}

// A file of a remote dir renamed here, chmod'ed here (a metacopy): a peer's
// edit resizes it and is announced at the new path, and served from the
// lower there. Written here since (a local version), a peer's next edit
// meets it: the local bytes stay, and the meeting is a recorded conflict;
// before, it was neither shown nor recorded anywhere.
func TestRemoteEditOfFileRenamedWithDirAndEditedHere(t *testing.T) {
	e, m := overlayEnv(t)
	must(t, os.Rename(m("A/dir"), m("A/moved")))
	e.eventually(
		link("A", "moved/one", rh("dir/one"), blob.Hash{}),
		link("A", "moved/sub/two", rh("dir/sub/two"), blob.Hash{}),
		unlink("A", "dir/one", rh("dir/one")),
		unlink("A", "dir/sub/two", rh("dir/sub/two")),
	)
	must(t, os.Chmod(m("A/moved/sub/two"), 0o600))
	write(t, m("A/flag"), "flag")
	e.eventually(link("A", "flag", h("flag"), blob.Hash{}))
	e.remoteEdit("dir/sub/two", "two edited, longer")
	e.eventually(link("A", "moved/sub/two", h("two edited, longer"), rh("dir/sub/two")))
	got, err := os.ReadFile(m("A/moved/sub/two"))
	if err != nil || string(got) != "two edited, longer" {
		t.Fatalf("%q %v", got, err)
	}
	f, err := e.r.Open("A", "moved/sub/two", h("two edited, longer"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Written to: overlay copies the data up.
	must(t, os.WriteFile(m("A/moved/sub/two"), []byte("local"), 0o600))
	e.eventually(link("A", "moved/sub/two", h("local"), h("two edited, longer")))
	e.remoteEdit("dir/sub/two", "two edited again")
	write(t, m("A/flag2"), "flag")
	e.eventually(link("A", "flag2", h("flag"), blob.Hash{}))
	if got, err := os.ReadFile(m("A/moved/sub/two")); err != nil || string(got) != "local" {
		t.Fatalf("local version after the peer's edit: %q, %v", got, err)
	}
	if cs := e.conflicts(); len(cs) != 1 || cs[0].Kind != index.ConflictLocalDeleted || cs[0].RemoteBlob != h("two edited again") {
		t.Fatalf("conflicts: %+v", cs)
	}
	e.restartQuiet()
}
