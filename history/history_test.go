package history

import (
	"testing"
	"time"

	"github.com/realsync/real/blob"
)

func TestCheck(t *testing.T) {
	now := time.Now()
	h := blob.Of([]byte("x"))
	good := []Entry{
		{Kind: Link, Arena: "a", Path: "f", Mtime: now, Size: 1, Blob: h},
		{Kind: Unlink, Arena: "a/b", Path: "d/f", Mtime: now, PrevBlob: h},
	}
	for _, e := range good {
		if err := e.Check(now); err != nil {
			t.Errorf("Check(%+v) = %v", e, err)
		}
	}
	bad := []Entry{
		{Kind: Link, Arena: "a", Path: "f", Mtime: now},                              // no blob
		{Kind: Link, Arena: "a", Path: "f", Mtime: now, Blob: h, Size: -1},           // negative size
		{Kind: Unlink, Arena: "a", Path: "f", Mtime: now, Blob: h},                   // content on unlink
		{Kind: 9, Arena: "a", Path: "f", Mtime: now},                                 // unknown kind
		{Kind: Link, Arena: "a", Path: "../f", Mtime: now, Blob: h},                  // escaping path
		{Kind: Link, Arena: "/a", Path: "f", Mtime: now, Blob: h},                    // absolute arena
		{Kind: Link, Arena: "a", Path: "f", Mtime: now.Add(48 * time.Hour), Blob: h}, // future
	}
	for _, e := range bad {
		if err := e.Check(now); err == nil {
			t.Errorf("Check(%+v) accepted a bad entry", e)
		}
	}
}

func TestAnnounced(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		mtime, want time.Time
	}{
		{now.Add(-time.Hour), now.Add(-time.Hour)},
		{now.Add(MaxFuture), now.Add(MaxFuture)}, // at the limit: still accepted by Check
		{now.Add(MaxFuture + time.Second), now},
		{time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), now},
	} {
		got := Announced(tc.mtime, now)
		if !got.Equal(tc.want) {
			t.Errorf("Announced(%s) = %s, want %s", tc.mtime, got, tc.want)
		}
		e := Entry{Kind: Link, Arena: "a", Path: "p", Mtime: got, Size: 1, Blob: blob.Of([]byte("x"))}
		if err := e.Check(now); err != nil {
			t.Errorf("announced %s refused: %v", got, err)
		}
	}
}
