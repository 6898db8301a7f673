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

// A remote file renamed here (a metacopy with a redirect) and then changed
// by a peer: the renamed file shows the new bytes with their own size, and
// the history says so; deleted by a peer, the renamed file loses its data.
func TestRemoteEditUnderLocalRenameKeepsSizeAndBytesTogether(t *testing.T) {
	e, m := overlayEnv(t)
	must(t, os.Rename(m("A/r"), m("A/r2")))
	e.eventually(link("A", "r2", rh("r"), blob.Hash{}), unlink("A", "r", rh("r")))
	const longer = "a much longer remote version of r"
	e.remoteEdit("r", longer)
	fi, err := os.Stat(m("A/r2"))
	must(t, err)
	got, err := os.ReadFile(m("A/r2"))
	must(t, err)
	if string(got) != longer || fi.Size() != int64(len(longer)) {
		t.Fatalf("merged view of the renamed file: size %d, content %q; want %d bytes %q", fi.Size(), got, len(longer), longer)
	}
	e.eventually(link("A", "r2", h(longer), rh("r")))
	e.restartQuiet()

	e.remoteDelete("r")
	if _, err := os.Lstat(filepath.Join(e.upper, "A", "r2")); !os.IsNotExist(err) {
		t.Fatalf("metacopy of a renamed file whose remote data was deleted is still in the upper: %v", err)
	}
	e.eventually(unlink("A", "r2", h(longer)))
	found := false
	for _, c := range e.conflicts() {
		if c.Path == "r2" && c.Kind == index.ConflictMetadataLost {
			found = true
		}
	}
	if !found {
		t.Fatalf("no metadata-lost conflict at r2: %+v", e.conflicts())
	}
	e.restartQuiet()
}

// A metacopy follows what the lower shows, not each notification: an older
// Link from one peer (another peer's newer version is the one served) and
// an Unlink from one of two holders leave it as it is; it never shows one
// version's size with another's bytes, and keeps its local chmod.
func TestRemoteNotificationThatChangesNothingShownLeavesMetacopy(t *testing.T) {
	e, m := overlayEnv(t)
	must(t, os.Chmod(m("A/r"), 0o600))
	write(t, m("A/flag"), "flag")
	e.eventually(link("A", "flag", h("flag"), blob.Hash{}))
	want, err := os.ReadFile(m("A/r"))
	must(t, err)
	// A peer's older, shorter version arrives; the lower keeps showing r.
	must(t, e.r.RemoteChanged(context.Background(), history.Entry{Kind: history.Link, Arena: "A", Path: "r",
		Mtime: time.Now().Add(-48 * time.Hour), Size: 3, Blob: h("old")}))
	// And one of its holders drops it; another still has it.
	must(t, e.r.RemoteChanged(context.Background(), history.Entry{Kind: history.Unlink, Arena: "A", Path: "r",
		Mtime: time.Now(), PrevBlob: h("old")}))
	fi, err := os.Stat(m("A/r"))
	must(t, err)
	got, err := os.ReadFile(m("A/r"))
	must(t, err)
	if string(got) != string(want) || fi.Size() != int64(len(want)) {
		t.Fatalf("merged view: size %d, content %q; want the shown version %q", fi.Size(), got, want)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("local chmod lost: mode %o", fi.Mode().Perm())
	}
	if len(e.conflicts()) != 0 {
		t.Fatalf("conflicts: %+v", e.conflicts())
	}
}
