package real

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/index"
	"github.com/realsync/real/privtest"
)

// Dirs deleted here (a whiteout, a dir renamed away, a dir deleted and
// made again, one such inside a renamed dir), then peers add files under them, applied to the Unreal
// while the Real was not told (the daemon stopped between applying the
// batch and RemoteChanged): the next start's catch-up finds them hidden
// under what hid that part of the lower before. Nobody here deleted them:
// each is a local-deleted conflict, kept on the peers, as RemoteChanged
// records it (one that the renamed dir shows at its new path moves with
// it, as there; one that a dir inside the renamed one hides is hidden). Before, the catch-up announced an Unlink of every one, and
// the peers' new files were deleted everywhere. A file deleted here
// meanwhile is still an Unlink.
func TestCatchUpKeepsPeersNewFilesUnderDirsDeletedHere(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	for _, p := range []string{"r", "dir/one", "other/sub/two", "other/in/three", "gone/a"} {
		write(t, filepath.Join(e.lower, "A", filepath.FromSlash(p)), "remote "+p)
	}
	merged := e.mount()
	m := func(p string) string { return filepath.Join(merged, filepath.FromSlash(p)) }
	must(t, os.RemoveAll(m("A/dir")))
	must(t, os.Rename(m("A/other"), m("A/moved")))
	must(t, os.RemoveAll(m("A/moved/in")))
	must(t, os.Mkdir(m("A/moved/in"), 0o755))
	must(t, os.RemoveAll(m("A/gone")))
	must(t, os.Mkdir(m("A/gone"), 0o755))
	e.catchUp()
	e.expect(
		unlink("A", "dir/one", rh("dir/one")),
		link("A", "moved/sub/two", rh("other/sub/two"), blob.Hash{}),
		unlink("A", "other/sub/two", rh("other/sub/two")),
		unlink("A", "other/in/three", rh("other/in/three")),
		unlink("A", "gone/a", rh("gone/a")),
	)

	added := []string{"dir/new", "dir/sub/deep", "gone/b", "other/in/z"}
	for _, p := range append(added, "other/sub/y") {
		write(t, filepath.Join(e.lower, "A", filepath.FromSlash(p)), "a peer's "+p)
	}
	must(t, os.Remove(m("A/r")))
	e.open([]string{"A"})
	e.catchUp()
	// A new file of the dir renamed here shows at its new path: moved
	// with the dir, as RemoteChanged records it.
	e.expect(
		unlink("A", "r", rh("r")),
		link("A", "moved/sub/y", h("a peer's other/sub/y"), blob.Hash{}),
		unlink("A", "other/sub/y", h("a peer's other/sub/y")),
	)
	got := map[string]index.Conflict{}
	for _, c := range e.conflicts() {
		got[c.Path] = c
	}
	for _, p := range added {
		if c, ok := got[p]; !ok || c.Kind != index.ConflictLocalDeleted || c.RemoteBlob != h("a peer's "+p) {
			t.Errorf("conflict at %s: %+v, %v", p, c, ok)
		}
		if _, err := os.Lstat(m("A/" + p)); !os.IsNotExist(err) {
			t.Errorf("%s shows in the merged view: %v", p, err)
		}
	}
	if len(got) != len(added) {
		t.Errorf("conflicts: %+v", e.conflicts())
	}
	e.restartQuiet()
	if n := len(e.conflicts()); n != len(added) {
		t.Errorf("a second catch-up recorded the conflicts again: %d", n)
	}
}

// A pass that meets a peer's new file under a dir deleted here before
// RemoteChanged does (it ran between the Unreal applying the Link and the
// daemon telling the Real) records the conflict once: RemoteChanged then
// finds it hidden with that version already.
func TestPassBeforeRemoteChangedRecordsOneConflict(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.lower, "A", "dir", "one"), "remote dir/one")
	merged := e.mount()
	must(t, os.RemoveAll(filepath.Join(merged, "A", "dir")))
	e.catchUp()
	e.expect(unlink("A", "dir/one", rh("dir/one")))
	write(t, filepath.Join(e.lower, "A", "dir", "new"), "o")
	e.remoteEdit("dir/new", "a peer's new")
	e.catchUp() // after RemoteChanged: nothing more
	write(t, filepath.Join(e.lower, "A", "dir", "new2"), "a peer's new2")
	e.catchUp() // a pass first
	e.remoteEdit("dir/new2", "a peer's new2")
	e.expect()
	if cs := e.conflicts(); len(cs) != 2 || cs[0].Kind != index.ConflictLocalDeleted || cs[1].Kind != index.ConflictLocalDeleted {
		t.Fatalf("conflicts: %+v", cs)
	}
	e.restartQuiet()
}
