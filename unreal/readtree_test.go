package unreal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/blob"
)

// treeFetcher is a testFetcher that also serves the content's tree
// (blob.Outboard of data) to every peer, unless tree says otherwise.
type treeFetcher struct {
	*testFetcher
	outboard []byte
	// tree, if set, decides a Tree call: return handled=false to serve
	// the right tree.
	tree func(ctx context.Context, peer string) (t []byte, err error, handled bool)

	treeMu    sync.Mutex
	treeCalls map[string]int
}

func newTreeFetcher(t *testing.T, data []byte) *treeFetcher {
	t.Helper()
	root, ob, err := blob.Outboard(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if root != blob.Of(data) {
		t.Fatalf("outboard root %s, blob %s", root, blob.Of(data))
	}
	return &treeFetcher{testFetcher: newTestFetcher(data), outboard: ob, treeCalls: make(map[string]int)}
}

func (f *treeFetcher) Tree(ctx context.Context, peer, arena, path string, b blob.Hash, size int64) ([]byte, error) {
	f.treeMu.Lock()
	f.treeCalls[peer]++
	f.treeMu.Unlock()
	if f.tree != nil {
		if t, err, ok := f.tree(ctx, peer); ok {
			return t, err
		}
	}
	if b != blob.Of(f.data) || size != int64(len(f.data)) {
		return nil, fmt.Errorf("tree of %s (%d bytes) asked, have %s", b, size, blob.Of(f.data))
	}
	return bytes.Clone(f.outboard), nil
}

func (f *treeFetcher) trees(peer string) int {
	f.treeMu.Lock()
	defer f.treeMu.Unlock()
	return f.treeCalls[peer]
}

// servedBy reports whether peer was asked for the chunk at off.
func (f *testFetcher) servedBy(peer string, off int64) bool {
	calls, _ := f.snapshot()
	for _, cl := range calls {
		if cl.peer == peer && cl.off == off {
			return true
		}
	}
	return false
}

// corruptFrom is a testFetcher answer serving data with one byte in every
// 4 KiB of the chunk at off flipped for the peers in bad (so that any read
// of it sees a wrong byte).
func corruptFrom(data []byte, off int64, bad ...string) func(context.Context, fetchCall, []byte) (int, error, bool) {
	return func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
		n := copy(p, data[call.off:])
		if call.off == off {
			for _, b := range bad {
				if call.peer == b {
					for j := 0; j < n; j += 4096 {
						p[j] ^= 0x40
					}
				}
			}
		}
		if n < len(p) {
			return n, io.EOF, true
		}
		return n, nil, true
	}
}

// A random read of a large file, the first read after open, is verified
// by the tree: bad bytes from the serving peer are failed over to another
// peer holding the blob, and with only bad peers the read is EIO.
func TestReadTreeRandomRead(t *testing.T) {
	const size = 24 << 20
	off := int64(5*chunkSize + 12345)
	for _, tc := range []struct {
		name      string
		bad       []string
		bobNoTree bool // bob gives no tree: his bytes are checked by alice's
	}{
		{name: "failover", bad: []string{"alice"}},
		{name: "failover to a peer without a tree", bad: []string{"alice"}, bobNoTree: true},
		{name: "only bad peers", bad: []string{"alice", "bob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			data := randomData(t, size)
			f := newTreeFetcher(t, data)
			f.answer = corruptFrom(data, 5*chunkSize, tc.bad...)
			if tc.bobNoTree {
				f.tree = func(ctx context.Context, peer string) ([]byte, error, bool) {
					if peer == "bob" {
						return nil, errors.New("unimplemented"), true
					}
					return nil, nil, false
				}
			}
			mustApply(t, c, "alice", linkData(1, "big.bin", data))
			mustApply(t, c, "bob", linkData(1, "big.bin", data))
			dir := mountWith(t, c, f, Options{})
			fd := openDoc(t, dir, "big.bin")
			buf := make([]byte, 64<<10)
			n, err := fd.ReadAt(buf, off)
			if len(tc.bad) == 2 {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("pread in chunk 5, corrupt on every peer: %d bytes, %v; want EIO", n, err)
				}
				// The other chunks are good and still served.
				if n, err := fd.ReadAt(buf, 0); err != nil || !bytes.Equal(buf[:n], data[:n]) {
					t.Fatalf("pread at 0 after the bad chunk: %d bytes, %v, or wrong bytes", n, err)
				}
				return
			}
			if err != nil || !bytes.Equal(buf[:n], data[off:off+int64(n)]) || n != len(buf) {
				t.Fatalf("pread in chunk 5, corrupt on alice: %d bytes, %v, or not bob's good bytes", n, err)
			}
			if !f.servedBy("bob", 5*chunkSize) {
				t.Fatal("bob was not asked for chunk 5")
			}
			if f.trees("alice") != 1 {
				t.Fatalf("alice asked for her tree %d times by one open file, want 1", f.trees("alice"))
			}
		})
	}
}

// A reader that reads the tail of a large file first (zip, mp4) gets
// verified bytes; a sequential read of a file with a corrupt middle chunk
// and no good peer stops at that chunk: its bytes are never served.
func TestReadTreeTailFirst(t *testing.T) {
	data := randomData(t, 10*chunkSize+777)
	last := int64(10 * chunkSize)
	for _, only := range []bool{false, true} {
		t.Run(fmt.Sprintf("only bad=%v", only), func(t *testing.T) {
			c := newCache(t)
			f := newTreeFetcher(t, data)
			f.answer = corruptFrom(data, last, "alice")
			mustApply(t, c, "alice", linkData(1, "f.zip", data))
			if !only {
				mustApply(t, c, "bob", linkData(1, "f.zip", data))
			}
			dir := mountWith(t, c, f, Options{})
			fd := openDoc(t, dir, "f.zip")
			tail := make([]byte, 4096)
			at := int64(len(data) - len(tail))
			n, err := fd.ReadAt(tail, at)
			if only {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("tail of a file whose last chunk is corrupt: %d bytes, %v; want EIO", n, err)
				}
				return
			}
			if err != nil && err != io.EOF || n != len(tail) || !bytes.Equal(tail, data[at:]) {
				t.Fatalf("tail: %d bytes, %v, or not bob's good bytes", n, err)
			}
			// Then the whole file from its start, through the same open file.
			got, err := io.ReadAll(io.NewSectionReader(fd, 0, int64(len(data))))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("whole file after the tail: %d bytes, %v; want the %d bytes", len(got), err, len(data))
			}
		})
	}
	t.Run("sequential, corrupt middle", func(t *testing.T) {
		c := newCache(t)
		f := newTreeFetcher(t, data)
		f.answer = corruptFrom(data, 3*chunkSize, "alice")
		mustApply(t, c, "alice", linkData(1, "f.zip", data))
		dir := mountWith(t, c, f, Options{TreeWait: time.Minute}) // read from the start: wait for the tree
		got, err := readAll(filepath.Join(dir, "docs", "f.zip"), 128<<10)
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("cat of a file with a corrupt chunk 3: %d bytes, %v; want EIO", len(got), err)
		}
		if len(got) > 3*chunkSize || !bytes.Equal(got, data[:len(got)]) {
			t.Fatalf("%d bytes served: bytes of the corrupt chunk 3 (from %d) were served", len(got), 3*chunkSize)
		}
	})
}

// A peer whose tree is wrong (its bytes are right) counts as failing: the
// next peer, with its own tree, serves the file.
func TestReadTreeBadTree(t *testing.T) {
	c := newCache(t)
	data := randomData(t, 6*chunkSize+100)
	f := newTreeFetcher(t, data)
	f.tree = func(ctx context.Context, peer string) ([]byte, error, bool) {
		if peer != "alice" {
			return nil, nil, false
		}
		bad := bytes.Clone(f.outboard)
		bad[len(bad)-1] ^= 1 // a node on the way to the last chunks
		bad[8] ^= 1          // and one on the way to the first
		return bad, nil, true
	}
	mustApply(t, c, "alice", linkData(1, "f.bin", data))
	mustApply(t, c, "bob", linkData(1, "f.bin", data))
	dir := mountWith(t, c, f, Options{TreeWait: time.Minute}) // read from the start: wait for the tree
	got, err := readAll(filepath.Join(dir, "docs", "f.bin"), 128<<10)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a bad tree on alice: %d bytes, %v; want the %d bytes", len(got), err, len(data))
	}
	if !f.servedBy("bob", 0) {
		t.Fatal("bob did not serve the chunk alice's bad tree refused")
	}
}

// A peer that gives no tree (an older peer, a store that refuses): the
// file is hashed in order as before, so a sequential read fails at its
// end, or once the hash is known (read-ahead), never completing.
func TestReadTreeUnavailableHashesInOrder(t *testing.T) {
	for _, corrupt := range []bool{false, true} {
		t.Run(fmt.Sprintf("corrupt=%v", corrupt), func(t *testing.T) {
			c := newCache(t)
			data := randomData(t, 3*chunkSize+7)
			f := newTreeFetcher(t, data)
			f.tree = func(ctx context.Context, peer string) ([]byte, error, bool) {
				return nil, errors.New("unimplemented"), true
			}
			if corrupt {
				f.answer = corruptFrom(data, chunkSize, "alice")
			}
			mustApply(t, c, "alice", linkData(1, "f.bin", data))
			dir := mountWith(t, c, f, Options{})
			got, err := readAll(filepath.Join(dir, "docs", "f.bin"), 128<<10)
			if f.trees("alice") == 0 {
				t.Fatal("alice was never asked for a tree")
			}
			checkHashedRead(t, "read without a tree", got, err, data, corrupt)
		})
	}
}

// A peer slow to give its tree (it hashes a large file first) does not
// stall a read from the start: after TreeWait the file is hashed in order,
// long before the tree's own bound (FetchTimeout) would give it up.
func TestReadTreeSlowTreeHashesInOrder(t *testing.T) {
	for _, corrupt := range []bool{false, true} {
		t.Run(fmt.Sprintf("corrupt=%v", corrupt), func(t *testing.T) {
			c := newCache(t)
			data := randomData(t, 3*chunkSize+7)
			f := newTreeFetcher(t, data)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			f.tree = func(ctx context.Context, peer string) ([]byte, error, bool) {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil, errors.New("gave up"), true
			}
			if corrupt {
				f.answer = corruptFrom(data, chunkSize, "alice")
			}
			mustApply(t, c, "alice", linkData(1, "f.bin", data))
			dir := mountWith(t, c, f, Options{FetchTimeout: 10 * time.Minute, TreeWait: 100 * time.Millisecond})
			got, err := readWithin(t, dir, "f.bin", time.Minute)
			checkHashedRead(t, "read with a slow tree", got, err, data, corrupt)
		})
	}
}

// hangingTrees mounts files of 3 chunks under names, served by a peer
// whose Tree calls never answer (hashing a large file, longer than anyone
// waits), with TreeWait 50 ms, FetchTimeout 30 s and MaxFetches 2.
func hangingTrees(t *testing.T, names []string) (dir string, data []byte) {
	t.Helper()
	c := newCache(t)
	data = randomData(t, 3*chunkSize+7)
	f := newTreeFetcher(t, data)
	f.tree = func(ctx context.Context, peer string) ([]byte, error, bool) {
		<-ctx.Done()
		return nil, ctx.Err(), true
	}
	for i, name := range names {
		mustApply(t, c, "alice", linkData(uint64(i+1), name, data))
	}
	return mountWith(t, c, f, Options{FetchTimeout: 30 * time.Second, TreeWait: 50 * time.Millisecond, MaxFetches: 2}), data
}

// A handle that gave up waiting for a slow tree (TreeWait) and hashes in
// order no longer holds a fetch slot for that tree: with files kept open
// (an editor, a player), their hanging Tree calls held the MaxFetches
// slots for FetchTimeout each, and the reads of every other file waited.
func TestReadTreeGivenUpFreesFetchSlot(t *testing.T) {
	names := []string{"a.bin", "b.bin", "c.bin", "d.bin"}
	dir, data := hangingTrees(t, names)
	for _, name := range names {
		fd := openDoc(t, dir, name) // kept open
		buf := make([]byte, 64<<10)
		done := make(chan error, 1)
		go func() {
			_, err := fd.ReadAt(buf, 0)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil || !bytes.Equal(buf, data[:len(buf)]) {
				t.Fatalf("read of %s: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("read of %s still waiting after 10 s while the files before it are open (their trees hold the fetch slots?)", name)
		}
	}
}

// Files opened at once whose peer is slow to give trees: the tree calls
// do not take the fetch slots their first chunks need (the first chunk's
// arrival is what starts TreeWait), so every read is answered after about
// TreeWait; they waited for FetchTimeout (the trees' bound) before.
func TestReadTreeSlowTreesOpenedAtOnce(t *testing.T) {
	const n = 16
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("f%d.bin", i))
	}
	dir, data := hangingTrees(t, names)
	done := make(chan error, n)
	for _, name := range names {
		fd := openDoc(t, dir, name)
		go func() {
			buf := make([]byte, 64<<10)
			_, err := fd.ReadAt(buf, 0)
			if err == nil && !bytes.Equal(buf, data[:len(buf)]) {
				err = errors.New("wrong bytes")
			}
			done <- err
		}()
	}
	deadline := time.After(20 * time.Second)
	for range n {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("read: %v", err)
			}
		case <-deadline:
			t.Fatalf("reads of %d files opened at once still waiting after 20 s (FetchTimeout 30 s): their trees hold the fetch slots?", n)
		}
	}
}

// lateTrees makes f's Tree calls wait until the returned release is
// called (any number of times), then serve the right tree, or fail when
// fail is set: a peer that must hash a large file first.
func lateTrees(t *testing.T, f *treeFetcher, fail bool) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	f.tree = func(ctx context.Context, peer string) ([]byte, error, bool) {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err(), true
		}
		if fail {
			return nil, errors.New("hashing the file took too long"), true
		}
		return nil, nil, false
	}
	return release
}

// checkHashedRead checks a whole read of data hashed in order: all of it
// when the peer's bytes are good, else EIO (at the end, or as soon as the
// hash is known) and never the whole file.
func checkHashedRead(t *testing.T, what string, got []byte, err error, data []byte, corrupt bool) {
	t.Helper()
	if !corrupt {
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %d bytes, %v; want the %d bytes", what, len(got), err, len(data))
		}
		return
	}
	if !errors.Is(err, syscall.EIO) || len(got) >= len(data) {
		t.Fatalf("%s of a corrupt file: %d bytes, %v; want EIO (hashed in order: at its end, or once the hash is known)", what, len(got), err)
	}
}

// openLateTree mounts data as docs/big.bin, held by holders and served by
// f, whose trees come late (lateTrees; fail: they fail when released),
// opens it and reads its first 64 KiB, so that the handle hashes in order
// for want of a tree in time.
func openLateTree(t *testing.T, f *treeFetcher, data []byte, fail bool, holders ...string) (fd *os.File, release func()) {
	t.Helper()
	c := newCache(t)
	release = lateTrees(t, f, fail)
	for _, h := range holders {
		mustApply(t, c, h, linkData(1, "big.bin", data))
	}
	dir := mountWith(t, c, f, lateTreeOptions)
	fd = openDoc(t, dir, "big.bin")
	buf := make([]byte, 64<<10)
	if n, err := fd.ReadAt(buf, 0); err != nil || !bytes.Equal(buf[:n], data[:n]) {
		t.Fatalf("pread at 0 (tree late): %d bytes, %v, or wrong bytes", n, err)
	}
	return fd, release
}

// holders is alice, and bob too when bob is set.
func holders(bob bool) []string {
	if bob {
		return []string{"alice", "bob"}
	}
	return []string{"alice"}
}

// lateTreeOptions: TreeWait short, so that a read from the start hashes
// in order; one chunk of read-ahead, so that a seek a few chunks ahead
// gives the in-order hashing up.
var lateTreeOptions = Options{TreeWait: 50 * time.Millisecond, FetchTimeout: 30 * time.Second, ReadAhead: chunkSize}

// preadWithin is fd.ReadAt(buf, off) in a goroutine: the result comes on
// the channel.
// lateReadFailsOver reads buf at off of fd (a late-tree handle whose
// alice serves bad bytes there) within 20 s: bob's good bytes when bob
// holds the file too, else EIO. what names the read in failures.
func lateReadFailsOver(t *testing.T, fd interface {
	ReadAt([]byte, int64) (int, error)
}, buf, data []byte, at int64, bob bool, what string) {
	t.Helper()
	var err error
	select {
	case err = <-preadWithin(fd, buf, at):
	case <-time.After(20 * time.Second):
		t.Fatalf("pread %s still waiting after 20 s", what)
	}
	if !bob {
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("pread %s, corrupt on the only peer, late tree: %v; want EIO", what, err)
		}
		return
	}
	if err != nil || !bytes.Equal(buf, data[at:at+int64(len(buf))]) {
		t.Fatalf("pread %s, corrupt on alice, late tree: %v, or not bob's good bytes", what, err)
	}
}

func preadWithin(fd interface {
	ReadAt([]byte, int64) (int, error)
}, buf []byte, off int64) <-chan error {
	done := make(chan error, 1)
	go func() {
		n, err := fd.ReadAt(buf, off)
		if err == nil && n != len(buf) {
			err = fmt.Errorf("%d bytes, want %d", n, len(buf))
		}
		done <- err
	}()
	return done
}

// A file read from its start whose tree comes after TreeWait (hashed in
// order), then read far ahead through the same open file: the bytes there
// are checked by the late tree before they are served, so a peer serving
// bad bytes there is failed over, or the read is EIO; they were served
// unchecked before. Also when the tree comes only while the seek waits.
func TestReadTreeLateTreeChecksSeek(t *testing.T) {
	data := randomData(t, 10*chunkSize+100)
	off := int64(8*chunkSize + 12345)
	for _, tc := range []struct {
		name      string
		bad       []string
		duringGap bool // the tree comes while the seek waits for it
	}{
		{name: "failover", bad: []string{"alice"}},
		{name: "failover, tree comes during the seek", bad: []string{"alice"}, duringGap: true},
		{name: "only bad peers", bad: []string{"alice", "bob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTreeFetcher(t, data)
			f.answer = corruptFrom(data, 8*chunkSize, tc.bad...)
			fd, release := openLateTree(t, f, data, false, "alice", "bob")
			buf := make([]byte, 64<<10)
			if !tc.duringGap {
				release()
			}
			done := preadWithin(fd, buf, off)
			if tc.duringGap {
				eventually(t, 20*time.Second, "chunk 8 asked from alice", func() error {
					if !f.servedBy("alice", 8*chunkSize) {
						return errors.New("not yet")
					}
					return nil
				})
				select {
				case err := <-done:
					t.Fatalf("pread in chunk 8 answered (%v) before any tree came: its bytes were not checked", err)
				default:
				}
				release()
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("pread in chunk 8 still waiting 20 s after the tree came")
			}
			if len(tc.bad) == 2 {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("pread in chunk 8, corrupt on every peer, late tree: %v; want EIO", err)
				}
				return
			}
			if err != nil || !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
				t.Fatalf("pread in chunk 8, corrupt on alice, late tree: %v, or not bob's good bytes", err)
			}
			if !f.servedBy("bob", 8*chunkSize) {
				t.Fatal("bob was not asked for chunk 8")
			}
			// And back at the start: the chunks hashed in order before are
			// fetched again (dropped), and checked too.
			if n, err := fd.ReadAt(buf, 0); err != nil || !bytes.Equal(buf[:n], data[:n]) {
				t.Fatalf("pread at 0 after the seek: %d bytes, %v, or wrong bytes", n, err)
			}
		})
	}
}

// A sequential read of a file whose tree comes late (after TreeWait, and
// then while the read goes on) is hashed in order as before: it completes,
// and a corrupt chunk makes the read that reaches the end fail with EIO
// (or an earlier one, once the hash is known).
func TestReadTreeLateTreeSequential(t *testing.T) {
	data := randomData(t, 10*chunkSize+100)
	for _, corrupt := range []bool{false, true} {
		t.Run(fmt.Sprintf("corrupt=%v", corrupt), func(t *testing.T) {
			c := newCache(t)
			f := newTreeFetcher(t, data)
			if corrupt {
				f.answer = corruptFrom(data, 3*chunkSize, "alice")
			}
			release := lateTrees(t, f, false)
			mustApply(t, c, "alice", linkData(1, "big.bin", data))
			dir := mountWith(t, c, f, lateTreeOptions)
			fd := openDoc(t, dir, "big.bin")
			first := make([]byte, 128<<10)
			if n, err := io.ReadFull(fd, first); err != nil {
				t.Fatalf("first read (tree late): %d bytes, %v", n, err)
			}
			release()
			var out bytes.Buffer
			out.Write(first)
			_, err := io.CopyBuffer(&out, struct{ io.Reader }{fd}, make([]byte, 128<<10))
			got := out.Bytes()
			checkHashedRead(t, "sequential read, late tree", got, err, data, corrupt)
		})
	}
}

// A late tree that then fails (the peer gave up hashing): a seek through
// the open file is served, unverified as without a tree, and does not hang
// (EIO for every seek would make large files unreadable from such a peer).
func TestReadTreeLateTreeFails(t *testing.T) {
	data := randomData(t, 10*chunkSize+100)
	for _, duringGap := range []bool{false, true} {
		t.Run(fmt.Sprintf("fails during the seek=%v", duringGap), func(t *testing.T) {
			f := newTreeFetcher(t, data)
			fd, release := openLateTree(t, f, data, true, "alice")
			buf := make([]byte, 64<<10)
			if !duringGap {
				release()
			}
			for _, off := range []int64{8*chunkSize + 12345, 5 * chunkSize, 9 * chunkSize} {
				done := preadWithin(fd, buf, off)
				if duringGap {
					eventually(t, 20*time.Second, "chunk asked from alice", func() error {
						if !f.servedBy("alice", off/chunkSize*chunkSize) {
							return errors.New("not yet")
						}
						return nil
					})
					release()
				}
				select {
				case err := <-done:
					if err != nil || !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
						t.Fatalf("pread at %d after the late tree failed: %v, or wrong bytes", off, err)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("pread at %d still waiting 20 s after the late tree failed", off)
				}
			}
			if f.trees("alice") != 1 {
				t.Fatalf("alice asked for her tree %d times by one open file, want 1", f.trees("alice"))
			}
		})
	}
}

// The in-order hashing of a file whose tree came late is given up because
// the reader skipped a failed chunk (EIO, then it reads on): the chunk it
// reads then was fetched before, as read-ahead, unchecked; it is not
// served so, but checked by the tree (fetched again): a peer with bad bytes
// there is failed over, or the read is EIO.
func TestReadTreeLateTreeChecksCachedChunk(t *testing.T) {
	data := randomData(t, 8*chunkSize+100)
	for _, tc := range []struct {
		name string
		bob  bool // bob has good bytes
	}{{name: "failover", bob: true}, {name: "only a bad peer"}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTreeFetcher(t, data)
			bad := corruptFrom(data, 5*chunkSize, "alice")
			f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
				if call.off == chunkSize {
					return 0, errors.New("connection reset"), true // on every peer
				}
				return bad(ctx, call, p)
			}
			fd, release := openLateTree(t, f, data, false, holders(tc.bob)...)
			buf := make([]byte, 128<<10)
			release()
			if _, err := fd.ReadAt(buf, chunkSize); !errors.Is(err, syscall.EIO) {
				t.Fatalf("pread of the failing chunk 1: %v, want EIO", err)
			}
			for i := int64(2); i < 5; i++ { // forward: chunk 5 is fetched ahead
				if _, err := fd.ReadAt(buf, i*chunkSize); err != nil || !bytes.Equal(buf, data[i*chunkSize:i*chunkSize+int64(len(buf))]) {
					t.Fatalf("pread at chunk %d: %v, or wrong bytes", i, err)
				}
			}
			eventually(t, 20*time.Second, "chunk 5 fetched ahead from alice", func() error {
				if !f.servedBy("alice", 5*chunkSize) {
					return errors.New("not yet")
				}
				return nil
			})
			_, err := fd.ReadAt(buf, 5*chunkSize)
			if !tc.bob {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("pread in chunk 5, corrupt on the only peer, late tree: %v; want EIO", err)
				}
				return
			}
			if err != nil || !bytes.Equal(buf, data[5*chunkSize:5*chunkSize+int64(len(buf))]) {
				t.Fatalf("pread in chunk 5, corrupt on alice, late tree: %v, or not bob's good bytes", err)
			}
		})
	}
}

// A file whose tree came late, read from its start, then at its tail a few
// chunks on (not far enough to give the in-order hashing up): the hashing
// cannot reach the end (the chunks between were never asked for), so the
// read at the end gets no verdict from it; its bytes are checked by the
// late tree instead: a peer serving bad bytes there is failed over, or the
// read is EIO. They were served unchecked, as valid.
func TestReadTreeLateTreeChecksTailAfterGap(t *testing.T) {
	data := randomData(t, 4*chunkSize+100)
	last := int64(4 * chunkSize)
	for _, tc := range []struct {
		name string
		bob  bool // bob has good bytes
	}{{name: "failover", bob: true}, {name: "only a bad peer"}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTreeFetcher(t, data)
			f.answer = corruptFrom(data, last, "alice")
			fd, release := openLateTree(t, f, data, false, holders(tc.bob)...)
			release()
			tail := make([]byte, len(data)-int(last))
			var err error
			select {
			case err = <-preadWithin(fd, tail, last):
			case <-time.After(20 * time.Second):
				t.Fatal("pread of the tail still waiting after 20 s")
			}
			if !tc.bob {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("pread of the tail, corrupt on the only peer, late tree: %v; want EIO", err)
				}
				return
			}
			if err != nil && err != io.EOF || !bytes.Equal(tail, data[last:]) {
				t.Fatalf("pread of the tail, corrupt on alice, late tree: %v, or not bob's good bytes", err)
			}
		})
	}
}

// A sequential read of a file whose in-order hash does not match fails
// (at its end, or before once the hash is known); the bytes of that content
// kept for the open file (the chunks near the end, among them the corrupt
// one) are not served afterwards as if valid: the read is EIO (or, with a
// late tree and the chunk fetched again, good checked bytes).
func TestReadCorruptVerdictStopsCachedChunks(t *testing.T) {
	data := randomData(t, 6*chunkSize+100)
	bad := int64(5 * chunkSize) // the last full chunk: still kept at the end
	for _, tc := range []struct {
		name string
		tree bool // a late tree
		bob  bool // bob has good bytes
	}{
		{name: "no tree"},
		{name: "late tree, failover", tree: true, bob: true},
		{name: "late tree, only a bad peer", tree: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			var fetcher Fetcher
			release := func() {}
			if tc.tree {
				f := newTreeFetcher(t, data)
				f.answer = corruptFrom(data, bad, "alice")
				release = lateTrees(t, f, false)
				fetcher = f
			} else {
				f := newTestFetcher(data)
				f.answer = corruptFrom(data, bad, "alice")
				fetcher = f
			}
			mustApply(t, c, "alice", linkData(1, "big.bin", data))
			if tc.bob {
				mustApply(t, c, "bob", linkData(1, "big.bin", data))
			}
			dir := mountWith(t, c, fetcher, lateTreeOptions)
			fd := openDoc(t, dir, "big.bin")
			first := make([]byte, 128<<10)
			if n, err := io.ReadFull(fd, first); err != nil {
				t.Fatalf("first read: %d bytes, %v", n, err)
			}
			release()
			_, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{fd}, make([]byte, 128<<10))
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("sequential read of a file with a corrupt chunk 5: %v; want EIO at its end", err)
			}
			buf := make([]byte, 64<<10)
			n, err := fd.ReadAt(buf, bad)
			if !errors.Is(err, syscall.EIO) && (err != nil || !bytes.Equal(buf[:n], data[bad:bad+int64(n)])) {
				t.Fatalf("pread in the corrupt chunk after the verdict: %d bytes (good: %v), %v; want EIO or good bytes",
					n, bytes.Equal(buf[:n], data[bad:bad+int64(n)]), err)
			}
		})
	}
}

// A file whose tree came late, read from its start, then a few chunks
// ahead (a jump within the read-ahead window, past chunks never asked
// for): the in-order hashing will not see those bytes unless the reader
// comes back, so they are checked by the late tree: a peer serving bad
// bytes there is failed over, or the read is EIO. They were served
// unchecked, as valid.
func TestReadTreeLateTreeChecksShortJump(t *testing.T) {
	data := randomData(t, 10*chunkSize+100)
	at := int64(4 * chunkSize)
	for _, tc := range []struct {
		name string
		bob  bool // bob has good bytes
	}{{name: "failover", bob: true}, {name: "only a bad peer"}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTreeFetcher(t, data)
			f.answer = corruptFrom(data, at, "alice")
			fd, release := openLateTree(t, f, data, false, holders(tc.bob)...)
			buf := make([]byte, 64<<10)
			release()
			lateReadFailsOver(t, fd, buf, data, at, tc.bob, "in chunk 4")
		})
	}
}

// A file whose tree came late, read from its start (the read-ahead takes
// chunks 1-4), then at chunk 4 (a jump, but past no gap), then at chunk 6:
// that read goes forward from chunk 4's, yet chunk 5 was never asked for
// (a jump fetches no read-ahead), so the in-order hashing will not see
// chunk 6 unless the reader comes back: it is checked by the late tree, a
// peer serving bad bytes there is failed over, or the read is EIO. Before,
// a forward read was not looked at for such a gap, and alice's bad bytes
// were served as valid (a player reading a header, then hopping ahead).
func TestReadTreeLateTreeChecksForwardPastGap(t *testing.T) {
	data := randomData(t, 10*chunkSize+100)
	opts := lateTreeOptions
	opts.ReadAhead = 4 * chunkSize
	for _, tc := range []struct {
		name string
		bob  bool // bob has good bytes
	}{{name: "failover", bob: true}, {name: "only a bad peer"}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTreeFetcher(t, data)
			f.answer = corruptFrom(data, 6*chunkSize, "alice")
			c := newCache(t)
			release := lateTrees(t, f, false)
			for _, h := range holders(tc.bob) {
				mustApply(t, c, h, linkData(1, "big.bin", data))
			}
			dir := mountWith(t, c, f, opts)
			fd := openDoc(t, dir, "big.bin")
			buf := make([]byte, 64<<10)
			for _, at := range []int64{0, 4 * chunkSize} {
				if n, err := fd.ReadAt(buf, at); err != nil || !bytes.Equal(buf[:n], data[at:at+int64(n)]) {
					t.Fatalf("pread at %d (tree late): %d bytes, %v, or wrong bytes", at, n, err)
				}
			}
			release()
			at := int64(6*chunkSize + 4096)
			lateReadFailsOver(t, fd, buf, data, at, tc.bob, "in chunk 6")
		})
	}
}

// A file whose tree came late, read from its start (the read-ahead takes
// chunks 1-4, and chunk 2 fails on every peer), then at chunk 3, hopping
// over chunk 2: the in-order hashing waits at chunk 2 for a read that does
// not come, so chunk 3 is checked by the late tree: a peer serving bad
// bytes there is failed over, or the read is EIO. Before, the failed chunk
// was taken for one being hashed, and alice's bad bytes were served as
// valid.
func TestReadTreeLateTreeChecksPastFailedChunk(t *testing.T) {
	data := randomData(t, 10*chunkSize+100)
	opts := lateTreeOptions
	opts.ReadAhead = 4 * chunkSize
	for _, tc := range []struct {
		name string
		bob  bool // bob has good bytes
	}{{name: "failover", bob: true}, {name: "only a bad peer"}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTreeFetcher(t, data)
			bad := corruptFrom(data, 3*chunkSize, "alice")
			f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
				if call.off == 2*chunkSize {
					return 0, errors.New("connection reset"), true
				}
				return bad(ctx, call, p)
			}
			c := newCache(t)
			release := lateTrees(t, f, false)
			for _, h := range holders(tc.bob) {
				mustApply(t, c, h, linkData(1, "big.bin", data))
			}
			dir := mountWith(t, c, f, opts)
			fd := openDoc(t, dir, "big.bin")
			buf := make([]byte, 64<<10)
			if n, err := fd.ReadAt(buf, 0); err != nil || !bytes.Equal(buf[:n], data[:n]) {
				t.Fatalf("pread at 0 (tree late): %d bytes, %v, or wrong bytes", n, err)
			}
			release()
			at := int64(3*chunkSize + 4096)
			lateReadFailsOver(t, fd, buf, data, at, tc.bob, "in chunk 3, chunk 2 failed")
		})
	}
}
