package real

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
)

// A local file with the bytes a remote peer serves at the same path (the
// same file written on two peers, one of them cut off, and the remote
// version arrived before the local one was indexed) is announced Available
// with its own mtime: the other peers learn that this peer holds it too.
// Removing that local copy while the remote one still shows through is a
// Drop, so that nobody counts on this peer's copy any more.
func TestLocalCopyOfRemoteBytesIsAvailableThenDropped(t *testing.T) {
	e := newEnv(t, "A")
	write(t, filepath.Join(e.lower, "A", "same"), "the same bytes")
	write(t, filepath.Join(e.lower, "A", "other"), "remote bytes")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	must(t, os.Chtimes(filepath.Join(e.lower, "A", "same"), old, old))
	write(t, filepath.Join(e.upper, "A", "same"), "the same bytes")
	write(t, filepath.Join(e.upper, "A", "other"), "local bytes")
	mine := time.Now().Add(-time.Minute).Truncate(time.Second)
	must(t, os.Chtimes(filepath.Join(e.upper, "A", "same"), mine, mine))
	e.catchUp()
	got := e.newEntries()
	if msg, ok := sameWants(got, []want{
		{history.Available, "A", "same", h("the same bytes"), blob.Hash{}},
		link("A", "other", h("local bytes"), h("remote bytes")),
	}); !ok {
		t.Fatalf("history mismatch\n%s", msg)
	}
	for _, g := range got {
		if g.Path == "same" && (!g.Mtime.Equal(mine) || g.Size != int64(len("the same bytes"))) {
			t.Errorf("Available same: mtime %s size %d, want the local file's %s and %d", g.Mtime, g.Size, mine, len("the same bytes"))
		}
	}

	// A touch of the held copy changes nothing the others need to know.
	must(t, os.Chtimes(filepath.Join(e.upper, "A", "same"), mine.Add(time.Second), mine.Add(time.Second)))
	e.catchUp()
	e.expect()

	// The local copy goes, the remote version still shows: a Drop.
	must(t, os.Remove(filepath.Join(e.upper, "A", "same")))
	e.catchUp()
	e.expect(want{history.Drop, "A", "same", blob.Hash{}, h("the same bytes")})
}
