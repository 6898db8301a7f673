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

// A dir renamed here (overlay redirect) shows the files of the lower dir it
// was renamed from; a peer's edit or deletion at the new path (where this
// peer announced the files) cannot show through it: conflicts, the local
// side kept, no history.
func TestRemoteChangeAtPathOfLocallyRenamedDirIsAConflict(t *testing.T) {
	e, m := overlayEnv(t)
	must(t, os.Rename(m("A/dir"), m("A/d2")))
	e.eventually(link("A", "d2/one", rh("dir/one"), blob.Hash{}), link("A", "d2/sub/two", rh("dir/sub/two"), blob.Hash{}),
		unlink("A", "dir/one", rh("dir/one")), unlink("A", "dir/sub/two", rh("dir/sub/two")))
	write(t, filepath.Join(e.lower, "A", "d2", "one"), "remote dir/one")
	write(t, filepath.Join(e.lower, "A", "d2", "sub", "two"), "remote dir/sub/two")
	e.remoteEdit("d2/one", "a peer's edit at the new path")
	e.remoteDelete("d2/sub/two")
	got := map[string]string{}
	for _, c := range e.conflicts() {
		got[c.Path] = c.Kind
	}
	if got["d2/one"] != index.ConflictRemoteChanged || got["d2/sub/two"] != index.ConflictRemoteDeleted {
		t.Fatalf("conflicts: %+v", e.conflicts())
	}
	if b, err := os.ReadFile(m("A/d2/sub/two")); err != nil || string(b) != "remote dir/sub/two" {
		t.Fatalf("renamed file after a peer deleted it at the new path: %q, %v", b, err)
	}
	e.restartQuiet()
}
