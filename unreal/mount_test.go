package unreal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"golang.org/x/sys/unix"
)

func readDirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestMountShowsFiles(t *testing.T) {
	c := newCache(t)
	f := newFetcher("hello, world", "pic")
	mustApply(t, c, "alice", link(1, "docs", "notes/hello.txt", "hello, world", t0))
	mustApply(t, c, "bob", link(1, "docs", "notes/hello.txt", "hello, world", t0), link(2, "media/photos", "p.jpg", "pic", t0))
	dir := mountUnreal(t, c, f)

	if got := readDirNames(t, dir); !reflect.DeepEqual(got, []string{"docs", "media"}) {
		t.Fatalf("root: %v", got)
	}
	if got := readDirNames(t, filepath.Join(dir, "media")); !reflect.DeepEqual(got, []string{"photos"}) {
		t.Fatalf("media: %v", got)
	}
	st, err := os.Stat(filepath.Join(dir, "docs", "notes"))
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o755 {
		t.Fatalf("docs/notes: %v %v", st, err)
	}
	p := filepath.Join(dir, "docs", "notes", "hello.txt")
	st, err = os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 12 || st.Mode() != 0o644 || !st.ModTime().Equal(t0) {
		t.Fatalf("hello.txt: size %d mode %v mtime %v", st.Size(), st.Mode(), st.ModTime())
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "hello, world" {
		t.Fatalf("read %q, %v", b, err)
	}
	// Read-only xattrs: the blob and the peers that hold it.
	buf := make([]byte, 256)
	n, err := unix.Getxattr(p, "user.real.blob", buf)
	if err != nil || string(buf[:n]) != blob.Of([]byte("hello, world")).String() {
		t.Fatalf("user.real.blob = %q, %v", buf[:n], err)
	}
	n, err = unix.Getxattr(p, "user.real.peers", buf)
	if err != nil || string(buf[:n]) != "alice,bob" {
		t.Fatalf("user.real.peers = %q, %v", buf[:n], err)
	}
	n, err = unix.Listxattr(p, buf)
	if err != nil || string(buf[:n]) != "user.real.blob\x00user.real.peers\x00" {
		t.Fatalf("listxattr = %q, %v", buf[:n], err)
	}
	if _, err := unix.Getxattr(p, "user.other", buf); !errors.Is(err, unix.ENODATA) {
		t.Fatalf("getxattr of an unknown name: %v, want ENODATA", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "docs", "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat of a missing file: %v", err)
	}
}

func TestMountIsReadOnly(t *testing.T) {
	c := newCache(t)
	mustApply(t, c, "alice", link(1, "docs", "a.txt", "a", t0))
	dir := mountUnreal(t, c, newFetcher("a"))
	a := filepath.Join(dir, "docs", "a.txt")
	for name, op := range map[string]func() error{
		"create":    func() error { return os.WriteFile(filepath.Join(dir, "docs", "new"), nil, 0o644) },
		"open rw":   func() error { f, err := os.OpenFile(a, os.O_RDWR, 0); f.Close(); return err },
		"open w":    func() error { f, err := os.OpenFile(a, os.O_WRONLY|os.O_APPEND, 0); f.Close(); return err },
		"chown":     func() error { return os.Chown(a, 1, 1) },
		"truncate":  func() error { return os.Truncate(a, 0) },
		"mkdir":     func() error { return os.Mkdir(filepath.Join(dir, "docs", "d"), 0o755) },
		"unlink":    func() error { return os.Remove(a) },
		"rmdir":     func() error { return os.Remove(filepath.Join(dir, "docs")) },
		"rename":    func() error { return os.Rename(a, filepath.Join(dir, "docs", "b.txt")) },
		"chmod":     func() error { return os.Chmod(a, 0o600) },
		"utimes":    func() error { return os.Chtimes(a, t0, t0) },
		"symlink":   func() error { return os.Symlink("a.txt", filepath.Join(dir, "docs", "l")) },
		"link":      func() error { return os.Link(a, filepath.Join(dir, "docs", "h")) },
		"setxattr":  func() error { return unix.Setxattr(a, "user.real.blob", []byte("x"), 0) },
		"rmxattr":   func() error { return unix.Removexattr(a, "user.real.blob") },
		"mknod":     func() error { return unix.Mknod(filepath.Join(dir, "docs", "fifo"), unix.S_IFIFO|0o644, 0) },
		"setxattrd": func() error { return unix.Setxattr(filepath.Join(dir, "docs"), "user.real.mark", []byte("own"), 0) },
	} {
		if err := op(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", name, err)
		}
	}
	if b, err := os.ReadFile(a); err != nil || string(b) != "a" {
		t.Fatalf("after the refused writes: %q, %v", b, err)
	}
}

func TestReadFailingFetcherIsEIO(t *testing.T) {
	c := newCache(t)
	f := newFetcher("content")
	mustApply(t, c, "alice", link(1, "docs", "a.txt", "content", t0))
	dir := mountUnreal(t, c, f)
	p := filepath.Join(dir, "docs", "a.txt")
	f.fail("alice", true)
	if _, err := os.ReadFile(p); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read with the serving peer unreachable: %v, want EIO", err)
	}
	// Another holder of the same blob is used when the first fails.
	mustApply(t, c, "bob", link(1, "docs", "a.txt", "content", t0))
	if b, err := os.ReadFile(p); err != nil || string(b) != "content" {
		t.Fatalf("read with bob holding the same blob: %q, %v", b, err)
	}
	f.fail("bob", true)
	if _, err := os.ReadFile(p); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read with every holder unreachable: %v, want EIO", err)
	}
}

func TestReadShortContentIsEIO(t *testing.T) {
	c := newCache(t)
	f := newFetcher()
	e := link(1, "docs", "a.txt", "announced longer", t0)
	f.content[e.Blob] = []byte("short") // the peer delivers less than announced
	mustApply(t, c, "alice", e)
	dir := mountUnreal(t, c, f)
	if b, err := os.ReadFile(filepath.Join(dir, "docs", "a.txt")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of short content: %q, %v, want EIO", b, err)
	}
}

// chunkFetcher records the largest read it gets.
type chunkFetcher struct {
	*memFetcher
	mu      sync.Mutex
	largest int
}

func (f *chunkFetcher) ReadAt(ctx context.Context, peer, arena, path string, b blob.Hash, p []byte, off int64) (int, error) {
	f.mu.Lock()
	f.largest = max(f.largest, len(p))
	f.mu.Unlock()
	return f.memFetcher.ReadAt(ctx, peer, arena, path, b, p, off)
}

func TestReadLargeFileInChunks(t *testing.T) {
	c := newCache(t)
	big := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB
	f := &chunkFetcher{memFetcher: newFetcher(big)}
	mustApply(t, c, "alice", link(1, "docs", "big.bin", big, t0))
	dir := mountUnreal(t, c, f)
	b, err := os.ReadFile(filepath.Join(dir, "docs", "big.bin"))
	if err != nil || !bytes.Equal(b, []byte(big)) {
		t.Fatalf("read %d bytes, %v; want the 3 MiB content", len(b), err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.largest > chunkSize || f.largest == 0 {
		t.Fatalf("largest fetch %d bytes, want 1..%d", f.largest, chunkSize)
	}
}

func TestInodesStableAcrossRemount(t *testing.T) {
	file := filepath.Join(t.TempDir(), "real.db")
	c := openDB(t, file)
	mustApply(t, c, "alice", link(1, "docs", "d/a.txt", "a", t0))
	inos := func(dir string) []uint64 {
		var out []uint64
		for _, p := range []string{"", "docs", "docs/d", "docs/d/a.txt", "media/photos"} {
			st, err := os.Stat(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, st.Sys().(*syscall.Stat_t).Ino)
		}
		return out
	}
	first := inos(mountUnreal(t, c, newFetcher("a")))
	// A second cache on the same file (a restart) and a second mount.
	again := inos(mountUnreal(t, openDB(t, file), newFetcher("a")))
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("st_ino changed across restart: %v -> %v", first, again)
	}
}

func TestMountSeesApplyAtOnce(t *testing.T) {
	c := newCache(t)
	f := newFetcher("v1", "version 2")
	dir := mountUnreal(t, c, f)
	p := filepath.Join(dir, "docs", "a.txt")
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("before: %v", err)
	}
	mustApply(t, c, "alice", link(1, "docs", "a.txt", "v1", t0))
	if b, err := os.ReadFile(p); err != nil || string(b) != "v1" {
		t.Fatalf("after link: %q, %v", b, err)
	}
	mustApply(t, c, "alice", link(2, "docs", "a.txt", "version 2", t0.Add(time.Second)))
	if st, err := os.Stat(p); err != nil || st.Size() != 9 {
		t.Fatalf("after change: %v, %v", st, err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "version 2" {
		t.Fatalf("after change: %q, %v", b, err)
	}
	mustApply(t, c, "alice", unlink(3, "docs", "a.txt", t0.Add(2*time.Second)))
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after unlink: %v", err)
	}
	if got := readDirNames(t, filepath.Join(dir, "docs")); len(got) != 0 {
		t.Fatalf("docs after unlink: %v", got)
	}
}

// One peer has a file where another has a directory: the directory shows,
// with its files; when the directory's files go, the file shows again.
func TestMountFileDirConflict(t *testing.T) {
	c := newCache(t)
	f := newFetcher("file", "inside")
	mustApply(t, c, "alice", link(1, "docs", "x", "file", t0))
	mustApply(t, c, "bob", link(1, "docs", "x/y", "inside", t0))
	dir := mountUnreal(t, c, f)
	if st, err := os.Stat(filepath.Join(dir, "docs", "x")); err != nil || !st.IsDir() {
		t.Fatalf("docs/x: %v, %v; want the directory", st, err)
	}
	if got := readDirNames(t, filepath.Join(dir, "docs")); !reflect.DeepEqual(got, []string{"x"}) {
		t.Fatalf("docs lists %v, want x once", got)
	}
	mustRead(t, filepath.Join(dir, "docs", "x", "y"), "inside")
	mustApply(t, c, "bob", unlink(2, "docs", "x/y", t0.Add(time.Minute)))
	mustRead(t, filepath.Join(dir, "docs", "x"), "file")
}
