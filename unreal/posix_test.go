package unreal

import (
	"path/filepath"
	"sort"
	"testing"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/posixtest"
)

// posixTree is what the POSIX suite expects under the arena docs: the
// awkward names, and a directory of largeDirEntries files (read in many
// getdents pages; readdirplus through the overlay).
func posixTree() posixtest.Tree {
	tr := posixtest.SpecialNames()
	for p, c := range posixtest.LargeDir("large", largeDirEntries) {
		tr[p] = c
	}
	return tr
}

// applyTree makes peer report every file of tr under arena docs.
func applyTree(t testing.TB, c *Cache, peer string, tr posixtest.Tree) (*memFetcher, int) {
	t.Helper()
	f := newFetcher()
	ps := make([]string, 0, len(tr))
	for p := range tr {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	var batch []history.Entry
	idx := uint64(0)
	for _, p := range ps {
		f.add(tr[p])
		idx++
		batch = append(batch, history.Entry{Index: idx, Kind: history.Link, Arena: "docs", Path: p, Mtime: t0,
			Size: int64(len(tr[p])), Blob: blob.Of([]byte(tr[p]))})
		if len(batch) == 5000 {
			mustApply(t, c, peer, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		mustApply(t, c, peer, batch...)
	}
	return f, int(idx)
}

func TestPOSIXUnreal(t *testing.T) {
	c := newCache(t)
	tr := posixTree()
	f, _ := applyTree(t, c, "alice", tr)
	dir := mountUnrealOpts(t, c, f, Options{}, nil)
	posixtest.Run(t, filepath.Join(dir, "docs"), tr)
	t.Run("read-only", func(t *testing.T) {
		posixtest.ReadOnly(t, dir, "docs/with space/a file.txt", "docs/with space")
	})
}

func TestPOSIXMergedView(t *testing.T) {
	c := newCache(t)
	tr := posixTree()
	f, _ := applyTree(t, c, "alice", tr)
	o := mountOverlay(t, mountUnrealOpts(t, c, f, Options{}, nil))
	t.Run("lower only", func(t *testing.T) {
		posixtest.RunWith(t, filepath.Join(o.merged, "docs"), tr, overlayQuirks)
	})
	// A local file in some directories makes them merged directories
	// (overlay lists them itself).
	local := posixtest.Tree{"with space/local one.txt": "local", "large/local": "l", "unicode/日本語/local": "l"}
	for p, content := range local {
		writeFile(t, filepath.Join(o.merged, "docs", filepath.FromSlash(p)), content)
		tr[p] = content
	}
	t.Run("merged", func(t *testing.T) {
		posixtest.RunWith(t, filepath.Join(o.merged, "docs"), tr, overlayQuirks)
	})
}

// overlayQuirks: overlayfs without xino gives lower-only directories its
// own st_ino but readdir shows the lower's d_ino (found by this suite on
// Linux 6.18; files agree). The daemon's overlay could mount with xino=on.
var overlayQuirks = posixtest.Options{DirInoMayDiffer: true}
