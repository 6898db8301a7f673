package daemon

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/rpc"
)

// A peer's bad batches reach a real daemon: nothing of a refused batch is
// applied, each refusal is logged once however often it comes, and a batch
// going back in history changes nothing it already had.
func TestRefusedBatchesApplyNothing(t *testing.T) {
	h := household(t, "a", "b")
	a, b := h["a"], h["b"]
	a.stop(t)
	c := clientAs(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := c.Wants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := w.Progress
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	link := func(path string, content string) history.Entry {
		next++
		return history.Entry{Index: next, Kind: history.Link, Arena: "shared", Path: path, Mtime: mtime,
			Size: int64(len(content)), Blob: blob.Of([]byte(content))}
	}
	progress := func() uint64 {
		t.Helper()
		w, err := c.Wants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return w.Progress
	}
	size := func(rel string) int64 {
		t.Helper()
		fi, err := os.Lstat(b.path(rel))
		if err != nil {
			t.Fatalf("b: %v", err)
		}
		return fi.Size()
	}
	absent := func(rel string) {
		t.Helper()
		if _, err := os.Lstat(b.path(rel)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("b shows %s of a refused batch (%v)", rel, err)
		}
	}

	good := []history.Entry{link("keep/x", "first"), link("keep/y", "y"), link("keep/z", "z")}
	if p, err := c.Notify(ctx, good); err != nil || p != next {
		t.Fatalf("good batch: progress %d, %v; want %d", p, err, next)
	}
	eventually(t, "keep/x on b", func() error {
		_, err := os.Lstat(b.path("keep/x"))
		return err
	})
	applied := next

	// An unknown arena in the middle: the whole batch is refused, three times.
	bad := []history.Entry{link("bad/1", "1"), link("bad/2", "2"), link("bad/3", "3")}
	bad[1].Arena = "elsewhere"
	for range 3 {
		_, err := c.Notify(ctx, bad)
		if !errors.Is(err, rpc.ErrUnknownArena) || !strings.Contains(err.Error(), `"elsewhere"`) {
			t.Fatalf("unknown arena: %v, want ErrUnknownArena naming it", err)
		}
	}
	if p := progress(); p != applied {
		t.Errorf("progress %d after a refused batch, want %d", p, applied)
	}
	absent("bad/1")
	absent("bad/3")

	// An mtime far in the future: refused (here by the client, before it
	// goes out; the server's refusal is tested in rpc).
	next = applied
	future := []history.Entry{link("future/1", "1"), link("future/2", "2")}
	future[1].Mtime = time.Now().Add(history.MaxFuture + time.Hour)
	if _, err := c.Notify(ctx, future); !errors.Is(err, rpc.ErrInvalid) || !strings.Contains(err.Error(), "future") {
		t.Fatalf("future mtime: %v, want ErrInvalid", err)
	}
	if p := progress(); p != applied {
		t.Errorf("progress %d after a refused batch, want %d", p, applied)
	}
	absent("future/1")

	// Indexes going back across batches: entries at or below the progress
	// were applied before and change nothing, even with other content.
	next = applied - 2
	back := []history.Entry{link("keep/x", "another version, longer"), link("keep/back", "b")}
	if p, err := c.Notify(ctx, back); err != nil || p != applied {
		t.Fatalf("batch from before the progress: %d, %v; want %d, nil", p, err, applied)
	}
	if got := size("keep/x"); got != int64(len("first")) {
		t.Errorf("keep/x has %d bytes after a replayed older index, want %d", got, len("first"))
	}
	absent("keep/back")
	// Overlapping: the part after the progress is applied.
	next = applied - 1
	overlap := []history.Entry{link("keep/x", "changed again, longer still"), link("new/1", "n1"), link("new/2", "n2")}
	if p, err := c.Notify(ctx, overlap); err != nil || p != next {
		t.Fatalf("overlapping batch: %d, %v; want %d, nil", p, err, next)
	}
	eventually(t, "new/2 on b", func() error {
		_, err := os.Lstat(b.path("new/2"))
		return err
	})
	if got := size("keep/x"); got != int64(len("first")) {
		t.Errorf("keep/x has %d bytes, want %d: an entry at the progress was applied again", got, len("first"))
	}

	// Each refusal logged once at Warn, the repeats at Debug.
	log := b.log.String()
	if n := countLines(log, "level=WARN", "refused request", "elsewhere"); n != 1 {
		t.Errorf("unknown arena refused 3 times: %d Warn lines, want 1:\n%s", n, log)
	}
	if n := countLines(log, "level=DEBUG", "refused request", "elsewhere"); n != 2 {
		t.Errorf("unknown arena repeats: %d Debug lines, want 2", n)
	}
}

func countLines(log string, subs ...string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			n++
		}
	}
	return n
}
