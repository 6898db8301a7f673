package unreal

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
)

func lookup(t *testing.T, c *Cache, arena, path string) (Entry, bool) {
	t.Helper()
	e, ok, err := c.Lookup(context.Background(), arena, path)
	if err != nil {
		t.Fatal(err)
	}
	return e, ok
}

func walk(t *testing.T, c *Cache, arena, dir string) map[string]Entry {
	t.Helper()
	out := make(map[string]Entry)
	var order []string
	err := c.Walk(context.Background(), arena, dir, func(p string, e Entry) error {
		out[p] = e
		order = append(order, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(order); i++ {
		if order[i-1] >= order[i] {
			t.Fatalf("walk not in path order: %q before %q", order[i-1], order[i])
		}
	}
	return out
}

func TestNewestWinsAcrossPeers(t *testing.T) {
	c := newCache(t)
	mustApply(t, c, "alice", link(1, "docs", "a.txt", "alice's", t0))
	mustApply(t, c, "bob", link(1, "docs", "a.txt", "bob's, newest", t0.Add(2*time.Hour)))
	mustApply(t, c, "carol", link(1, "docs", "a.txt", "carol's", t0.Add(time.Hour)))

	e, ok := lookup(t, c, "docs", "a.txt")
	want := Entry{Peer: "bob", Size: int64(len("bob's, newest")), Mtime: t0.Add(2 * time.Hour), Blob: blob.Of([]byte("bob's, newest"))}
	if !ok || e.Peer != want.Peer || e.Size != want.Size || !e.Mtime.Equal(want.Mtime) || e.Blob != want.Blob {
		t.Fatalf("served %+v, want %+v", e, want)
	}
	// bob withdraws: carol's is now the newest.
	mustApply(t, c, "bob", unlink(2, "docs", "a.txt", t0.Add(3*time.Hour)))
	if e, _ := lookup(t, c, "docs", "a.txt"); e.Peer != "carol" {
		t.Fatalf("after bob's unlink served by %s, want carol", e.Peer)
	}
	// Same mtime: the smaller peer name wins.
	mustApply(t, c, "alice", link(2, "docs", "a.txt", "alice again", t0.Add(time.Hour)))
	if e, _ := lookup(t, c, "docs", "a.txt"); e.Peer != "alice" {
		t.Fatalf("tie served by %s, want alice", e.Peer)
	}
}

func TestUnlinkFromOneHolderKeepsFile(t *testing.T) {
	c := newCache(t)
	mustApply(t, c, "alice", link(1, "docs", "shared.txt", "same", t0))
	mustApply(t, c, "bob", link(1, "docs", "shared.txt", "same", t0))
	mustApply(t, c, "alice", unlink(2, "docs", "shared.txt", t0.Add(time.Minute)))
	e, ok := lookup(t, c, "docs", "shared.txt")
	if !ok || e.Peer != "bob" {
		t.Fatalf("after alice's unlink: %+v, %v; want still served by bob", e, ok)
	}
	mustApply(t, c, "bob", history.Entry{Index: 2, Kind: history.Drop, Arena: "docs", Path: "shared.txt", Mtime: t0.Add(time.Minute)})
	if _, ok := lookup(t, c, "docs", "shared.txt"); ok {
		t.Fatal("file still served after both holders removed it")
	}
}

func TestOlderNotificationsLose(t *testing.T) {
	c := newCache(t)
	mustApply(t, c, "alice", link(1, "docs", "a.txt", "new", t0.Add(time.Hour)))
	// A Link older than alice's stored entry does not replace it...
	mustApply(t, c, "alice", link(2, "docs", "a.txt", "old", t0))
	if e, _ := lookup(t, c, "docs", "a.txt"); e.Blob != blob.Of([]byte("new")) {
		t.Fatal("an older Link replaced a newer entry")
	}
	// ...and an Unlink older than it does not remove it.
	mustApply(t, c, "alice", unlink(3, "docs", "a.txt", t0))
	if _, ok := lookup(t, c, "docs", "a.txt"); !ok {
		t.Fatal("an older Unlink removed a newer entry")
	}
	if p, _ := c.Progress(context.Background(), "alice"); p != 3 {
		t.Fatalf("progress %d, want 3 (ignored entries still count)", p)
	}
}

func TestDuplicateBatchHarmless(t *testing.T) {
	c := newCache(t)
	batch := []history.Entry{
		link(5, "docs", "a.txt", "a", t0),
		link(6, "docs", "b.txt", "b", t0),
		unlink(7, "docs", "a.txt", t0.Add(time.Second)),
	}
	if p := mustApply(t, c, "alice", batch...); p != 7 {
		t.Fatalf("progress %d, want 7", p)
	}
	before := walk(t, c, "docs", "")
	// The same batch again, and one overlapping it: nothing changes twice.
	if p := mustApply(t, c, "alice", batch...); p != 7 {
		t.Fatalf("progress after replay %d, want 7", p)
	}
	if p := mustApply(t, c, "alice", batch[2], link(8, "docs", "c.txt", "c", t0)); p != 8 {
		t.Fatalf("progress after overlap %d, want 8", p)
	}
	after := walk(t, c, "docs", "")
	delete(after, "c.txt")
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("replay changed the cache:\n%v\n%v", before, after)
	}
	if _, ok := lookup(t, c, "docs", "a.txt"); ok {
		t.Fatal("a.txt came back")
	}
	if p, _ := c.Progress(context.Background(), "bob"); p != 0 {
		t.Fatalf("bob's progress %d, want 0", p)
	}
}

func TestInvalidEntryRejectsWholeBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  history.Entry
		want error
	}{
		{"bad path", link(3, "docs", "../escape", "x", t0), ErrBadEntry},
		{"unknown arena", link(3, "music", "song", "x", t0), ErrUnknownArena},
		{"index not increasing", link(2, "docs", "c.txt", "x", t0), ErrBadIndex},
		{"zero index", link(0, "docs", "c.txt", "x", t0), ErrBadIndex},
		{"link without blob", history.Entry{Index: 3, Kind: history.Link, Arena: "docs", Path: "c.txt", Mtime: t0}, ErrBadEntry},
		{"mtime far in the future", link(3, "docs", "c.txt", "x", time.Now().Add(48*time.Hour)), ErrBadEntry},
		{"mtime out of range", link(3, "docs", "c.txt", "x", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)), ErrBadEntry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			mustApply(t, c, "alice", link(1, "docs", "kept.txt", "kept", t0))
			before := walk(t, c, "docs", "")
			batch := []history.Entry{unlink(2, "docs", "kept.txt", t0.Add(time.Hour)), tc.bad}
			if tc.want == ErrBadIndex && tc.bad.Index == 0 {
				batch = []history.Entry{tc.bad}
			}
			_, err := c.Apply(context.Background(), "alice", batch)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Apply: %v, want %v", err, tc.want)
			}
			t.Logf("error: %v", err)
			if after := walk(t, c, "docs", ""); !reflect.DeepEqual(before, after) {
				t.Fatalf("rejected batch changed the cache: %v -> %v", before, after)
			}
			if p, _ := c.Progress(context.Background(), "alice"); p != 1 {
				t.Fatalf("progress %d after rejected batch, want 1", p)
			}
		})
	}
}

func TestWalk(t *testing.T) {
	c := newCache(t)
	mustApply(t, c, "alice",
		link(1, "docs", "b/x.txt", "1", t0),
		link(2, "docs", "b.txt", "2", t0),
		link(3, "docs", "b/y/z.txt", "3", t0),
		link(4, "docs", "a.txt", "4", t0),
		link(5, "docs", "bb/q.txt", "5", t0),
		link(6, "media/photos", "p.jpg", "6", t0))
	mustApply(t, c, "bob", link(1, "docs", "b/x.txt", "newer", t0.Add(time.Hour)))
	all := walk(t, c, "docs", "")
	if len(all) != 5 {
		t.Fatalf("walk of docs: %d files, want 5: %v", len(all), all)
	}
	if all["b/x.txt"].Peer != "bob" {
		t.Fatalf("walk gave %s's version of b/x.txt, want bob's (newest)", all["b/x.txt"].Peer)
	}
	sub := walk(t, c, "docs", "b")
	if len(sub) != 2 || sub["b/x.txt"].Peer == "" || sub["b/y/z.txt"].Peer == "" {
		t.Fatalf("walk of docs/b: %v, want b/x.txt and b/y/z.txt only", sub)
	}
	if err := c.Walk(context.Background(), "music", "", func(string, Entry) error { return nil }); !errors.Is(err, ErrUnknownArena) {
		t.Fatalf("walk of an unknown arena: %v", err)
	}
	stop := errors.New("stop")
	n := 0
	if err := c.Walk(context.Background(), "docs", "", func(string, Entry) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("walk did not stop at the first error: %v after %d", err, n)
	}
}

func TestInodesPersistAcrossReopen(t *testing.T) {
	file := filepath.Join(t.TempDir(), "real.db")
	ctx := context.Background()
	c := openDB(t, file)
	mustApply(t, c, "alice", link(1, "docs", "d/a.txt", "a", t0), link(2, "docs", "b.txt", "b", t0))
	inos := func(c *Cache) []uint64 {
		var out []uint64
		for _, p := range []string{"docs/d/a.txt", "docs/b.txt"} {
			_, n, err := c.fileInfo(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		for _, p := range []string{"docs/d", "docs", "media", "media/photos", ""} {
			_, n, err := c.dirInfo(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		return out
	}
	first := inos(c)
	seen := map[uint64]bool{}
	for _, n := range first {
		if seen[n] || n == 0 {
			t.Fatalf("inode numbers not unique and non-zero: %v", first)
		}
		seen[n] = true
	}
	if first[len(first)-1] != 1 {
		t.Fatalf("root inode %d, want 1", first[len(first)-1])
	}
	// Remove and re-add a file: it keeps its number too.
	mustApply(t, c, "alice", unlink(3, "docs", "b.txt", t0.Add(time.Hour)), link(4, "docs", "b.txt", "b2", t0.Add(2*time.Hour)))
	c2 := openDB(t, file)
	if again := inos(c2); !reflect.DeepEqual(first, again) {
		t.Fatalf("inode numbers changed across reopen: %v -> %v", first, again)
	}
}

func TestDirectoriesImpliedAndPruned(t *testing.T) {
	c := newCache(t)
	ctx := context.Background()
	names := func(dir string) []string {
		ents, err := c.list(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.name)
		}
		return out
	}
	if got := names(""); !reflect.DeepEqual(got, []string{"docs", "media"}) {
		t.Fatalf("root lists %v, want docs and media", got)
	}
	if got := names("media"); !reflect.DeepEqual(got, []string{"photos"}) {
		t.Fatalf("media lists %v, want photos (the arena media/photos)", got)
	}
	mustApply(t, c, "alice", link(1, "docs", "x/y/z.txt", "z", t0))
	if got := names("docs/x"); !reflect.DeepEqual(got, []string{"y"}) {
		t.Fatalf("docs/x lists %v", got)
	}
	mt, _, err := c.dirInfo(ctx, "docs/x/y")
	if err != nil || !mt.Equal(t0) {
		t.Fatalf("docs/x/y mtime %v, %v, want %v", mt, err, t0)
	}
	// Removing the last file removes the implied directories, not the
	// arena, whose mtime becomes the unlink's (it is newer than the
	// arena's creation when the cache was opened).
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	mustApply(t, c, "alice", unlink(2, "docs", "x/y/z.txt", later))
	if _, _, err := c.dirInfo(ctx, "docs/x"); !errors.Is(err, errNotFound) {
		t.Fatalf("docs/x after its last file went: %v, want not found", err)
	}
	mt, _, err = c.dirInfo(ctx, "docs")
	if err != nil || !mt.Equal(later) {
		t.Fatalf("docs mtime %v, %v, want the unlink's %v", mt, err, later)
	}
	if got := names("docs"); len(got) != 0 {
		t.Fatalf("docs lists %v, want nothing", got)
	}
}

func TestOpenCacheRejectsBadArenas(t *testing.T) {
	dir := t.TempDir()
	for _, arenas := range [][]string{{"a", "a/b"}, {"../x"}, {"a", "a"}} {
		db := openDB(t, filepath.Join(dir, "real.db")).db
		if _, err := OpenCache(context.Background(), db, arenas, nil); err == nil {
			t.Errorf("OpenCache(%q) accepted", arenas)
		}
	}
}
