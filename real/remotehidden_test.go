package real

import (
	"os"
	"path/filepath"
	"testing"

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
