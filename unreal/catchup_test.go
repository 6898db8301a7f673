package unreal

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realsync/real/history"
)

func paths(t *testing.T, c *Cache, arena string) []string {
	t.Helper()
	var out []string
	for p := range walk(t, c, arena, "") {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func TestCatchUpReplacesPeerEntries(t *testing.T) {
	c := newCache(t)
	ctx := context.Background()
	mustApply(t, c, "alice",
		link(1, "docs", "a.txt", "a", t0),
		link(2, "docs", "b.txt", "b", t0.Add(time.Hour)),
		link(3, "docs", "old/c.txt", "c", t0),
		link(4, "docs", "shared.txt", "s", t0))
	mustApply(t, c, "bob", link(1, "docs", "shared.txt", "s", t0))

	if err := c.BeginCatchUp(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	// alice lost her history: her full report, in two batches. b.txt is
	// reported with an OLDER mtime (restored from a backup): the report is
	// her present state and replaces the stored entry anyway.
	for _, batch := range [][]history.Entry{
		{link(0, "docs", "a.txt", "a", t0), link(0, "docs", "b.txt", "b restored", t0)},
		{link(0, "docs", "new/d.txt", "d", t0)},
	} {
		if err := c.CatchUpReport(ctx, "alice", batch); err != nil {
			t.Fatal(err)
		}
		// Readers see the old state until the end.
		if got := paths(t, c, "docs"); strings.Join(got, " ") != "a.txt b.txt old/c.txt shared.txt" {
			t.Fatalf("during the catch-up: %v", got)
		}
	}
	res, err := c.EndCatchUp(ctx, "alice", 7)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 1 || res.Changed != 1 || res.Removed != 2 {
		t.Fatalf("result %+v, want 1 added (new/d.txt), 1 changed (b.txt), 2 removed (old/c.txt, shared.txt)", res)
	}
	var changes []string
	for _, e := range res.Changes {
		changes = append(changes, e.Kind.String()+" "+e.Path)
	}
	slices.Sort(changes)
	if want := "link b.txt link new/d.txt unlink old/c.txt unlink shared.txt"; strings.ToLower(strings.Join(changes, " ")) != want {
		t.Fatalf("changes %v, want %s", changes, want)
	}
	// shared.txt stays: bob still has it.
	if got := paths(t, c, "docs"); strings.Join(got, " ") != "a.txt b.txt new/d.txt shared.txt" {
		t.Fatalf("after the catch-up: %v", got)
	}
	if e, _ := lookup(t, c, "docs", "b.txt"); e.Size != int64(len("b restored")) || !e.Mtime.Equal(t0) {
		t.Fatalf("b.txt after catch-up: %+v, want the reported version", e)
	}
	if e, _ := lookup(t, c, "docs", "shared.txt"); e.Peer != "bob" {
		t.Fatalf("shared.txt served by %s, want bob", e.Peer)
	}
	// The implied directory of the removed file went.
	if _, _, err := c.dirInfo(ctx, "docs/old"); !errors.Is(err, errNotFound) {
		t.Fatalf("docs/old after its only file was swept: %v", err)
	}
	// Progress is the report's, even lower than before, and Apply resumes after it.
	if p, _ := c.Progress(ctx, "alice"); p != 7 {
		t.Fatalf("progress %d, want 7", p)
	}
	mustApply(t, c, "alice", link(8, "docs", "e.txt", "e", t0))
	if _, ok := lookup(t, c, "docs", "e.txt"); !ok {
		t.Fatal("Apply after the catch-up was skipped")
	}
	if ok, _ := c.CatchingUp(ctx, "alice"); ok {
		t.Fatal("still catching up after EndCatchUp")
	}
}

func TestCatchUpNeedsBegin(t *testing.T) {
	c := newCache(t)
	ctx := context.Background()
	if err := c.CatchUpReport(ctx, "alice", []history.Entry{link(0, "docs", "a", "a", t0)}); !errors.Is(err, ErrNoCatchUp) {
		t.Fatalf("report without begin: %v, want ErrNoCatchUp", err)
	}
	if _, err := c.EndCatchUp(ctx, "alice", 1); !errors.Is(err, ErrNoCatchUp) {
		t.Fatalf("end without begin: %v, want ErrNoCatchUp", err)
	}
	if err := c.BeginCatchUp(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	bad := []history.Entry{link(0, "docs", "ok", "x", t0), link(0, "nope", "a", "x", t0)}
	if err := c.CatchUpReport(ctx, "alice", bad); !errors.Is(err, ErrUnknownArena) {
		t.Fatalf("report naming an unknown arena: %v, want ErrUnknownArena", err)
	}
	if _, err := c.EndCatchUp(ctx, "alice", 1); err != nil {
		t.Fatal(err)
	}
	if got := paths(t, c, "docs"); len(got) != 0 {
		t.Fatalf("a rejected report batch was staged: %v", got)
	}
}

func TestCatchUpInterruptedStartsAgain(t *testing.T) {
	file := filepath.Join(t.TempDir(), "real.db")
	ctx := context.Background()
	c := openDB(t, file)
	mustApply(t, c, "alice", link(1, "docs", "keep.txt", "k", t0))
	if err := c.BeginCatchUp(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := c.CatchUpReport(ctx, "alice", []history.Entry{link(0, "docs", "half.txt", "h", t0)}); err != nil {
		t.Fatal(err)
	}
	// The daemon stops mid-report; on the next start the old state is
	// intact and the catch-up is known to be unfinished.
	c2 := openDB(t, file)
	if got := paths(t, c2, "docs"); strings.Join(got, " ") != "keep.txt" {
		t.Fatalf("after an interrupted catch-up: %v", got)
	}
	if ok, err := c2.CatchingUp(ctx, "alice"); err != nil || !ok {
		t.Fatalf("CatchingUp = %v, %v; want true", ok, err)
	}
	// Starting again discards the half report.
	res, err := c2.Replace(ctx, "alice", []history.Entry{link(0, "docs", "keep.txt", "k", t0)}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added+res.Changed+res.Removed != 0 || len(res.Changes) != 0 {
		t.Fatalf("result %+v, want nothing changed", res)
	}
	if got := paths(t, c2, "docs"); strings.Join(got, " ") != "keep.txt" {
		t.Fatalf("after the new catch-up: %v", got)
	}
}

// Readers running during EndCatchUp see the whole old state or the whole
// new one, never a mix.
func TestCatchUpReadersNeverSeeHalfState(t *testing.T) {
	c := newCache(t)
	ctx := context.Background()
	const n = 500
	var old, report []history.Entry
	for i := range n {
		old = append(old, link(uint64(i+1), "docs", fmt.Sprintf("old/%04d", i), "o", t0))
		report = append(report, link(0, "docs", fmt.Sprintf("new/%04d", i), "n", t0))
	}
	mustApply(t, c, "alice", old...)
	if err := c.BeginCatchUp(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := c.CatchUpReport(ctx, "alice", report); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	views := map[string]int{}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				counts := map[string]int{}
				err := c.Walk(ctx, "docs", "", func(p string, e Entry) error {
					counts[strings.Split(p, "/")[0]]++
					return nil
				})
				mu.Lock()
				switch {
				case err != nil:
					bad = append(bad, err.Error())
				case counts["old"] == n && counts["new"] == 0:
					views["old"]++
				case counts["new"] == n && counts["old"] == 0:
					views["new"]++
				default:
					bad = append(bad, fmt.Sprint(counts))
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(20 * time.Millisecond) // let the readers see the old state first
	if _, err := c.EndCatchUp(ctx, "alice", n); err != nil {
		t.Fatal(err)
	}
	// Wait until a reader saw the new state.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		seen := views["new"]
		mu.Unlock()
		if seen > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("readers saw %d half states, e.g. %s", len(bad), bad[0])
	}
	if views["new"] == 0 {
		t.Fatal("no reader saw the new state")
	}
}

func TestRemovedArenaEntriesGo(t *testing.T) {
	file := filepath.Join(t.TempDir(), "real.db")
	ctx := context.Background()
	c := openCacheAt(t, file, []string{"docs", "media/photos"})
	mustApply(t, c, "alice", link(1, "docs", "a.txt", "a", t0), link(2, "media/photos", "2024/p.jpg", "p", t0))
	_, ino, err := c.fileInfo(ctx, "docs/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	rootBefore, _, _ := c.dirInfo(ctx, "")

	c = openCacheAt(t, file, []string{"docs"})
	if got := names(t, c, ""); strings.Join(got, " ") != "docs" {
		t.Fatalf("root lists %v, want only docs", got)
	}
	if rootAfter, _, _ := c.dirInfo(ctx, ""); !rootAfter.After(rootBefore) {
		t.Fatalf("root mtime %v did not move after an arena went (was %v)", rootAfter, rootBefore)
	}
	var rows int
	if err := c.db.QueryRow(`SELECT count(*) FROM unreal_entries WHERE arena = 'media/photos'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d rows of the removed arena left, %v", rows, err)
	}
	if err := c.db.QueryRow(`SELECT count(*) FROM unreal_dirs WHERE path LIKE 'media%'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d directories of the removed arena left, %v", rows, err)
	}
	// Configured again, it is empty (its peers report it anew); other
	// files keep their inode numbers.
	c = openCacheAt(t, file, []string{"docs", "media/photos"})
	if got := paths(t, c, "media/photos"); len(got) != 0 {
		t.Fatalf("re-added arena shows %v, want nothing", got)
	}
	if _, again, err := c.fileInfo(ctx, "docs/a.txt"); err != nil || again != ino {
		t.Fatalf("docs/a.txt inode %d, %v; was %d", again, err, ino)
	}
}

func names(t *testing.T, c *Cache, dir string) []string {
	t.Helper()
	ents, err := c.list(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.name)
	}
	return out
}

func TestDirMtimeMovesOnEveryListingChange(t *testing.T) {
	c := newCache(t)
	ctx := context.Background()
	mustApply(t, c, "alice", link(1, "docs", "d/a.txt", "a", t0))
	mt0, ino, err := c.dirInfo(ctx, "docs/d")
	if err != nil {
		t.Fatal(err)
	}
	prev := mt0
	step := func(what string, e history.Entry) {
		t.Helper()
		mustApply(t, c, "alice", e)
		mt, n, err := c.dirInfo(ctx, "docs/d")
		if err != nil {
			t.Fatal(err)
		}
		if !mt.After(prev) {
			t.Fatalf("%s: docs/d mtime %v, not after %v", what, mt, prev)
		}
		if n != ino {
			t.Fatalf("%s: docs/d inode %d, was %d", what, n, ino)
		}
		prev = mt
	}
	// Files with old mtimes still move the directory's mtime.
	step("add a file from 2001", link(2, "docs", "d/b.txt", "b", time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)))
	step("remove it", unlink(3, "docs", "d/b.txt", time.Date(2001, 1, 2, 0, 0, 0, 0, time.UTC)))
	step("add a subdirectory", link(4, "docs", "d/sub/c.txt", "c", t0))
	// A changed file does not change the listing.
	mustApply(t, c, "alice", link(5, "docs", "d/a.txt", "a2", t0.Add(time.Hour)))
	if mt, _, _ := c.dirInfo(ctx, "docs/d"); !mt.Equal(prev) {
		t.Fatalf("a content change moved the directory mtime: %v -> %v", prev, mt)
	}
}
