package real

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/index"
)

// A remote dir renamed here, and inside it a sub-dir that hides part of
// the lower dir: one renamed in from elsewhere (its redirect names another
// lower dir) and one deleted and made again (opaque). A peer then adds a
// file at the old path under each: the merged view shows it nowhere (not at
// the old path, which the rename hid, nor at the new one, which the inner
// dir hides), so it is a local-deleted conflict kept on that peer, as for a
// file added under a dir deleted here. Before, this peer announced an
// Unlink at the old path (as if the file showed at the new one), and the
// peer's new file was deleted everywhere though nobody here saw it.
func TestRemoteFileAddedUnderRenamedDirButHiddenThereIsNotUnlinked(t *testing.T) {
	e, m := overlayEnv(t)
	must(t, os.Rename(m("A/dir"), m("A/moved")))
	must(t, os.Rename(m("A/other"), m("A/moved/o")))
	// Settled before the deletion (the watcher may settle the renames
	// alone on a loaded machine: moved/sub/two Linked, then Unlinked).
	e.eventually(
		link("A", "moved/one", rh("dir/one"), blob.Hash{}),
		link("A", "moved/sub/two", rh("dir/sub/two"), blob.Hash{}),
		unlink("A", "dir/one", rh("dir/one")),
		unlink("A", "dir/sub/two", rh("dir/sub/two")),
		link("A", "moved/o/three", rh("other/three"), blob.Hash{}),
		unlink("A", "other/three", rh("other/three")),
	)
	must(t, os.RemoveAll(m("A/moved/sub")))
	must(t, os.Mkdir(m("A/moved/sub"), 0o755))
	write(t, m("A/moved/sub/loc"), "loc")
	e.eventually(
		unlink("A", "moved/sub/two", rh("dir/sub/two")),
		link("A", "moved/sub/loc", h("loc"), blob.Hash{}),
	)

	for _, p := range []string{"dir/o/x", "dir/sub/y"} {
		write(t, filepath.Join(e.lower, "A", filepath.FromSlash(p)), "old")
		e.remoteEdit(p, "a peer's new "+p)
	}
	for _, p := range []string{"A/moved/o/x", "A/moved/sub/y", "A/dir/o/x", "A/dir/sub/y"} {
		if _, err := os.Lstat(m(p)); !os.IsNotExist(err) {
			t.Fatalf("%s shows in the merged view: %v", p, err)
		}
	}
	write(t, m("A/flag"), "flag") // a change to wait for, after them
	e.eventually(link("A", "flag", h("flag"), blob.Hash{}))
	got := map[string]string{}
	for _, c := range e.conflicts() {
		got[c.Path] = c.Kind
	}
	if got["dir/o/x"] != index.ConflictLocalDeleted || got["dir/sub/y"] != index.ConflictLocalDeleted {
		t.Fatalf("conflicts: %+v", e.conflicts())
	}
	// A new file under the renamed dir that does show at the new path is
	// still moved there (Link at the new path, Unlink at the old).
	write(t, filepath.Join(e.lower, "A", "dir", "n", "z"), "old")
	e.remoteEdit("dir/n/z", "a peer's new dir/n/z")
	e.eventually(link("A", "moved/n/z", h("a peer's new dir/n/z"), blob.Hash{}), unlink("A", "dir/n/z", h("a peer's new dir/n/z")))
	e.restartQuiet()
}
