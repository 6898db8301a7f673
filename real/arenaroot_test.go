package real

import (
	"os"
	"testing"

	"github.com/realsync/real/blob"
)

// TestDecodeWholeArenaDeletedThroughMount: rm -rf of an arena in the merged
// view leaves a whiteout at the arena root of the upper. Every file it had
// is deleted (one Unlink each) and stays deleted: no Link brings a remote
// file back, neither in the watcher's pass nor after a restart.
func TestDecodeWholeArenaDeletedThroughMount(t *testing.T) {
	e, m := overlayEnv(t)
	write(t, m("A/mine"), "mine")
	e.eventually(link("A", "mine", h("mine"), blob.Hash{}))
	must(t, os.RemoveAll(m("A")))
	e.eventuallyFinal(unlink("A", "mine", h("mine")), unlink("A", "r", rh("r")), unlink("A", "dir/one", rh("dir/one")),
		unlink("A", "dir/sub/two", rh("dir/sub/two")), unlink("A", "other/three", rh("other/three")))
	e.restartQuiet()
	// The arena made again: the remote files stay deleted, new ones are Linked.
	must(t, os.Mkdir(m("A"), 0o755))
	write(t, m("A/r"), "new r")
	e.eventually(link("A", "r", h("new r"), blob.Hash{}))
	if _, err := os.Stat(m("A/dir/one")); !os.IsNotExist(err) {
		t.Fatalf("remote dir/one shows through the recreated arena: %v", err)
	}
	e.restartQuiet()
}
