package index

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/sqlitedb"
)

func openTest(t *testing.T) (*Index, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "real.db")
	db, err := sqlitedb.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ix, err := Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ix, file
}

func TestHistoryIndexesStartAtOneAndSurviveReopen(t *testing.T) {
	ctx := context.Background()
	ix, file := openTest(t)
	if n, err := ix.Last(ctx); err != nil || n != 0 {
		t.Fatalf("Last on empty = %d, %v", n, err)
	}
	ch := ix.Changed()
	mt := time.Unix(1700000000, 123)
	got, err := ix.Commit(ctx, ChangeSet{
		Put: []Row{{Arena: "A", Path: "f", Kind: File, Size: 3, Mtime: mt, Blob: blob.Of([]byte("abc"))}},
		Entries: []history.Entry{
			{Kind: history.Link, Arena: "A", Path: "f", Mtime: mt, Size: 3, Blob: blob.Of([]byte("abc"))},
			{Kind: history.Unlink, Arena: "A", Path: "g", Mtime: mt, PrevBlob: blob.Of([]byte("x"))},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Index != 1 || got[1].Index != 2 {
		t.Fatalf("indexes %d, %d, want 1, 2", got[0].Index, got[1].Index)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Changed channel not closed after an append")
	}
	select {
	case <-ix.Changed():
		t.Fatal("new Changed channel is already closed")
	default:
	}

	// Reopen the same file: history and rows are kept.
	db2, err := sqlitedb.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	ix2, err := Open(ctx, db2, nil)
	if err != nil {
		t.Fatal(err)
	}
	es, err := ix2.Since(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Path != "f" || es[0].Blob != blob.Of([]byte("abc")) || !es[0].Mtime.Equal(mt) ||
		es[1].Kind != history.Unlink || es[1].PrevBlob != blob.Of([]byte("x")) {
		t.Fatalf("Since(0) = %+v", es)
	}
	if es, _ := ix2.Since(ctx, 1, 10); len(es) != 1 || es[0].Index != 2 {
		t.Fatalf("Since(1) = %+v", es)
	}
	if es, _ := ix2.Since(ctx, 0, 1); len(es) != 1 || es[0].Index != 1 {
		t.Fatalf("Since(0, limit 1) = %+v", es)
	}
	r, ok, err := ix2.Get(ctx, "A", "f")
	if err != nil || !ok || r.Size != 3 || !r.Mtime.Equal(mt) || r.Kind != File {
		t.Fatalf("Get = %+v, %v, %v", r, ok, err)
	}
	// Index keeps increasing after reopen.
	got, err = ix2.Commit(ctx, ChangeSet{Entries: []history.Entry{{Kind: history.Unlink, Arena: "A", Path: "f", Mtime: mt}}})
	if err != nil || got[0].Index != 3 {
		t.Fatalf("third entry = %+v, %v", got, err)
	}
}

func TestScanIsTreeOrder(t *testing.T) {
	ctx := context.Background()
	ix, _ := openTest(t)
	paths := []string{"a", "a/b", "a/b/c", "a-c", "a.d", "a0", "b", "a/z", "a/b-", "ab/x"}
	var rows []Row
	for _, p := range paths {
		rows = append(rows, Row{Arena: "A", Path: p, Kind: File})
	}
	rows = append(rows, Row{Arena: "B", Path: "a/q", Kind: File})
	if _, err := ix.Commit(ctx, ChangeSet{Put: rows}); err != nil {
		t.Fatal(err)
	}
	want := append([]string{}, paths...)
	sort.Slice(want, func(i, j int) bool { return Less(want[i], want[j]) })
	got, err := ix.Rows(ctx, "A", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Path != want[i] {
			t.Fatalf("row %d = %q, want %q (all: %v)", i, got[i].Path, want[i], want)
		}
	}
	// A depth-first walk with sorted names visits a, a/b, a/b/c, a/b-, a/z, a-c, ...
	if want[0] != "a" || want[1] != "a/b" || want[2] != "a/b/c" || want[3] != "a/b-" || want[4] != "a/z" || want[5] != "a-c" {
		t.Fatalf("tree order = %v", want)
	}
	sub, err := ix.Rows(ctx, "A", "a/b")
	if err != nil {
		t.Fatal(err)
	}
	if len(sub) != 2 || sub[0].Path != "a/b" || sub[1].Path != "a/b/c" {
		t.Fatalf("subtree a/b = %+v", sub)
	}
	if has, _ := ix.HasRows(ctx, "C"); has {
		t.Fatal("HasRows(C) true")
	}
}

func TestScanManyRowsInChunks(t *testing.T) {
	ctx := context.Background()
	ix, _ := openTest(t)
	var rows []Row
	for i := 0; i < scanChunk*2+7; i++ {
		rows = append(rows, Row{Arena: "A", Path: "d/" + time.Duration(i).String(), Kind: File})
	}
	if _, err := ix.Commit(ctx, ChangeSet{Put: rows}); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := ix.Scan(ctx, "A", "d", func(r Row) error {
		n++
		// Deleting rows already passed must not disturb the scan.
		_, err := ix.Commit(ctx, ChangeSet{Delete: []Row{r}})
		return err
	})
	if err != nil || n != len(rows) {
		t.Fatalf("scanned %d of %d rows: %v", n, len(rows), err)
	}
	if c, _ := ix.Count(ctx); c != 0 {
		t.Fatalf("%d rows left", c)
	}
}

func TestCommitRefusesBadPathAndKeepsNothing(t *testing.T) {
	ctx := context.Background()
	ix, _ := openTest(t)
	_, err := ix.Commit(ctx, ChangeSet{
		Put:     []Row{{Arena: "A", Path: "ok", Kind: File}, {Arena: "A", Path: "../x", Kind: File}},
		Entries: []history.Entry{{Kind: history.Link, Arena: "A", Path: "ok"}},
	})
	if !errors.Is(err, ErrBadChange) {
		t.Fatalf("err = %v, want ErrBadChange", err)
	}
	if n, _ := ix.Last(ctx); n != 0 {
		t.Fatal("history appended despite the error")
	}
	if c, _ := ix.Count(ctx); c != 0 {
		t.Fatal("row stored despite the error")
	}
}

func TestAcked(t *testing.T) {
	ctx := context.Background()
	ix, _ := openTest(t)
	if n, err := ix.Acked(ctx, "bob"); err != nil || n != 0 {
		t.Fatalf("Acked(bob) = %d, %v", n, err)
	}
	if err := ix.SetAcked(ctx, "bob", 7); err != nil {
		t.Fatal(err)
	}
	if err := ix.SetAcked(ctx, "carol", 2); err != nil {
		t.Fatal(err)
	}
	if n, _ := ix.Acked(ctx, "bob"); n != 7 {
		t.Fatalf("Acked(bob) = %d", n)
	}
	if err := ix.SetAcked(ctx, "bob", 3); err != nil {
		t.Fatal(err)
	}
	if n, _ := ix.Acked(ctx, "bob"); n != 3 {
		t.Fatalf("Acked(bob) after reset = %d", n)
	}
}

func FuzzCompareMatchesKey(f *testing.F) {
	f.Add("a/b", "a-b")
	f.Add("a", "a/b")
	f.Fuzz(func(t *testing.T, a, b string) {
		c := Compare(a, b)
		k := string(Key(a))
		l := string(Key(b))
		want := 0
		if k < l {
			want = -1
		} else if k > l {
			want = 1
		}
		// Paths never contain NUL; only then do the two orders agree.
		for _, s := range []string{a, b} {
			for i := 0; i < len(s); i++ {
				if s[i] == 0 {
					return
				}
			}
		}
		if c != want {
			t.Fatalf("Compare(%q, %q) = %d, key order %d", a, b, c, want)
		}
	})
}
