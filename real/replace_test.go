package real

import (
	"os"
	"testing"

	"github.com/realsync/real/blob"
)

func TestDecodeRemoteFileReplacedByDirAndBack(t *testing.T) {
	e, m := overlayEnv(t)
	// Remote file r replaced by a local dir with a file in it.
	must(t, os.Remove(m("A/r")))
	write(t, m("A/r/inside"), "inside")
	e.eventually(unlink("A", "r", rh("r")), link("A", "r/inside", h("inside"), blob.Hash{}))
	e.restartQuiet()
	// And back: the dir deleted, a file made at r again.
	must(t, os.RemoveAll(m("A/r")))
	write(t, m("A/r"), "file again")
	e.eventually(unlink("A", "r/inside", h("inside")), link("A", "r", h("file again"), blob.Hash{}))
	e.restartQuiet()
}

func TestDecodeRemoteDirReplacedByFile(t *testing.T) {
	e, m := overlayEnv(t)
	must(t, os.RemoveAll(m("A/dir")))
	write(t, m("A/dir"), "now a file")
	e.eventually(unlink("A", "dir/one", rh("dir/one")), unlink("A", "dir/sub/two", rh("dir/sub/two")),
		link("A", "dir", h("now a file"), blob.Hash{}))
	e.restartQuiet()
	// And back to a dir (opaque: the remote files stay hidden).
	must(t, os.Remove(m("A/dir")))
	write(t, m("A/dir/new"), "new")
	e.eventually(unlink("A", "dir", h("now a file")), link("A", "dir/new", h("new"), blob.Hash{}))
	if _, err := os.Stat(m("A/dir/one")); !os.IsNotExist(err) {
		t.Fatalf("remote dir/one shows through the recreated dir: %v", err)
	}
	e.restartQuiet()
}

func TestDecodeRemoteFileDeletedThenRecreated(t *testing.T) {
	e, m := overlayEnv(t)
	must(t, os.Remove(m("A/dir/one")))
	e.eventually(unlink("A", "dir/one", rh("dir/one")))
	write(t, m("A/dir/one"), "mine")
	e.eventually(link("A", "dir/one", h("mine"), blob.Hash{}))
	e.restartQuiet()
	// Deleted again: a whiteout again, Unlink of the local version.
	must(t, os.Remove(m("A/dir/one")))
	e.eventually(unlink("A", "dir/one", h("mine")))
	e.restartQuiet()
}

func TestDecodeHardLinksAreFilesAtBothPaths(t *testing.T) {
	e, m := overlayEnv(t)
	write(t, m("A/a"), "shared")
	e.eventually(link("A", "a", h("shared"), blob.Hash{}))
	must(t, os.Link(m("A/a"), m("A/b")))
	e.eventually(link("A", "b", h("shared"), blob.Hash{}))
	// Written through one name: both paths show the new content. One write
	// over the old bytes (no truncation first), so no watcher pass can see
	// an empty file in between.
	f, err := os.OpenFile(m("A/a"), os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteAt([]byte("changed"), 0)
	must(t, err)
	must(t, f.Close())
	e.eventually(link("A", "a", h("changed"), h("shared")), link("A", "b", h("changed"), h("shared")))
	e.restartQuiet()
	// A hard link to a remote file copies it up: a local file at both paths.
	must(t, os.Link(m("A/other/three"), m("A/three")))
	// (other/three is copied up with the same content: no entry there).
	e.eventually(link("A", "three", rh("other/three"), blob.Hash{}))
	e.restartQuiet()
}

// A symlink (not synced) where a remote file or dir was hides it in the
// merged view: the remote content is deleted here, never announced again.
func TestDecodeSymlinkOverRemoteFileOrDirDeletesIt(t *testing.T) {
	e, m := overlayEnv(t)
	must(t, os.Remove(m("A/r")))
	e.eventually(unlink("A", "r", rh("r")))
	must(t, os.Symlink("target", m("A/r")))
	// A remote dir replaced by a symlink in one go.
	must(t, os.RemoveAll(m("A/dir")))
	must(t, os.Symlink("target", m("A/dir")))
	e.eventually(unlink("A", "dir/one", rh("dir/one")), unlink("A", "dir/sub/two", rh("dir/sub/two")))
	// A local file replacing a remote one, then replaced by a symlink.
	write(t, m("A/other/three"), "mine")
	e.eventually(link("A", "other/three", h("mine"), rh("other/three")))
	must(t, os.Remove(m("A/other/three")))
	must(t, os.Symlink("target", m("A/other/three")))
	e.eventually(unlink("A", "other/three", h("mine")))
	e.restartQuiet()
}
