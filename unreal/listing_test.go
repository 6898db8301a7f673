package unreal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/realsync/real/history"
)

// The kernel lists a directory with READDIRPLUS, which carries every
// name's attributes, and the Unreal answers those from its listing
// (dirhandle.go). These tests check that a listing never hands the kernel
// attributes older than the cache: a file changed by an Apply shows its new
// size to stat, in the Unreal and in the merged view, whether the change
// came after a whole listing or in the middle of one.

const listingFiles = 1000 // several READDIRPLUS requests (~150 names each)

func listingName(i int) string { return fmt.Sprintf("f%05d.txt", i) }

// linkAll links big/<name(i)> for every i with content, from alice.
func linkAll(t *testing.T, c *Cache, first uint64, content string, mtime time.Time) uint64 {
	t.Helper()
	batch := make([]history.Entry, 0, listingFiles)
	for i := range listingFiles {
		batch = append(batch, link(first+uint64(i), "docs", "big/"+listingName(i), content, mtime))
	}
	mustApply(t, c, "alice", batch...)
	return first + listingFiles
}

// wantSizes fails unless every file of dir has size want (lstat).
func wantSizes(t *testing.T, dir string, want int64) {
	t.Helper()
	for i := range listingFiles {
		p := filepath.Join(dir, listingName(i))
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != want {
			t.Fatalf("%s: size %d after the change, want %d (a stale attribute from the listing)", p, st.Size(), want)
		}
	}
}

func listingViews(t *testing.T) (*Cache, map[string]string) {
	c := newCache(t)
	f := newFetcher()
	linkAll(t, c, 1, "v1", t0)
	lower := mountUnreal(t, c, f)
	o := mountOverlay(t, lower)
	return c, map[string]string{
		"unreal": filepath.Join(lower, "docs", "big"),
		"merged": filepath.Join(o.merged, "docs", "big"),
	}
}

// After `ls -l` of a directory, a change of every file's size is what stat shows.
func TestListingThenChangeShowsNewSize(t *testing.T) {
	c, views := listingViews(t)
	idx, size := uint64(listingFiles+1), len("v1")
	for round, view := range []string{"unreal", "merged"} {
		t.Run(view, func(t *testing.T) {
			dir := views[view]
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != listingFiles {
				t.Fatalf("listed %d names, want %d", len(ents), listingFiles)
			}
			wantSizes(t, dir, int64(size)) // as ls -l: every attribute now cached by the kernel
			size = 10 + round
			idx = linkAll(t, c, idx, strings.Repeat("x", size), t0.Add(time.Duration(idx)*time.Second))
			wantSizes(t, dir, int64(size))
		})
	}
}

// A change in the middle of a listing: the names the kernel reads after it
// carry the new attributes.
func TestListingChangeMidwayShowsNewSize(t *testing.T) {
	c, views := listingViews(t)
	next := uint64(listingFiles + 1)
	for round, view := range []string{"unreal", "merged"} {
		t.Run(view, func(t *testing.T) {
			dir := views[view]
			d, err := os.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			first, err := d.Readdirnames(10) // one READDIRPLUS: the listing is taken
			if err != nil || len(first) != 10 {
				t.Fatalf("first names: %v, %v", first, err)
			}
			content := strings.Repeat("y", 20+round)
			next = linkAll(t, c, next, content, t0.Add(time.Duration(next)*time.Second))
			rest, err := d.Readdirnames(-1)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(first) + len(rest); got != listingFiles {
				t.Fatalf("listed %d names, want %d", got, listingFiles)
			}
			wantSizes(t, dir, int64(len(content)))
		})
	}
}

// rewinddir makes an open directory stream show the directory's current
// state, also when its first pass found it empty (the kernel then asks
// again at offset 0, the offset go-fuse already stands at, so no seek
// reaches the handle).
func TestRewinddirOfEmptyDirShowsNewNames(t *testing.T) {
	c := newCache(t)
	dir := mountUnreal(t, c, newFetcher())
	d, err := os.Open(filepath.Join(dir, "docs"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if names, err := d.Readdirnames(-1); err != nil || len(names) != 0 {
		t.Fatalf("empty arena lists %q, %v", names, err)
	}
	mustApply(t, c, "alice", link(1, "docs", "new.txt", "hello", t0))
	if _, err := d.Seek(0, 0); err != nil { // rewinddir
		t.Fatal(err)
	}
	if names, err := d.Readdirnames(-1); err != nil || strings.Join(names, ",") != "new.txt" {
		t.Fatalf("after rewinddir the arena lists %q, %v; want [new.txt]", names, err)
	}
}
