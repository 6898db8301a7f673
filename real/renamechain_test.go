package real

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/privtest"
)

// Rename chains, a swap, a rename back, a renamed dir replaced by a file
// and a file by a renamed dir, as a catch-up decodes them.
func TestCatchUpRenameChainsAndSwaps(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	for _, p := range []string{"r", "dir/one", "dir/sub/two", "other/three", "x", "y"} {
		write(t, filepath.Join(e.lower, "A", p), "remote "+p)
	}
	merged := e.mount()
	m := func(p string) string { return filepath.Join(merged, filepath.FromSlash(p)) }
	e.catchUp()
	e.expect()
	must(t, os.Rename(m("A/r"), m("A/r2")))
	must(t, os.Rename(m("A/r2"), m("A/r3")))
	e.catchUp()
	e.expect(link("A", "r3", rh("r"), blob.Hash{}), unlink("A", "r", rh("r")))
	must(t, os.Rename(m("A/dir"), m("A/d2")))
	must(t, os.Rename(m("A/d2/sub"), m("A/s3")))
	e.catchUp()
	e.expect(link("A", "d2/one", rh("dir/one"), blob.Hash{}), link("A", "s3/two", rh("dir/sub/two"), blob.Hash{}),
		unlink("A", "dir/one", rh("dir/one")), unlink("A", "dir/sub/two", rh("dir/sub/two")))
	must(t, os.Rename(m("A/other"), m("A/o2")))
	must(t, os.Rename(m("A/o2"), m("A/other")))
	e.catchUp()
	e.expect()
	must(t, os.Rename(m("A/x"), m("A/t")))
	must(t, os.Rename(m("A/y"), m("A/x")))
	must(t, os.Rename(m("A/t"), m("A/y")))
	e.catchUp()
	e.expect(link("A", "x", rh("y"), rh("x")), link("A", "y", rh("x"), rh("y")))
	// A renamed dir replaced by a file, and a file by the renamed dir.
	must(t, os.RemoveAll(m("A/s3")))
	write(t, m("A/s3"), "file now")
	e.catchUp()
	e.expect(link("A", "s3", h("file now"), blob.Hash{}), unlink("A", "s3/two", rh("dir/sub/two")))
	must(t, os.Remove(m("A/r3")))
	must(t, os.Rename(m("A/d2"), m("A/r3")))
	e.catchUp()
	e.expect(unlink("A", "r3", rh("r")), link("A", "r3/one", rh("dir/one"), blob.Hash{}), unlink("A", "d2/one", rh("dir/one")))
	e.open([]string{"A"})
	e.catchUp()
	e.expect()
}

// The same kinds of moves while the watcher runs.
func TestServeRenameChainsAndSwaps(t *testing.T) {
	e, m := overlayEnv(t)
	write(t, m("A/x"), "local x")
	e.eventuallyFinal(link("A", "x", h("local x"), blob.Hash{}))
	must(t, os.Rename(m("A/r"), m("A/t")))
	must(t, os.Rename(m("A/x"), m("A/r")))
	must(t, os.Rename(m("A/t"), m("A/x")))
	must(t, os.Rename(m("A/dir"), m("A/d2")))
	must(t, os.Rename(m("A/d2/sub"), m("A/s3")))
	must(t, os.RemoveAll(m("A/other")))
	write(t, m("A/other"), "file over dir")
	e.eventuallyFinal(link("A", "r", h("local x"), rh("r")), link("A", "x", rh("r"), h("local x")),
		link("A", "d2/one", rh("dir/one"), blob.Hash{}), link("A", "s3/two", rh("dir/sub/two"), blob.Hash{}),
		unlink("A", "dir/one", rh("dir/one")), unlink("A", "dir/sub/two", rh("dir/sub/two")),
		link("A", "other", h("file over dir"), blob.Hash{}), unlink("A", "other/three", rh("other/three")))
	e.restartQuiet()
}
