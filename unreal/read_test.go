package unreal

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
)

// fetchCall is one Fetcher call a test fetcher saw.
type fetchCall struct {
	peer string
	off  int64
	n    int
}

// testFetcher serves data for every peer, and lets a test change the
// answer of a peer (fail, hang, corrupt) and watch the calls.
type testFetcher struct {
	data []byte
	// answer, if set, decides a call: return handled=false to serve data.
	answer func(ctx context.Context, call fetchCall, p []byte) (n int, err error, handled bool)

	mu       sync.Mutex
	calls    []fetchCall
	inFlight int
	maxIn    int
	arrived  chan struct{} // a token per call, for tests that wait for calls
}

func newTestFetcher(data []byte) *testFetcher {
	return &testFetcher{data: data, arrived: make(chan struct{}, 1<<16)}
}

func (f *testFetcher) ReadAt(ctx context.Context, peer, arena, path string, b blob.Hash, p []byte, off int64) (int, error) {
	call := fetchCall{peer, off, len(p)}
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	f.mu.Unlock()
	f.arrived <- struct{}{}
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if f.answer != nil {
		if n, err, ok := f.answer(ctx, call, p); ok {
			return n, err
		}
	}
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *testFetcher) snapshot() ([]fetchCall, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fetchCall(nil), f.calls...), f.maxIn
}

// randomData is n random bytes, made 1 MiB at a time: one getrandom call
// for a GiB cannot be preempted, and a GC meanwhile spins (which clouded
// the read benchmark's CPU profile).
func randomData(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	for off := 0; off < n; off += 1 << 20 {
		if _, err := rand.Read(b[off:min(n, off+1<<20)]); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func linkData(idx uint64, path string, data []byte) history.Entry {
	return history.Entry{Index: idx, Kind: history.Link, Arena: "docs", Path: path, Mtime: t0,
		Size: int64(len(data)), Blob: blob.Of(data)}
}

func mountWith(t *testing.T, c *Cache, f Fetcher, opts Options) string {
	t.Helper()
	return mountUnrealOpts(t, c, f, opts, testLog(t))
}

// flipped is a testFetcher answer serving data with byte i of the chunk
// at off flipped.
func flipped(data []byte, off int64, i int) func(context.Context, fetchCall, []byte) (int, error, bool) {
	return func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
		n := copy(p, data[call.off:])
		if call.off == off {
			p[i] ^= 1
		}
		if n < len(p) {
			return n, io.EOF, true
		}
		return n, nil, true
	}
}

// openDoc opens docs/name under dir, closed when the test ends.
func openDoc(t *testing.T, dir, name string) *os.File {
	t.Helper()
	fd, err := os.Open(filepath.Join(dir, "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.Close() })
	return fd
}

// readAll reads p in reads of size bufSize, like cat.
func readAll(p string, bufSize int) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out bytes.Buffer
	_, err = io.CopyBuffer(&out, struct{ io.Reader }{f}, make([]byte, bufSize))
	return out.Bytes(), err
}

// A sequential read fetches whole aligned chunks, several ahead at once,
// and never more at once than MaxFetches.
func TestReadAheadSequential(t *testing.T) {
	c := newCache(t)
	data := randomData(t, 5*chunkSize+12345)
	f := newTestFetcher(data)
	// The first call waits for a second one to arrive: only read-ahead
	// (fetching beyond what the kernel asked for) can make it come.
	var once sync.Once
	parallel := make(chan bool, 1)
	f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
		once.Do(func() {
			select {
			case <-f.arrived: // its own token
			default:
			}
			select {
			case <-f.arrived:
				parallel <- true
			case <-time.After(10 * time.Second):
				parallel <- false
			}
		})
		return 0, nil, false
	}
	mustApply(t, c, "alice", linkData(1, "big.bin", data))
	dir := mountWith(t, c, f, Options{MaxFetches: 3, ReadAhead: 2 * chunkSize})
	got, err := readAll(filepath.Join(dir, "docs", "big.bin"), 64<<10)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v; want the %d bytes", len(got), err, len(data))
	}
	if !<-parallel {
		t.Fatal("no second fetch while the first was in flight: no read-ahead")
	}
	calls, maxIn := f.snapshot()
	seen := map[int64]bool{}
	for _, cl := range calls {
		if cl.off%chunkSize != 0 || (cl.n != chunkSize && cl.off+int64(cl.n) != int64(len(data))) {
			t.Fatalf("fetch of %d bytes at %d: not one aligned chunk", cl.n, cl.off)
		}
		if seen[cl.off] {
			t.Fatalf("chunk at %d fetched twice", cl.off)
		}
		seen[cl.off] = true
	}
	if maxIn > 3 {
		t.Fatalf("%d fetches in flight at once, MaxFetches is 3", maxIn)
	}
}

// The serving peer fails mid-read: another peer with the same blob serves
// the rest, and the bytes are right.
func TestReadFailoverMidRead(t *testing.T) {
	for _, how := range []string{"error", "hang"} {
		t.Run(how, func(t *testing.T) {
			c := newCache(t)
			data := randomData(t, 5*chunkSize)
			f := newTestFetcher(data)
			var mu sync.Mutex
			served := 0
			f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
				if call.peer != "alice" {
					return 0, nil, false
				}
				mu.Lock()
				served++
				n := served
				mu.Unlock()
				if n <= 1 {
					return 0, nil, false
				}
				if how == "hang" {
					<-ctx.Done()
					return 0, ctx.Err(), true
				}
				return 0, errors.New("connection reset"), true
			}
			mustApply(t, c, "alice", linkData(1, "f.bin", data))
			mustApply(t, c, "bob", linkData(1, "f.bin", data))
			dir := mountWith(t, c, f, Options{FetchTimeout: time.Second}) // 200 ms was flaky on a loaded machine under -race
			got, err := readAll(filepath.Join(dir, "docs", "f.bin"), 128<<10)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, %v; want the %d bytes", len(got), err, len(data))
			}
			calls, _ := f.snapshot()
			bob := 0
			for _, cl := range calls {
				if cl.peer == "bob" {
					bob++
				}
			}
			if bob == 0 {
				t.Fatal("bob served nothing")
			}
		})
	}
}

// No peer answers: the read fails with EIO instead of hanging.
func TestReadNoPeerAnswersIsEIO(t *testing.T) {
	c := newCache(t)
	data := randomData(t, 3<<20)
	f := newTestFetcher(data)
	f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
		<-ctx.Done()
		return 0, ctx.Err(), true
	}
	mustApply(t, c, "alice", linkData(1, "f.bin", data))
	mustApply(t, c, "bob", linkData(1, "f.bin", data))
	dir := mountWith(t, c, f, Options{FetchTimeout: 100 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := readAll(filepath.Join(dir, "docs", "f.bin"), 128<<10)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("read with no peer answering: %v, want EIO", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("read still hanging after 30 s with a 100 ms fetch timeout and 2 peers")
	}
}

// Bytes that do not hash to the blob are never served as the file.
func TestReadCorruptContent(t *testing.T) {
	corrupt := func(data []byte, from string) func(context.Context, fetchCall, []byte) (int, error, bool) {
		return func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
			if call.peer != from {
				return 0, nil, false
			}
			n := copy(p, data[call.off:])
			p[n/2] ^= 0xff // same length, one byte flipped
			if n < len(p) {
				return n, io.EOF, true
			}
			return n, nil, true
		}
	}
	t.Run("small file, another peer has it right", func(t *testing.T) {
		c := newCache(t)
		data := randomData(t, 100<<10)
		f := newTestFetcher(data)
		f.answer = corrupt(data, "alice")
		mustApply(t, c, "alice", linkData(1, "f.bin", data))
		mustApply(t, c, "bob", linkData(1, "f.bin", data))
		dir := mountWith(t, c, f, Options{})
		// Even a read of the first bytes only gets verified bytes.
		fd := openDoc(t, dir, "f.bin")
		head := make([]byte, 4096)
		if _, err := io.ReadFull(fd, head); err != nil || !bytes.Equal(head, data[:4096]) {
			t.Fatalf("first 4 KiB: %v, or not bob's right bytes", err)
		}
	})
	t.Run("small file, only a corrupt peer", func(t *testing.T) {
		c := newCache(t)
		data := randomData(t, 100<<10)
		f := newTestFetcher(data)
		f.answer = corrupt(data, "alice")
		mustApply(t, c, "alice", linkData(1, "f.bin", data))
		dir := mountWith(t, c, f, Options{})
		fd := openDoc(t, dir, "f.bin")
		if _, err := fd.Read(make([]byte, 10)); !errors.Is(err, syscall.EIO) {
			t.Fatalf("reading 10 bytes of a corrupt small file: %v, want EIO", err)
		}
	})
	t.Run("large file read to the end", func(t *testing.T) {
		c := newCache(t)
		data := randomData(t, 3*chunkSize+7)
		f := newTestFetcher(data)
		f.answer = flipped(data, chunkSize, 100)
		mustApply(t, c, "alice", linkData(1, "f.bin", data))
		dir := mountWith(t, c, f, Options{})
		got, err := readAll(filepath.Join(dir, "docs", "f.bin"), 128<<10)
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("read of a corrupt 3-chunk file to the end: %d bytes, %v; want EIO", len(got), err)
		}
		if len(got) >= len(data) {
			t.Fatalf("%d bytes delivered: the last ones must be held back", len(got))
		}
	})
	// Fetches faster than the reader: the hashing catches up with the
	// last chunk fetched and must wait for the next, not give up.
	t.Run("long file, fetches ahead of the reader", func(t *testing.T) {
		c := newCache(t)
		data := randomData(t, 12*chunkSize)
		f := newTestFetcher(data)
		f.answer = flipped(data, 9*chunkSize, 100)
		mustApply(t, c, "alice", linkData(1, "f.bin", data))
		dir := mountWith(t, c, f, Options{ReadAhead: chunkSize})
		got, err := readAll(filepath.Join(dir, "docs", "f.bin"), 128<<10)
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("read of a corrupt 12-chunk file to the end: %d bytes, %v; want EIO", len(got), err)
		}
	})
}

// An empty file reads as empty; a non-empty one whose first peer is gone
// and whose other holders do not exist is EIO (see TestReadFailingFetcherIsEIO).
func TestReadEmptyFile(t *testing.T) {
	c := newCache(t)
	mustApply(t, c, "alice", linkData(1, "empty", nil))
	dir := mountWith(t, c, newTestFetcher(nil), Options{})
	if b, err := os.ReadFile(filepath.Join(dir, "docs", "empty")); err != nil || len(b) != 0 {
		t.Fatalf("empty file: %q, %v", b, err)
	}
}

// Many files read at once never exceed MaxFetches calls in flight.
func TestReadConcurrencyBounded(t *testing.T) {
	c := newCache(t)
	data := randomData(t, 6<<20)
	f := newTestFetcher(data)
	f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
		time.Sleep(2 * time.Millisecond) // let calls overlap
		return 0, nil, false
	}
	for i := range 6 {
		mustApply(t, c, "alice", linkData(uint64(i+1), fmt.Sprintf("f%d", i), data))
	}
	dir := mountWith(t, c, f, Options{MaxFetches: 4})
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := readAll(filepath.Join(dir, "docs", fmt.Sprintf("f%d", i)), 1<<20)
			if err == nil && !bytes.Equal(got, data) {
				err = fmt.Errorf("f%d: wrong bytes", i)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, maxIn := f.snapshot(); maxIn > 4 {
		t.Fatalf("%d fetches in flight, MaxFetches is 4", maxIn)
	}
}

// heldChunks counts the chunk buffers a test fetcher filled and those the
// garbage collector freed since.
type heldChunks struct{ fetched, freed atomic.Int64 }

// countHeld makes f count its chunk buffers (fail, if not nil, may fail a
// call first: that one is not counted).
func countHeld(f *testFetcher, fail func(fetchCall) error) *heldChunks {
	h := &heldChunks{}
	f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
		if fail != nil {
			if err := fail(call); err != nil {
				return 0, err, true
			}
		}
		h.fetched.Add(1)
		// p is the chunk's buffer, kept as the chunk's data: count when
		// the garbage collector frees it.
		runtime.AddCleanup(&p[0], func(struct{}) { h.freed.Add(1) }, struct{}{})
		return 0, nil, false
	}
	return h
}

// atMostReadAhead waits until an open file holds no more chunks than its
// read-ahead and a few.
func (h *heldChunks) atMostReadAhead(t *testing.T) {
	t.Helper()
	const most = 16<<20/chunkSize + 4
	eventually(t, 10*time.Second, "chunks of an open file freed", func() error {
		runtime.GC()
		if live := h.fetched.Load() - h.freed.Load(); live > most {
			return fmt.Errorf("%d of %d fetched chunks still held by the open file, want at most %d", live, h.fetched.Load(), most)
		}
		return nil
	})
}

// A read that starts past the first chunk and goes on to the end (tail -c
// +N, a resumed copy) can never be verified in order; the handle must not
// keep every chunk it fetched waiting for a hash that never comes: an open
// file holds about the read-ahead, not the file.
func TestReadFromOffsetKeepsMemoryBounded(t *testing.T) {
	const nchunk = 20
	c := newCache(t)
	data := randomData(t, nchunk*chunkSize)
	f := newTestFetcher(data)
	held := countHeld(f, nil)
	mustApply(t, c, "alice", linkData(1, "big.bin", data))
	dir := mountWith(t, c, f, Options{})
	fd := openDoc(t, dir, "big.bin")
	if _, err := fd.Seek(chunkSize, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(struct{ io.Reader }{fd})
	if err != nil || !bytes.Equal(got, data[chunkSize:]) {
		t.Fatalf("read from 4 MiB: %d bytes, %v; want the last %d bytes", len(got), err, len(data)-chunkSize)
	}
	// The file stays open: what its handle holds must be near the read-ahead.
	held.atMostReadAhead(t)
}

// A sequential read after a seek back (a zip or mp4 read at its end first,
// then from the start) gets read-ahead again.
func TestReadAheadAfterSeekBack(t *testing.T) {
	c := newCache(t)
	data := randomData(t, 8*chunkSize)
	f := newTestFetcher(data)
	// The jump back to 0 fetches what it needs; the reads that follow go
	// forward, so the fetch of chunk 1 waits for the fetch of chunk 2:
	// only read-ahead can make that come while the reader waits.
	ahead := make(chan struct{})
	var once sync.Once
	f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
		switch call.off {
		case 2 * chunkSize:
			once.Do(func() { close(ahead) })
		case chunkSize:
			select {
			case <-ahead:
			case <-time.After(10 * time.Second):
				return 0, errors.New("no read-ahead of chunk 2 within 10 s"), true
			}
		}
		return 0, nil, false
	}
	mustApply(t, c, "alice", linkData(1, "f.bin", data))
	dir := mountWith(t, c, f, Options{})
	fd := openDoc(t, dir, "f.bin")
	tail := make([]byte, 4096)
	if _, err := fd.ReadAt(tail, int64(len(data)-len(tail))); err != nil || !bytes.Equal(tail, data[len(data)-len(tail):]) {
		t.Fatalf("tail: %v, or wrong bytes", err)
	}
	got, err := io.ReadAll(struct{ io.Reader }{fd}) // from offset 0
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the tail: %d bytes, %v; want the %d bytes", len(got), err, len(data))
	}
}

// A peer that does not answer holds fetch slots until its calls time out;
// a read of another file from a healthy peer, queued behind those calls,
// must not count its wait for a slot as its peer failing (it got a slot
// with next to nothing left of its deadline and failed with EIO).
func TestReadQueuedBehindHungPeerSucceeds(t *testing.T) {
	c := newCache(t)
	hung := randomData(t, 1000)
	good := randomData(t, 2000)
	f := newFetcher(string(hung), string(good))
	slow := &slowFetcher{memFetcher: f, hangFor: "alice", slowFor: "bob", slow: 300 * time.Millisecond,
		hungCalled: make(chan struct{}, 16)}
	mustApply(t, c, "alice", linkData(1, "hung.bin", hung))
	mustApply(t, c, "bob", linkData(1, "good.bin", good))
	dir := mountWith(t, c, slow, Options{MaxFetches: 1, FetchTimeout: 2 * time.Second})
	hungDone := make(chan error, 1)
	go func() {
		_, err := os.ReadFile(filepath.Join(dir, "docs", "hung.bin"))
		hungDone <- err
	}()
	<-slow.hungCalled // alice's call holds the only slot
	got, err := os.ReadFile(filepath.Join(dir, "docs", "good.bin"))
	if err != nil || !bytes.Equal(got, good) {
		t.Fatalf("read from bob queued behind a hung alice: %d bytes, %v; want the %d bytes", len(got), err, len(good))
	}
	if err := <-hungDone; !errors.Is(err, syscall.EIO) {
		t.Fatalf("read from the hung alice: %v, want EIO", err)
	}
}

// slowFetcher hangs every call to one peer until its deadline and delays
// every call to another.
type slowFetcher struct {
	*memFetcher
	hangFor, slowFor string
	slow             time.Duration
	hungCalled       chan struct{}
}

func (f *slowFetcher) ReadAt(ctx context.Context, peer, arena, path string, b blob.Hash, p []byte, off int64) (int, error) {
	switch peer {
	case f.hangFor:
		f.hungCalled <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	case f.slowFor:
		select {
		case <-time.After(f.slow):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return f.memFetcher.ReadAt(ctx, peer, arena, path, b, p, off)
}

// A chunk whose fetch failed (the only peer was unreachable for a moment)
// is fetched again by the next read of the same open file: the failure is
// the answer of the read that waited for it, not of every later one; and
// the file is still verified to its end.
func TestReadRetriesFailedChunk(t *testing.T) {
	c := newCache(t)
	data := randomData(t, 3*chunkSize+5)
	f := newTestFetcher(data)
	var mu sync.Mutex
	down := true // alice is unreachable until the test says so
	f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		if down && call.off == chunkSize {
			return 0, errors.New("connection refused"), true
		}
		return 0, nil, false
	}
	mustApply(t, c, "alice", linkData(1, "f.bin", data))
	dir := mountWith(t, c, f, Options{})
	fd := openDoc(t, dir, "f.bin")
	buf := make([]byte, 128<<10)
	if _, err := fd.ReadAt(buf, chunkSize); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of the failing chunk: %v, want EIO", err)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	if n, err := fd.ReadAt(buf, chunkSize); err != nil || !bytes.Equal(buf[:n], data[chunkSize:chunkSize+n]) {
		t.Fatalf("same read once alice answers again: %d bytes, %v", n, err)
	}
	// And a read of the whole file through the same descriptor.
	whole := make([]byte, len(data))
	if _, err := fd.ReadAt(whole, 0); err != nil && err != io.EOF {
		t.Fatalf("whole file after the retry: %v", err)
	}
	if !bytes.Equal(whole, data) {
		t.Fatal("whole file after the retry: wrong bytes")
	}
}

// A corrupt chunk is still caught after a failed fetch of an earlier one
// was retried: the hashing waits for the retry instead of giving up.
func TestReadVerifiesAfterRetry(t *testing.T) {
	c := newCache(t)
	data := randomData(t, 3*chunkSize+5)
	f := newTestFetcher(data)
	var mu sync.Mutex
	failed := false
	corrupt := flipped(data, 2*chunkSize, 7)
	f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		if call.off == chunkSize && !failed {
			failed = true
			return 0, errors.New("connection reset"), true
		}
		return corrupt(ctx, call, p)
	}
	mustApply(t, c, "alice", linkData(1, "f.bin", data))
	dir := mountWith(t, c, f, Options{})
	got, err := readAll(filepath.Join(dir, "docs", "f.bin"), 128<<10)
	if !errors.Is(err, syscall.EIO) || len(got) >= len(data) {
		t.Fatalf("read of a corrupt file after a retried chunk: %d bytes, %v; want EIO (at the end, or once the hash is known)", len(got), err)
	}
}

// A read-ahead chunk whose fetch failed (the peer was away for a moment)
// and that the reader then skips (it reads on forward past it: a player
// seeking ahead, a parser skipping a section) leaves the in-order hashing
// stuck at it for good: the handle must give the verification up rather
// than keep every chunk fetched from then on (an open file holds about the
// read-ahead, not the file).
func TestReadSkippedFailedChunkKeepsMemoryBounded(t *testing.T) {
	const nchunk = 24
	c := newCache(t)
	data := randomData(t, nchunk*chunkSize)
	f := newTestFetcher(data)
	var failedOnce atomic.Bool
	held := countHeld(f, func(call fetchCall) error {
		if call.off == chunkSize && failedOnce.CompareAndSwap(false, true) {
			return errors.New("connection reset")
		}
		return nil
	})
	mustApply(t, c, "alice", linkData(1, "big.bin", data))
	dir := mountWith(t, c, f, Options{})
	fd := openDoc(t, dir, "big.bin")
	buf := make([]byte, 128<<10)
	if _, err := fd.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data[:len(buf)]) {
		t.Fatalf("first read: %v, or wrong bytes", err)
	}
	// Wait until the read-ahead of chunk 1 has failed.
	eventually(t, 10*time.Second, "read-ahead of chunk 1 failed", func() error {
		if !failedOnce.Load() {
			return errors.New("chunk 1 not fetched yet")
		}
		return nil
	})
	for i := int64(2); i < nchunk; i++ {
		if _, err := fd.ReadAt(buf, i*chunkSize); err != nil || !bytes.Equal(buf, data[i*chunkSize:i*chunkSize+int64(len(buf))]) {
			t.Fatalf("read at chunk %d: %v, or wrong bytes", i, err)
		}
	}
	held.atMostReadAhead(t)
}
