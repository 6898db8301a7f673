package real

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/index"
)

// remoteEdit changes the lower file (as the Unreal would apply a peer's
// Link) and tells the Real, as the daemon does.
func (e *env) remoteEdit(p, data string) {
	e.t.Helper()
	full := filepath.Join(e.lower, "A", filepath.FromSlash(p))
	old, _, _ := blob.File(full)
	write(e.t, full, data)
	mt := time.Now().Add(-time.Hour).Truncate(time.Second)
	must(e.t, os.Chtimes(full, mt, mt))
	must(e.t, e.r.RemoteChanged(context.Background(), history.Entry{Kind: history.Link, Arena: "A", Path: p,
		Mtime: mt, Size: int64(len(data)), Blob: h(data), PrevBlob: old}))
}

func (e *env) remoteDelete(p string) {
	e.t.Helper()
	full := filepath.Join(e.lower, "A", filepath.FromSlash(p))
	old, _, _ := blob.File(full)
	must(e.t, os.Remove(full))
	must(e.t, e.r.RemoteChanged(context.Background(), history.Entry{Kind: history.Unlink, Arena: "A", Path: p,
		Mtime: time.Now(), PrevBlob: old}))
}

func (e *env) conflicts() []index.Conflict {
	e.t.Helper()
	cs, err := e.ix.Conflicts(context.Background())
	must(e.t, err)
	return cs
}

func TestRemoteEditUnderLocalChmodShowsNewContentAndSize(t *testing.T) {
	e, m := overlayEnv(t)
	must(t, os.Chmod(m("A/r"), 0o600))
	write(t, m("A/flag"), "flag")
	e.eventually(link("A", "flag", h("flag"), blob.Hash{}))
	e.remoteEdit("r", "a much longer remote version of r")
	fi, err := os.Stat(m("A/r"))
	must(t, err)
	got, err := os.ReadFile(m("A/r"))
	must(t, err)
	if string(got) != "a much longer remote version of r" || fi.Size() != int64(len(got)) {
		t.Fatalf("merged view: size %d, content %q", fi.Size(), got)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("local chmod lost: mode %o", fi.Mode().Perm())
	}
	// Shorter again.
	e.remoteEdit("r", "short")
	got, _ = os.ReadFile(m("A/r"))
	if fi, _ := os.Stat(m("A/r")); string(got) != "short" || fi.Size() != 5 {
		t.Fatalf("merged view after a shorter edit: size %d, content %q", fi.Size(), got)
	}
	// No local history for a remote change, now or at the next start.
	write(t, m("A/flag2"), "flag2")
	e.eventually(link("A", "flag2", h("flag2"), blob.Hash{}))
	e.restartQuiet()
	if len(e.conflicts()) != 0 {
		t.Fatalf("conflicts: %+v", e.conflicts())
	}
}

func TestRemoteDeleteOfLocallyModifiedFileKeepsItAndRecordsConflict(t *testing.T) {
	e, m := overlayEnv(t)
	write(t, m("A/dir/one"), "local edit")
	e.eventually(link("A", "dir/one", h("local edit"), rh("dir/one")))
	e.remoteDelete("dir/one")
	if got, err := os.ReadFile(m("A/dir/one")); err != nil || string(got) != "local edit" {
		t.Fatalf("local version after the remote deletion: %q, %v", got, err)
	}
	cs := e.conflicts()
	if len(cs) != 1 || cs[0].Kind != index.ConflictRemoteDeleted || cs[0].Path != "dir/one" || cs[0].LocalBlob != h("local edit") ||
		cs[0].RemotePrev != rh("dir/one") {
		t.Fatalf("conflicts: %+v", cs)
	}
	// A remote deletion under a metacopy (local chmod): dropped, with a conflict.
	must(t, os.Chmod(m("A/other/three"), 0o600))
	write(t, m("A/flag"), "flag")
	e.eventually(link("A", "flag", h("flag"), blob.Hash{}))
	e.remoteDelete("other/three")
	if cs := e.conflicts(); len(cs) != 2 || cs[1].Kind != index.ConflictMetadataLost {
		t.Fatalf("conflicts: %+v", cs)
	}
	e.restartQuiet()
}
