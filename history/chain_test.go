package history

import (
	"testing"
	"time"

	"github.com/realsync/real/blob"
)

// The chain value stands for the entries that led to it: the same entries
// give the same value, any field of any entry changed gives another.
func TestChain(t *testing.T) {
	mt := time.Unix(1700000000, 123456789)
	entries := []Entry{
		{Index: 1, Kind: Link, Arena: "shared", Path: "a", Mtime: mt, Size: 3, Blob: blob.Of([]byte("abc"))},
		{Index: 2, Kind: Unlink, Arena: "shared", Path: "a", Mtime: mt, PrevBlob: blob.Of([]byte("abc"))},
		{Index: 3, Kind: Link, Arena: "shared", Path: "b", Mtime: mt, Size: 1, Blob: blob.Of([]byte("x"))},
	}
	chain := func(es []Entry) blob.Hash {
		var c blob.Hash
		for i := range es {
			c = Chain(c, &es[i])
		}
		return c
	}
	want := chain(entries)
	if again := chain(append([]Entry(nil), entries...)); again != want {
		t.Fatalf("same entries: chain %s, then %s", want, again)
	}
	if want.IsZero() {
		t.Fatal("chain of three entries is the zero hash")
	}
	changes := map[string]func(e *Entry){
		"index":     func(e *Entry) { e.Index++ },
		"kind":      func(e *Entry) { e.Kind = Available },
		"arena":     func(e *Entry) { e.Arena = "other" },
		"path":      func(e *Entry) { e.Path += "x" },
		"mtime":     func(e *Entry) { e.Mtime = e.Mtime.Add(time.Nanosecond) },
		"size":      func(e *Entry) { e.Size++ },
		"blob":      func(e *Entry) { e.Blob = blob.Of([]byte("other")) },
		"prev_blob": func(e *Entry) { e.PrevBlob = blob.Of([]byte("other")) },
		// the boundary between arena and path is part of the encoding
		"arena/path": func(e *Entry) { e.Arena, e.Path = e.Arena+"a", e.Path[1:] },
	}
	for name, change := range changes {
		for i := range entries {
			es := append([]Entry(nil), entries...)
			if name == "arena/path" {
				es[i].Path = "ab"
			}
			before := chain(es)
			change(&es[i])
			if got := chain(es); got == before {
				t.Errorf("entry %d with its %s changed: the chain value stays %s", i+1, name, got)
			}
		}
	}
}
