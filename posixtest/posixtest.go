// Package posixtest is a reusable POSIX-behaviour suite for read-only
// views of a file tree: a FUSE mount, an overlay's merged view, a plain
// directory. Each exported Test function takes the root of the view and the
// tree it must show, and checks what a user's tools rely on:
//
//   - Content: every file has the expected bytes and size, every directory
//     exactly the expected names (names with spaces, unicode, newlines,
//     255 bytes, deep paths: whatever the tree holds);
//   - StatConsistency: lstat, fstat of an open descriptor, and the d_ino /
//     d_type readdir reports agree for every entry;
//   - ReaddirOffsets: getdents in small pieces lists every name once, and
//     every d_off is a valid position to come back to (seekdir): listing
//     from there continues with the entry that followed it;
//   - ReadOnly (only for views that are read-only): every write is EROFS.
//
// Run runs all but ReadOnly as subtests. SpecialNames and LargeDir build
// trees with the awkward cases to feed the view under test.
package posixtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Tree is the expected content of a view: file path (relative, '/'-separated)
// to its bytes. Directories are implied by the paths; every directory on
// the way must list exactly the names the tree implies.
type Tree map[string]string

// dirs returns every directory of the tree ("" = the root) with its names.
func (tr Tree) dirs() map[string]map[string]bool {
	out := map[string]map[string]bool{"": {}}
	for p := range tr {
		for {
			dir, name := "", p
			if i := strings.LastIndexByte(p, '/'); i >= 0 {
				dir, name = p[:i], p[i+1:]
			}
			if out[dir] == nil {
				out[dir] = map[string]bool{}
			}
			out[dir][name] = true
			if dir == "" {
				break
			}
			p = dir
		}
	}
	return out
}

// Under returns the part of tr below dir, with paths relative to dir.
func (tr Tree) Under(dir string) Tree {
	out := Tree{}
	for p, c := range tr {
		if rel, ok := strings.CutPrefix(p, dir+"/"); ok {
			out[rel] = c
		}
	}
	return out
}

// Prefix returns tr with every path under dir.
func (tr Tree) Prefix(dir string) Tree {
	out := Tree{}
	for p, c := range tr {
		out[dir+"/"+p] = c
	}
	return out
}

// SpecialNames returns a tree of awkward names: spaces, unicode (NFC and
// NFD forms of the same word), a newline, a tab, a leading dash and dot,
// names of exactly 255 bytes (ASCII and multi-byte), and a deep path.
func SpecialNames() Tree {
	long := strings.Repeat("x", 251) + ".txt"
	multi := strings.Repeat("é", 127) + "x" // 127*2+1 = 255 bytes
	deep := strings.Repeat("deep/", 40) + "bottom.txt"
	return Tree{
		"with space/a file.txt":           "spaces",
		"unicode/caf\u00e9.txt":           "nfc",
		"unicode/cafe\u0301.txt":          "nfd",
		"unicode/日本語/ファイル":                "cjk",
		"unicode/emoji 🎉.txt":             "emoji",
		"odd/new\nline":                   "newline",
		"odd/tab\there":                   "tab",
		"odd/-dash":                       "dash",
		"odd/.hidden":                     "dot",
		"odd/trailing space ":             "trailing",
		"long/" + long:                    "255 ascii",
		"long/" + multi:                   "255 multi-byte",
		"long/" + long[:200] + "/" + long: "long dir and name",
		deep:                              "deep",
		"empty":                           "",
	}
}

// LargeDir returns a tree with n files in directory dir, of small distinct contents.
func LargeDir(dir string, n int) Tree {
	out := Tree{}
	for i := range n {
		out[fmt.Sprintf("%s/entry-%07d", dir, i)] = fmt.Sprint(i)
	}
	return out
}

// Options relax checks for views known to differ from POSIX on a point.
type Options struct {
	// DirInoMayDiffer: readdir's d_ino of a directory need not be its
	// st_ino. Overlayfs without xino reports the lower directory's number
	// in readdir of a lower-only directory but its own in stat.
	DirInoMayDiffer bool
}

// Run runs Content, StatConsistency and ReaddirOffsets as subtests.
func Run(t *testing.T, root string, want Tree) { RunWith(t, root, want, Options{}) }

// RunWith is Run with options.
func RunWith(t *testing.T, root string, want Tree, o Options) {
	t.Run("content", func(t *testing.T) { Content(t, root, want) })
	t.Run("stat consistency", func(t *testing.T) { StatConsistencyWith(t, root, want, o) })
	t.Run("readdir offsets", func(t *testing.T) { ReaddirOffsets(t, root, want) })
}

func full(root, rel string) string {
	if rel == "" {
		return root
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

// Content checks that every file reads as its bytes with its size, and
// every directory lists exactly its names.
func Content(t *testing.T, root string, want Tree) {
	t.Helper()
	for p, c := range want {
		f := full(root, p)
		st, err := os.Lstat(f)
		if err != nil {
			t.Errorf("lstat %q: %v", p, err)
			continue
		}
		if !st.Mode().IsRegular() || st.Size() != int64(len(c)) {
			t.Errorf("%q: mode %v size %d, want a regular file of %d bytes", p, st.Mode(), st.Size(), len(c))
			continue
		}
		if b, err := os.ReadFile(f); err != nil || !bytes.Equal(b, []byte(c)) {
			t.Errorf("read %q: %d bytes, %v; want its %d bytes", p, len(b), err, len(c))
		}
	}
	for d, names := range want.dirs() {
		got, err := readdirNames(full(root, d))
		if err != nil {
			t.Errorf("list %q: %v", d, err)
			continue
		}
		if diff := compareNames(got, names); diff != "" {
			t.Errorf("directory %q: %s", d, diff)
		}
	}
}

func compareNames(got []string, want map[string]bool) string {
	seen := map[string]int{}
	for _, n := range got {
		seen[n]++
	}
	var msgs []string
	for n, k := range seen {
		switch {
		case n == "." || n == "..":
			if k != 1 {
				msgs = append(msgs, fmt.Sprintf("%q listed %d times", n, k))
			}
		case !want[n]:
			msgs = append(msgs, fmt.Sprintf("unexpected %q", n))
		case k > 1:
			msgs = append(msgs, fmt.Sprintf("%q listed %d times", n, k))
		}
	}
	for n := range want {
		if seen[n] == 0 {
			msgs = append(msgs, fmt.Sprintf("missing %q", n))
		}
	}
	sort.Strings(msgs)
	if len(msgs) > 5 {
		msgs = append(msgs[:5], fmt.Sprintf("and %d more", len(msgs)-5))
	}
	return strings.Join(msgs, "; ")
}

// dirent is one record of getdents64.
type dirent struct {
	ino  uint64
	off  int64
	typ  uint8
	name string
}

// getdents reads the records of one getdents64 call into buf.
func getdents(fd int, buf []byte) ([]dirent, error) {
	n, err := unix.Getdents(fd, buf)
	if err != nil {
		return nil, err
	}
	var out []dirent
	for b := buf[:n]; len(b) > 0; {
		if len(b) < 19 {
			return nil, fmt.Errorf("getdents: truncated record of %d bytes", len(b))
		}
		reclen := int(b[16]) | int(b[17])<<8
		if reclen < 19 || reclen > len(b) {
			return nil, fmt.Errorf("getdents: bad record length %d", reclen)
		}
		name := b[19:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		out = append(out, dirent{
			ino:  le64(b[0:8]),
			off:  int64(le64(b[8:16])),
			typ:  b[18],
			name: string(name),
		})
		b = b[reclen:]
	}
	return out, nil
}

func le64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// readAllDirents lists dir with getdents calls of bufSize bytes.
func readAllDirents(dir string, bufSize int) ([]dirent, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, bufSize)
	var out []dirent
	for {
		ents, err := getdents(fd, buf)
		if err != nil {
			return nil, err
		}
		if len(ents) == 0 {
			return out, nil
		}
		out = append(out, ents...)
	}
}

func readdirNames(dir string) ([]string, error) {
	ents, err := readAllDirents(dir, 1<<16)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = e.name
	}
	return out, nil
}

// StatConsistency checks, for every entry of every directory, that lstat,
// fstat of an open descriptor and the directory's d_ino and d_type agree.
func StatConsistency(t *testing.T, root string, want Tree) {
	t.Helper()
	StatConsistencyWith(t, root, want, Options{})
}

// StatConsistencyWith is StatConsistency with options.
func StatConsistencyWith(t *testing.T, root string, want Tree, o Options) {
	t.Helper()
	for d := range want.dirs() {
		ents, err := readAllDirents(full(root, d), 1<<16)
		if err != nil {
			t.Errorf("list %q: %v", d, err)
			continue
		}
		for _, e := range ents {
			if e.name == "." || e.name == ".." {
				continue
			}
			rel := strings.TrimPrefix(d+"/"+e.name, "/")
			if err := statAgree(full(root, rel), e, o); err != nil {
				t.Errorf("%q: %v", rel, err)
			}
		}
	}
}

func statAgree(p string, e dirent, o Options) error {
	var l, f unix.Stat_t
	if err := unix.Lstat(p, &l); err != nil {
		return fmt.Errorf("lstat: %w", err)
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &f); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if l.Ino != f.Ino || l.Dev != f.Dev || l.Mode != f.Mode || l.Size != f.Size || l.Mtim != f.Mtim || l.Nlink != f.Nlink {
		return fmt.Errorf("lstat (ino %d dev %d mode %o size %d mtime %v nlink %d) and fstat (ino %d dev %d mode %o size %d mtime %v nlink %d) differ",
			l.Ino, l.Dev, l.Mode, l.Size, l.Mtim, l.Nlink, f.Ino, f.Dev, f.Mode, f.Size, f.Mtim, f.Nlink)
	}
	if e.ino != l.Ino && !(o.DirInoMayDiffer && l.Mode&unix.S_IFMT == unix.S_IFDIR) {
		return fmt.Errorf("readdir d_ino %d, stat st_ino %d", e.ino, l.Ino)
	}
	if e.typ != unix.DT_UNKNOWN && uint32(e.typ)<<12 != l.Mode&unix.S_IFMT {
		return fmt.Errorf("readdir d_type %d, stat mode %o", e.typ, l.Mode)
	}
	return nil
}

// ReaddirOffsets checks, for every directory, that getdents with a small
// buffer (one or a few entries a call) lists every name exactly once, and
// that seeking to any d_off it returned continues the listing with the
// entry that came after it, and seeking to 0 starts again.
func ReaddirOffsets(t *testing.T, root string, want Tree) {
	t.Helper()
	for d, names := range want.dirs() {
		dir := full(root, d)
		ents, err := readAllDirents(dir, 512)
		if err != nil {
			t.Errorf("list %q in small pieces: %v", d, err)
			continue
		}
		got := make([]string, len(ents))
		for i, e := range ents {
			got[i] = e.name
		}
		if diff := compareNames(got, names); diff != "" {
			t.Errorf("directory %q listed in small pieces: %s", d, diff)
			continue
		}
		if err := seekCheck(dir, ents); err != nil {
			t.Errorf("directory %q: %v", d, err)
		}
	}
}

// seekCheck seeks to a sample of the offsets of ents (all of them for a
// small directory) and checks what follows.
func seekCheck(dir string, ents []dirent) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	step := max(1, len(ents)/64)
	check := func(off int64, want []dirent) error {
		if _, err := unix.Seek(fd, off, 0); err != nil {
			return fmt.Errorf("seekdir to %d: %w", off, err)
		}
		got, err := getdents(fd, buf)
		if err != nil {
			return fmt.Errorf("getdents after seekdir to %d: %w", off, err)
		}
		if len(want) == 0 {
			if len(got) != 0 {
				return fmt.Errorf("after seekdir to the end (%d): %q, want nothing", off, got[0].name)
			}
			return nil
		}
		if len(got) == 0 || got[0].name != want[0].name {
			var name string
			if len(got) > 0 {
				name = got[0].name
			}
			return fmt.Errorf("after seekdir to %d: %q, want %q", off, name, want[0].name)
		}
		return nil
	}
	for i := len(ents) - 1; i >= 0; i -= step { // backwards: every seek is a real jump
		if err := check(ents[i].off, ents[i+1:]); err != nil {
			return err
		}
	}
	if err := check(0, ents); err != nil {
		return fmt.Errorf("rewind: %w", err)
	}
	return nil
}

// ReadOnly checks that writes in the view fail with EROFS: creating,
// writing, truncating, removing, renaming files and directories, changing
// modes, owners, times and extended attributes. file and dir are an
// existing file and directory of the view, relative to root.
func ReadOnly(t *testing.T, root, file, dir string) {
	t.Helper()
	f, d := full(root, file), full(root, dir)
	for name, op := range map[string]func() error{
		"create":   func() error { return os.WriteFile(filepath.Join(d, "posixtest-new"), nil, 0o644) },
		"open rw":  func() error { return openClose(f, os.O_RDWR) },
		"open w":   func() error { return openClose(f, os.O_WRONLY|os.O_APPEND) },
		"truncate": func() error { return os.Truncate(f, 0) },
		"mkdir":    func() error { return os.Mkdir(filepath.Join(d, "posixtest-dir"), 0o755) },
		"unlink":   func() error { return os.Remove(f) },
		"rmdir":    func() error { return unix.Rmdir(d) },
		"rename":   func() error { return os.Rename(f, filepath.Join(d, "posixtest-renamed")) },
		"chmod":    func() error { return os.Chmod(f, 0o600) },
		"chown":    func() error { return os.Chown(f, 1, 1) },
		"utimes":   func() error { return unix.UtimesNano(f, []unix.Timespec{{}, {}}) },
		"symlink":  func() error { return os.Symlink("x", filepath.Join(d, "posixtest-link")) },
		"link":     func() error { return os.Link(f, filepath.Join(d, "posixtest-hard")) },
		"mknod":    func() error { return unix.Mknod(filepath.Join(d, "posixtest-fifo"), unix.S_IFIFO|0o644, 0) },
		"setxattr": func() error { return unix.Setxattr(f, "user.posixtest", []byte("x"), 0) },
		"rmxattr":  func() error { return unix.Removexattr(f, "user.posixtest") },
	} {
		if err := op(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", name, err)
		}
	}
}

func openClose(p string, flag int) error {
	f, err := os.OpenFile(p, flag, 0)
	if err == nil {
		f.Close()
	}
	return err
}
