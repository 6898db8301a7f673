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
}
