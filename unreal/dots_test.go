package unreal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// dent is one getdents64 record.
type dent struct {
	ino  uint64
	off  int64
	typ  uint8
	name string
}

// listDents lists dir as ls -a does (getdents64), with calls of bufSize
// bytes; a small bufSize pages the listing through many calls.
func listDents(t *testing.T, dir string, bufSize int) []dent {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, bufSize)
	var out []dent
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			t.Fatalf("getdents %s: %v", dir, err)
		}
		if n == 0 {
			return out
		}
		for b := buf[:n]; len(b) > 0; {
			reclen := int(binary.LittleEndian.Uint16(b[16:18]))
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			out = append(out, dent{ino: binary.LittleEndian.Uint64(b[0:8]), off: int64(binary.LittleEndian.Uint64(b[8:16])),
				typ: b[18], name: string(name)})
			b = b[reclen:]
		}
	}
}

func inoOf(t *testing.T, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// checkDots checks that the listing of dir has "." and ".." once each, as
// directories, with the inodes of dir and parent (when the ino is checked),
// and the names in want once each.
func checkDots(t *testing.T, dir, parent string, ents []dent, want []string, checkIno bool) {
	t.Helper()
	seen := map[string]int{}
	for _, e := range ents {
		seen[e.name]++
		switch e.name {
		case ".", "..":
			if e.typ != unix.DT_DIR {
				t.Errorf("%s: %q has d_type %d, want DT_DIR", dir, e.name, e.typ)
			}
			p := dir
			if e.name == ".." {
				p = parent
			}
			if ino := inoOf(t, p); checkIno && e.ino != ino {
				t.Errorf("%s: %q has d_ino %d, want %d (st_ino of %s)", dir, e.name, e.ino, ino, p)
			}
		}
	}
	for _, n := range append([]string{".", ".."}, want...) {
		if seen[n] != 1 {
			t.Errorf("%s: %q listed %d times, want once (listing %d names)", dir, n, seen[n], len(ents))
		}
	}
	if len(ents) != len(want)+2 {
		t.Errorf("%s: %d names listed, want %d", dir, len(ents), len(want)+2)
	}
}

// A listing of the Unreal shows "." and ".." (as ls -a does), with the
// directory's own inode and its parent's (the root's ".." is the root),
// once each also when the listing is paged by small getdents buffers, and
// through the merged view in a lower-only directory (overlayfs passes its
// listing through). Before, the Unreal listed neither, and `ls -a` in a
// remote-only directory of the merged view showed no "." and "..".
func TestListingHasDotEntries(t *testing.T) {
	c := newCache(t)
	var names []string
	for i := range 40 {
		name := fmt.Sprintf("file %02d.txt", i)
		names = append(names, name)
		mustApply(t, c, "alice", link(uint64(i+1), "docs", "remote/"+name, "x", t0))
	}
	dir := mountUnreal(t, c, newFetcher("x"))
	root, docs, remote := dir, filepath.Join(dir, "docs"), filepath.Join(dir, "docs", "remote")
	if inoOf(t, root) != 1 {
		t.Fatalf("root st_ino %d, want 1", inoOf(t, root))
	}
	for _, bufSize := range []int{1 << 16, 64} {
		t.Run(fmt.Sprintf("buffer %d", bufSize), func(t *testing.T) {
			checkDots(t, root, root, listDents(t, root, bufSize), []string{"docs", "media"}, true)
			checkDots(t, docs, root, listDents(t, docs, bufSize), []string{"remote"}, true)
			checkDots(t, remote, docs, listDents(t, remote, bufSize), names, true)
			photos := filepath.Join(dir, "media", "photos") // an arena without files
			checkDots(t, photos, filepath.Join(dir, "media"), listDents(t, photos, bufSize), nil, true)
		})
	}
	// Lookups of "." and ".." go on answering the directory and its parent.
	if inoOf(t, filepath.Join(remote, ".")) != inoOf(t, remote) || inoOf(t, filepath.Join(remote, "..")) != inoOf(t, docs) ||
		inoOf(t, filepath.Join(root, "..")) != inoOf(t, filepath.Dir(root)) {
		t.Fatal(`stat of "." or ".." does not answer the directory or its parent`)
	}
	// Seek to an offset telldir gave, after the dots: the rest follows,
	// each name once.
	fd, err := unix.Open(remote, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	all := listDents(t, remote, 1<<16)
	if _, err := unix.Seek(fd, all[1].off, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<16)
	n, err := unix.Getdents(fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	var rest []string
	for b := buf[:n]; len(b) > 0; b = b[binary.LittleEndian.Uint16(b[16:18]):] {
		rest = append(rest, string(bytes.TrimRight(b[19:binary.LittleEndian.Uint16(b[16:18])], "\x00")))
	}
	if len(rest) != len(all)-2 {
		t.Fatalf("getdents after a seek to the offset of the second entry: %d names, want %d", len(rest), len(all)-2)
	}
	for i, name := range rest {
		if name != all[i+2].name {
			t.Fatalf("getdents after a seek to the offset of the second entry: name %d is %q, want %q", i, name, all[i+2].name)
		}
	}

	o := mountOverlay(t, dir)
	if err := os.WriteFile(filepath.Join(o.merged, "docs", "local.txt"), []byte("local"), 0o644); err != nil {
		t.Fatal(err)
	}
	mdocs, mremote := filepath.Join(o.merged, "docs"), filepath.Join(o.merged, "docs", "remote")
	// Through the overlay without xino, the d_ino of a lower-only dir's
	// entries may differ from its st_ino (see posixtest.Options.DirInoMayDiffer):
	// the names are what ls -a shows.
	checkDots(t, mremote, mdocs, listDents(t, mremote, 1<<16), names, false)
	checkDots(t, mremote, mdocs, listDents(t, mremote, 64), names, false)
	checkDots(t, mdocs, o.merged, listDents(t, mdocs, 1<<16), []string{"remote", "local.txt"}, false)
}
