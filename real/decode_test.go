package real

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/privtest"
)

// overlayEnv: arena A with remote files in the lower, the overlay mounted
// (metacopy=on,redirect_dir=on) and Serve running.
func overlayEnv(t *testing.T) (*env, func(string) string) {
	privtest.Require(t)
	e := newEnv(t, "A")
	for _, p := range []string{"r", "dir/one", "dir/sub/two", "other/three"} {
		write(t, filepath.Join(e.lower, "A", p), "remote "+p)
	}
	merged := e.mount()
	e.serve()
	return e, func(p string) string { return filepath.Join(merged, filepath.FromSlash(p)) }
}

func rh(p string) blob.Hash { return h("remote " + p) }

// restartQuiet checks that a restarted daemon's catch-up finds nothing new.
func (e *env) restartQuiet() {
	e.t.Helper()
	e.open([]string{"A"})
	e.catchUp()
	e.expect()
}

func TestDecodeChmodOfRemoteFileIsNoChange(t *testing.T) {
	e, m := overlayEnv(t)
	if err := os.Chmod(m("A/r"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(m("A/dir/sub/two"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A marker change we can wait for, after the chmods.
	write(t, m("A/flag"), "flag")
	e.eventually(link("A", "flag", h("flag"), blob.Hash{}))
	if !hasXattr(t, filepath.Join(e.upper, "A", "r"), "trusted.overlay.metacopy") {
		t.Fatal("chmod did not leave a metacopy upper file: is metacopy=on in effect?")
	}
	// Writing to it now copies the data up: a Link replacing the remote blob.
	f, err := os.OpenFile(m("A/r"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(" edited")
	f.Close()
	e.eventually(link("A", "r", h("remote r edited"), rh("r")))
	e.restartQuiet()
}

func TestDecodeRenameOfRemoteFile(t *testing.T) {
	e, m := overlayEnv(t)
	if err := os.Rename(m("A/r"), m("A/r2")); err != nil {
		t.Fatal(err)
	}
	e.eventually(link("A", "r2", rh("r"), blob.Hash{}), unlink("A", "r", rh("r")))
	// Across directories (an absolute redirect).
	if err := os.Rename(m("A/other/three"), m("A/dir/three")); err != nil {
		t.Fatal(err)
	}
	e.eventually(link("A", "dir/three", rh("other/three"), blob.Hash{}), unlink("A", "other/three", rh("other/three")))
	if v, ok := xattrValue(t, filepath.Join(e.upper, "A", "dir", "three"), "trusted.overlay.redirect"); !ok || !strings.HasPrefix(v, "/") {
		t.Logf("redirect of dir/three = %q, %v (expected an absolute one)", v, ok)
	}
	if f := e.r.hashed; f != 0 {
		t.Fatalf("renames hashed %d files: no data should be read", f)
	}
	e.restartQuiet()
}

func TestDecodeRenameOfRemoteDir(t *testing.T) {
	e, m := overlayEnv(t)
	if err := os.Rename(m("A/dir"), m("A/moved")); err != nil {
		t.Fatal(err)
	}
	e.eventually(
		link("A", "moved/one", rh("dir/one"), blob.Hash{}),
		link("A", "moved/sub/two", rh("dir/sub/two"), blob.Hash{}),
		unlink("A", "dir/one", rh("dir/one")),
		unlink("A", "dir/sub/two", rh("dir/sub/two")),
	)
	// Inside the renamed dir: a remote file deleted, one renamed out, a new one.
	if err := os.Remove(m("A/moved/one")); err != nil {
		t.Fatal(err)
	}
	e.eventually(unlink("A", "moved/one", rh("dir/one")))
	if err := os.Rename(m("A/moved/sub/two"), m("A/two")); err != nil {
		t.Fatal(err)
	}
	e.eventually(link("A", "two", rh("dir/sub/two"), blob.Hash{}), unlink("A", "moved/sub/two", rh("dir/sub/two")))
	write(t, m("A/moved/sub/new"), "new")
	e.eventually(link("A", "moved/sub/new", h("new"), blob.Hash{}))
	// And the renamed dir renamed again, into another dir.
	if err := os.Rename(m("A/moved"), m("A/other/again")); err != nil {
		t.Fatal(err)
	}
	e.eventually(
		link("A", "other/again/sub/new", h("new"), blob.Hash{}),
		unlink("A", "moved/sub/new", h("new")),
	)
	if f := e.r.hashed; f != 2 {
		t.Fatalf("hashed %d files, want 2 (the new local file, then at its new path)", f)
	}
	e.restartQuiet()
}

func TestDecodeOpaqueDirHidesRemoteContent(t *testing.T) {
	e, m := overlayEnv(t)
	if err := os.RemoveAll(m("A/dir")); err != nil {
		t.Fatal(err)
	}
	e.eventually(unlink("A", "dir/one", rh("dir/one")), unlink("A", "dir/sub/two", rh("dir/sub/two")))
	write(t, m("A/dir/one"), "local one")
	e.eventually(link("A", "dir/one", h("local one"), blob.Hash{}))
	if v, _ := xattrValue(t, filepath.Join(e.upper, "A", "dir"), "trusted.overlay.opaque"); v != "y" {
		t.Fatalf("recreated dir opaque = %q, want y", v)
	}
	e.restartQuiet()
}

func TestCatchUpDecodesOverlayFactsFromScratch(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	for _, p := range []string{"r", "dir/one", "dir/sub/two", "other/three", "gone/four"} {
		write(t, filepath.Join(e.lower, "A", p), "remote "+p)
	}
	merged := e.mount()
	m := func(p string) string { return filepath.Join(merged, filepath.FromSlash(p)) }
	// All done while no daemon watches.
	must(t, os.Chmod(m("A/r"), 0o600))
	must(t, os.Rename(m("A/dir"), m("A/moved")))
	must(t, os.Remove(m("A/other/three")))
	must(t, os.RemoveAll(m("A/gone")))
	must(t, os.Mkdir(m("A/gone"), 0o755))
	write(t, m("A/gone/local"), "local")
	write(t, m("A/n"), "n")
	e.catchUp()
	e.expect(
		link("A", "moved/one", rh("dir/one"), blob.Hash{}),
		link("A", "moved/sub/two", rh("dir/sub/two"), blob.Hash{}),
		unlink("A", "dir/one", rh("dir/one")),
		unlink("A", "dir/sub/two", rh("dir/sub/two")),
		unlink("A", "other/three", rh("other/three")),
		unlink("A", "gone/four", rh("gone/four")),
		link("A", "gone/local", h("local"), blob.Hash{}),
		link("A", "n", h("n"), blob.Hash{}),
	)
	if n := e.r.hashed; n != 2 {
		t.Fatalf("hashed %d files, want 2 (the local ones)", n)
	}
	e.restartQuiet()
	// Moving the renamed dir back where it was: everything as remote again.
	must(t, os.Rename(m("A/moved"), m("A/dir")))
	e.catchUp()
	e.expect(
		link("A", "dir/one", rh("dir/one"), blob.Hash{}),
		link("A", "dir/sub/two", rh("dir/sub/two"), blob.Hash{}),
		unlink("A", "moved/one", rh("dir/one")),
		unlink("A", "moved/sub/two", rh("dir/sub/two")),
	)
	e.restartQuiet()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func hasXattr(t *testing.T, path, name string) bool {
	_, ok := xattrValue(t, path, name)
	return ok
}

func xattrValue(t *testing.T, path, name string) (string, bool) {
	t.Helper()
	v, err := getXattr(path, name)
	if err != nil {
		return "", false
	}
	return string(v), true
}
