package real

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/realsync/real/blob"
)

// A remote dir renamed here, then a peer edits, deletes and adds files in
// it (at the old path, which the peers still have): the renamed dir shows
// the change at the new path at once, so this peer announces it there (what
// the path shows changed), and a restart finds nothing more to record
// (only at the end: the Real that Serve runs is the one told of remote
// changes, as in the daemon; a restarted one beside it would be a second
// recorder).
// Before, the renamed dir's rows kept the old blob until the next start:
// the peers were told the old blob for bytes that had changed.
func TestRemoteChangeUnderLocallyRenamedDirIsAnnouncedAtTheNewPath(t *testing.T) {
	e, m := overlayEnv(t)
	must(t, os.Rename(m("A/dir"), m("A/moved")))
	e.eventually(
		link("A", "moved/one", rh("dir/one"), blob.Hash{}),
		link("A", "moved/sub/two", rh("dir/sub/two"), blob.Hash{}),
		unlink("A", "dir/one", rh("dir/one")),
		unlink("A", "dir/sub/two", rh("dir/sub/two")),
	)
	e.remoteEdit("dir/one", "one, edited by a peer")
	if got, err := os.ReadFile(m("A/moved/one")); err != nil || string(got) != "one, edited by a peer" {
		t.Fatalf("merged view of moved/one: %q, %v", got, err)
	}
	e.eventually(link("A", "moved/one", h("one, edited by a peer"), rh("dir/one")))

	e.remoteDelete("dir/sub/two")
	e.eventually(unlink("A", "moved/sub/two", rh("dir/sub/two")))

	write(t, filepath.Join(e.lower, "A", "dir", "sub", "new"), "new")
	e.remoteEdit("dir/sub/new", "new from a peer")
	// Shown at the new path, as the rest of the renamed dir: Link there,
	// Unlink at the old path (as for the files renamed with the dir).
	e.eventually(link("A", "moved/sub/new", h("new from a peer"), blob.Hash{}), unlink("A", "dir/sub/new", h("new from a peer")))
	e.restartQuiet()
}

// TestRemoteChangeUnderTwiceRenamedDirIsAnnouncedAtTheInnerNewPath: a
// remote dir renamed here, and a dir inside it renamed again: a peer's
// edit under the inner one shows (and is announced) only at the innermost
// new path; the path the outer rename alone would give is hidden.
func TestRemoteChangeUnderTwiceRenamedDirIsAnnouncedAtTheInnerNewPath(t *testing.T) {
	e, m := overlayEnv(t)
	e.renameDirThenSub(m, "A", "moved")
	e.remoteEdit("dir/sub/two", "two, edited by a peer")
	if got, err := os.ReadFile(m("A/moved/sub2/two")); err != nil || string(got) != "two, edited by a peer" {
		t.Fatalf("merged view of moved/sub2/two: %q, %v", got, err)
	}
	e.eventually(link("A", "moved/sub2/two", h("two, edited by a peer"), rh("dir/sub/two")))
	if _, err := os.Lstat(m("A/moved/sub/two")); !os.IsNotExist(err) {
		t.Fatalf("moved/sub/two shows: %v", err)
	}
	e.restartQuiet()
}

// renameDirThenSub renames the remote dir A/dir to arena/moved through the
// merged view m, then moved/sub to moved/sub2, each settled before the next
// (the watcher may settle the first alone on a loaded machine: failed so
// once in CI), checking the history of each.
func (e *env) renameDirThenSub(m func(string) string, arena, moved string) {
	e.t.Helper()
	must(e.t, os.Rename(m("A/dir"), m(arena+"/"+moved)))
	e.eventually(
		link(arena, moved+"/one", rh("dir/one"), blob.Hash{}),
		link(arena, moved+"/sub/two", rh("dir/sub/two"), blob.Hash{}),
		unlink("A", "dir/one", rh("dir/one")),
		unlink("A", "dir/sub/two", rh("dir/sub/two")),
	)
	must(e.t, os.Rename(m(arena+"/"+moved+"/sub"), m(arena+"/"+moved+"/sub2")))
	e.eventually(
		unlink(arena, moved+"/sub/two", rh("dir/sub/two")),
		link(arena, moved+"/sub2/two", rh("dir/sub/two"), blob.Hash{}),
	)
}
