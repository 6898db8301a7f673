package unreal

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"golang.org/x/sys/unix"
)

func TestStatfs(t *testing.T) {
	c := newCache(t)
	mustApply(t, c, "alice", link(1, "docs", "a.txt", strings.Repeat("a", 10000), t0), link(2, "docs", "b.txt", "b", t0))
	// A file several peers report is one file, of its served version's
	// size: bob's older, larger a.txt and carol's copy of b.txt add nothing.
	mustApply(t, c, "bob", link(1, "docs", "a.txt", strings.Repeat("a", 100000), t0.Add(-time.Hour)))
	mustApply(t, c, "carol", link(1, "docs", "b.txt", "b", t0))
	dir := mountUnreal(t, c, newFetcher())
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join(dir, "docs", "a.txt"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Namelen != 255 || st.Bsize != statfsBlock || st.Flags&unix.ST_RDONLY == 0 {
		t.Fatalf("statfs: namelen %d bsize %d flags %#x; want 255, %d, read-only", st.Namelen, st.Bsize, st.Flags, statfsBlock)
	}
	if st.Files != 2 || st.Blocks != 3 || st.Bfree != 0 || st.Bavail != 0 {
		t.Fatalf("statfs: %d files %d blocks %d free; want 2 files, 3 blocks of 4 KiB, none free", st.Files, st.Blocks, st.Bfree)
	}
}

// statfs counts a path whose newest versions tie on mtime at the size of
// the one served (the first peer by name, whatever order they came in),
// and nothing of an arena no longer configured.
func TestStatfsTieAndDroppedArena(t *testing.T) {
	file := filepath.Join(t.TempDir(), "real.db")
	old := openCacheAt(t, file, []string{"docs", "media/photos"})
	mustApply(t, old, "carol", link(1, "docs", "t.txt", strings.Repeat("c", 100000), t0),
		link(2, "media/photos", "p.jpg", strings.Repeat("p", 50000), t0))
	mustApply(t, old, "alice", link(1, "docs", "t.txt", strings.Repeat("a", 10), t0))
	c := openCacheAt(t, file, []string{"docs"}) // media/photos removed from the config
	dir := mountUnreal(t, c, newFetcher())
	if fi, err := os.Stat(filepath.Join(dir, "docs", "t.txt")); err != nil || fi.Size() != 10 {
		t.Fatalf("served t.txt: %v, %v; want alice's 10 bytes (tie: first peer by name)", fi, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Files != 1 || st.Blocks != 1 {
		t.Fatalf("statfs: %d files %d blocks; want 1 file of 1 block (alice's served t.txt, no photo)", st.Files, st.Blocks)
	}
}

// getfattr on the merged view shows which peers have a remote file and
// its blob; a local file has neither.
func TestXattrsInMergedView(t *testing.T) {
	c, _, o := setupOverlay(t)
	mustApply(t, c, "bob", link(1, "docs", "remote/seed.txt", "seed", t0))
	p := filepath.Join(o.merged, "docs", "remote", "seed.txt")
	buf := make([]byte, 256)
	n, err := unix.Getxattr(p, "user.real.peers", buf)
	if err != nil || string(buf[:n]) != "alice,bob" {
		t.Fatalf("user.real.peers = %q, %v", buf[:n], err)
	}
	n, err = unix.Getxattr(p, "user.real.blob", buf)
	if err != nil || string(buf[:n]) != blob.Of([]byte("seed")).String() {
		t.Fatalf("user.real.blob = %q, %v", buf[:n], err)
	}
	n, err = unix.Listxattr(p, buf)
	if err != nil || !strings.Contains(string(buf[:n]), "user.real.blob\x00") || !strings.Contains(string(buf[:n]), "user.real.peers\x00") {
		t.Fatalf("listxattr = %q, %v", buf[:n], err)
	}
	// The size query (empty buffer) answers the length, as getfattr uses it.
	if n, err := unix.Getxattr(p, "user.real.peers", nil); err != nil || n != len("alice,bob") {
		t.Fatalf("size query: %d, %v", n, err)
	}
	if _, err := unix.Getxattr(filepath.Join(o.merged, "docs", "local.txt"), "user.real.blob", buf); err != unix.ENODATA {
		t.Fatalf("user.real.blob of a local file: %v, want ENODATA", err)
	}
}

// Files open with FOPEN_DIRECT_IO can still be mapped (programs and
// libraries are run from the merged view): through the Unreal and the overlay.
// TestMmap maps a remote file through the merged view. The mapping is read
// in a child process: a page fault on a FUSE file served by the faulting
// process itself can deadlock it (the faulting thread cannot be stopped
// for the garbage collector, which the FUSE server goroutines then wait on).
func TestMmap(t *testing.T) {
	c, f, o := setupOverlay(t)
	content := strings.Repeat("mapped ", 3000)
	f.add(content)
	mustApply(t, c, "alice", link(2, "docs", "remote/m.bin", content, t0))
	cmd := exec.Command(os.Args[0], "-test.run=^TestMmapChild$")
	cmd.Env = append(os.Environ(), mmapChildEnv+"="+filepath.Join(o.merged, "docs", "remote", "m.bin"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mmap child: %v\n%s", err, out)
	}
	if got := blob.Of([]byte(content)).String(); !strings.Contains(string(out), "mapped "+got) {
		t.Fatalf("mapped bytes differ from the content (want hash %s):\n%s", got, out)
	}
}

const mmapChildEnv = "REAL_TEST_MMAP_FILE"

// TestMmapChild runs only as TestMmap's child: it maps the file and
// prints the hash of the mapped bytes.
func TestMmapChild(t *testing.T) {
	file := os.Getenv(mmapChildEnv)
	if file == "" {
		t.Skip("runs only as TestMmap's child")
	}
	fd, err := unix.Open(file, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer unix.Munmap(m)
	fmt.Printf("mapped %s\n", blob.Of(m))
}

// statfs counts a file that a directory of the same path hides (one peer
// has docs/x as a file, another has files under docs/x/: the directory
// wins, as lookups and listings show) as nothing: it counts what the mount
// shows. Before, the hidden file's bytes and inode were counted too.
func TestStatfsHiddenFile(t *testing.T) {
	c := newCache(t)
	mustApply(t, c, "alice", link(1, "docs", "x", strings.Repeat("a", 100000), t0))
	mustApply(t, c, "bob", link(1, "docs", "x/y", "b", t0), link(2, "docs", "z", "z", t0))
	dir := mountUnreal(t, c, newFetcher())
	if fi, err := os.Stat(filepath.Join(dir, "docs", "x")); err != nil || !fi.IsDir() {
		t.Fatalf("docs/x: %v, %v; want the directory", fi, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Files != 2 || st.Blocks != 1 {
		t.Fatalf("statfs: %d files %d blocks; want 2 files (x/y, z) of 1 block, not alice's hidden 100000-byte x", st.Files, st.Blocks)
	}
}
