package real

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/index"
	"github.com/realsync/real/privtest"
)

// A remote dir deleted here (a whiteout over it); then a peer that had not
// heard of it yet adds a file in it and edits another. The merged view
// cannot show them (the whiteout hides the dir), so they are conflicts
// kept on that peer (local-deleted), as for a single deleted file; they
// are not Unlinked from the other peers by a later pass here.
func TestRemoteFileAddedUnderLocallyDeletedDirIsAConflictNotAnUnlink(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.lower, "A", "dir", "one"), "remote dir/one")
	write(t, filepath.Join(e.lower, "A", "keep"), "remote keep")
	merged := e.mount()
	must(t, os.RemoveAll(filepath.Join(merged, "A", "dir")))
	e.catchUp()
	e.expect(unlink("A", "dir/one", rh("dir/one")))

	write(t, filepath.Join(e.lower, "A", "dir", "new"), "remote new")
	e.remoteEdit("dir/new", "remote new") // as the daemon reports the Link
	e.remoteEdit("dir/one", "remote one edited")
	e.catchUp()
	e.open([]string{"A"})
	e.catchUp()
	e.expect()
	got := map[string]string{}
	for _, c := range e.conflicts() {
		got[c.Path] = c.Kind
	}
	if got["dir/new"] != index.ConflictLocalDeleted || got["dir/one"] != index.ConflictLocalDeleted {
		t.Fatalf("conflicts: %+v", e.conflicts())
	}
}

// A peer's file where this peer has a local dir (made here, or replacing
// the remote file): the dir is shown, the file cannot be; that is a
// conflict, recorded, and the dir's history is left as it is.
func TestRemoteFileWhereLocalDirIsAConflict(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.lower, "A", "was"), "remote was")
	merged := e.mount()
	write(t, filepath.Join(merged, "A", "n", "x"), "local x")
	must(t, os.Remove(filepath.Join(merged, "A", "was")))
	write(t, filepath.Join(merged, "A", "was", "y"), "local y")
	e.catchUp()
	e.expect(link("A", "n/x", h("local x"), blob.Hash{}), link("A", "was/y", h("local y"), blob.Hash{}), unlink("A", "was", rh("was")))
	write(t, filepath.Join(e.lower, "A", "n"), "")
	e.remoteEdit("n", "remote n")
	e.remoteEdit("was", "remote was edited")
	if fi, err := os.Stat(filepath.Join(merged, "A", "n")); err != nil || !fi.IsDir() {
		t.Fatalf("merged A/n: %v, %v; want the local dir", fi, err)
	}
	got := map[string]string{}
	for _, c := range e.conflicts() {
		got[c.Path] = c.Kind
	}
	if got["n"] != index.ConflictRemoteChanged || got["was"] != index.ConflictLocalDeleted {
		t.Fatalf("conflicts: %+v", e.conflicts())
	}
	e.catchUp()
	e.open([]string{"A"})
	e.catchUp()
	e.expect()
}
