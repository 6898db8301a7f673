package real

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/index"
	"github.com/realsync/real/privtest"
)

// metaThenWritten indexes a local chmod of the remote file A/r (a
// metacopy), then writes to it through the mount: overlay copies the data
// up, and the index still says metacopy (the watcher has not settled it).
func metaThenWritten(t *testing.T) (*env, func(string) string) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.lower, "A", "r"), "remote r")
	merged := e.mount()
	m := func(p string) string { return filepath.Join(merged, filepath.FromSlash(p)) }
	must(t, os.Chmod(m("A/r"), 0o600))
	e.catchUp()
	e.expect()
	if row, ok, err := e.ix.Get(t.Context(), "A", "r"); err != nil || !ok || row.Kind != index.Meta {
		t.Fatalf("row of the chmod'ed remote file: %+v %v %v", row, ok, err)
	}
	f, err := os.OpenFile(m("A/r"), os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.WriteString(" and a local edit")
	must(t, err)
	must(t, f.Close())
	return e, m
}

// A peer's edit arriving after a local write into a metacopy, before the
// watcher recorded the write: the local bytes are kept (not truncated to
// the remote size), the edit is recorded and a conflict too.
func TestRemoteEditAfterLocalWriteIntoMetacopyKeepsLocalBytes(t *testing.T) {
	e, m := metaThenWritten(t)
	e.remoteEdit("r", "v2")
	const local = "remote r and a local edit"
	for _, f := range []string{m("A/r"), filepath.Join(e.upper, "A", "r")} {
		if got, err := os.ReadFile(f); err != nil || string(got) != local {
			t.Fatalf("%s after the remote edit: %q, %v; want the local %q", f, got, err, local)
		}
	}
	e.expect(link("A", "r", h(local), h("remote r")))
	found := false
	for _, c := range e.conflicts() {
		found = found || (c.Path == "r" && c.Kind == index.ConflictRemoteChanged)
	}
	if !found {
		t.Fatalf("no remote-changed conflict: %+v", e.conflicts())
	}
	e.catchUp()
	e.expect()
}

// The same with a peer's deletion: the locally written file survives.
func TestRemoteDeleteAfterLocalWriteIntoMetacopyKeepsLocalFile(t *testing.T) {
	e, m := metaThenWritten(t)
	e.remoteDelete("r")
	const local = "remote r and a local edit"
	for _, f := range []string{m("A/r"), filepath.Join(e.upper, "A", "r")} {
		if got, err := os.ReadFile(f); err != nil || string(got) != local {
			t.Fatalf("%s after the remote deletion: %q, %v; want the local %q", f, got, err, local)
		}
	}
	e.expect(link("A", "r", h(local), h("remote r")))
	found := false
	for _, c := range e.conflicts() {
		found = found || (c.Path == "r" && c.Kind == index.ConflictRemoteDeleted)
	}
	if !found {
		t.Fatalf("no remote-deleted conflict: %+v", e.conflicts())
	}
	e.catchUp()
	e.expect()
}

// A remote file renamed here (a metacopy with a redirect), then written to
// before the watcher recorded it: a peer's edit or deletion of the
// original leaves the local bytes of the renamed file alone.
func TestRemoteChangeAfterLocalWriteIntoRenamedMetacopyKeepsLocalBytes(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.lower, "A", "r"), "remote r")
	merged := e.mount()
	m := func(p string) string { return filepath.Join(merged, filepath.FromSlash(p)) }
	must(t, os.Rename(m("A/r"), m("A/r2")))
	e.catchUp()
	e.expect(link("A", "r2", h("remote r"), blob.Hash{}), unlink("A", "r", h("remote r")))
	f, err := os.OpenFile(m("A/r2"), os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.WriteString(" and a local edit")
	must(t, err)
	must(t, f.Close())
	e.remoteEdit("r", "v2")
	const local = "remote r and a local edit"
	for _, f := range []string{m("A/r2"), filepath.Join(e.upper, "A", "r2")} {
		if got, err := os.ReadFile(f); err != nil || string(got) != local {
			t.Fatalf("%s after the remote edit: %q, %v; want the local %q", f, got, err, local)
		}
	}
	e.expect(link("A", "r2", h(local), h("remote r")))
	e.remoteDelete("r")
	if got, err := os.ReadFile(filepath.Join(e.upper, "A", "r2")); err != nil || string(got) != local {
		t.Fatalf("upper r2 after the remote deletion: %q, %v", got, err)
	}
	e.expect()
	e.catchUp()
	e.expect()
}

// The daemon stopped after applying a peer's Link to the Unreal and before
// RemoteChanged followed it: the next start's catch-up gives the local
// metacopy (a chmod here) the new version's size, keeping the chmod, with
// no history of this peer; a metacopy renamed here from that file is
// brought in line too, and its new content announced at its path.
func TestCatchUpBringsStaleMetacopyInLineWithRemoteVersion(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.lower, "A", "r"), "remote r")
	write(t, filepath.Join(e.lower, "A", "s"), "remote s")
	merged := e.mount()
	m := func(p string) string { return filepath.Join(merged, filepath.FromSlash(p)) }
	must(t, os.Chmod(m("A/r"), 0o600))
	must(t, os.Rename(m("A/s"), m("A/s2")))
	e.catchUp()
	e.expect(link("A", "s2", h("remote s"), blob.Hash{}), unlink("A", "s", h("remote s")))
	const longer = "a much longer remote version"
	write(t, filepath.Join(e.lower, "A", "r"), longer)
	write(t, filepath.Join(e.lower, "A", "s"), longer+" of s")
	e.open([]string{"A"})
	e.catchUp()
	e.expect(link("A", "s2", h(longer+" of s"), h("remote s")))
	for p, want := range map[string]string{"A/r": longer, "A/s2": longer + " of s"} {
		fi, err := os.Stat(m(p))
		must(t, err)
		got, err := os.ReadFile(m(p))
		must(t, err)
		if string(got) != want || fi.Size() != int64(len(want)) {
			t.Fatalf("merged %s after the catch-up: size %d, content %q; want %q", p, fi.Size(), got, want)
		}
	}
	if fi, _ := os.Stat(m("A/r")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("local chmod lost: %o", fi.Mode().Perm())
	}
	e.open([]string{"A"})
	e.catchUp()
	e.expect()
}
