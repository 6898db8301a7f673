package harness_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/harness"
	"github.com/realsync/real/privtest"
)

// Scenarios of the Unreal (issue 3) with three peers a, b, c sharing arena
// "shared": which version a peer sees when several peers hold a path, and
// what a read does when the serving peer dies.

// threePeers makes a household of a, b and c with arena "shared", all started.
func threePeers(t *testing.T) (*harness.Household, *harness.Peer, *harness.Peer, *harness.Peer) {
	t.Helper()
	h := harness.New(t, harness.Setup{Peers: []string{"a", "b", "c"}, Arenas: []harness.Arena{{Name: arena}}})
	a, b, c := h.Peer("a"), h.Peer("b"), h.Peer("c")
	a.Start()
	b.Start()
	c.Start()
	return h, a, b, c
}

// writeWithMtime writes data at path of p's merged view with modification
// time mtime, as one change: the bytes go to a temporary name, get their
// mtime, then are renamed over path. (The watcher reports a file's mtime
// when it indexes it; a later Chtimes that leaves the bytes alone sends
// nothing, since a notification is only due when the content changes.)
// The rename also keeps the peer from copying up a remote file at path.
func writeWithMtime(t *testing.T, p *harness.Peer, file string, data []byte, mtime time.Time) {
	t.Helper()
	tmp := path.Join(path.Dir(file), "."+path.Base(file)+".tmp")
	p.Write(tmp, data)
	if err := os.Chtimes(p.Path(tmp), mtime, mtime); err != nil {
		t.Fatalf("%s: chtimes %s: %v", p, tmp, err)
	}
	if err := os.Rename(p.Path(tmp), p.Path(file)); err != nil {
		t.Fatalf("%s: rename %s to %s: %v", p, tmp, file, err)
	}
}

// holders waits until p's merged view says (user.real.peers) that exactly
// want hold the served version of file.
func holders(t *testing.T, p *harness.Peer, file string, want ...string) {
	t.Helper()
	slices.Sort(want)
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		full := p.Path(file)
		buf := make([]byte, 256)
		n, err := unix.Getxattr(full, "user.real.peers", buf)
		if err != nil {
			return fmt.Errorf("%s: getxattr %s user.real.peers: %w", p, file, err)
		}
		got := strings.Split(string(buf[:n]), ",")
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s: %s is held by %q, want %q", p, file, got, want)
		}
		return nil
	})
}

// servesBlob waits until p's merged view serves file as the version with
// data's hash (user.real.blob): a long write may be announced first in an
// earlier, partial state, whose bytes the writer then no longer serves.
func servesBlob(t *testing.T, p *harness.Peer, file string, data []byte) {
	t.Helper()
	want := blob.Of(data).String()
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		buf := make([]byte, 128)
		n, err := unix.Getxattr(p.Path(file), "user.real.blob", buf)
		if err != nil {
			return fmt.Errorf("%s: getxattr %s user.real.blob: %w", p, file, err)
		}
		if got := string(buf[:n]); got != want {
			return fmt.Errorf("%s: %s serves blob %.12s, want %.12s", p, file, got, want)
		}
		return nil
	})
}

// caughtUp waits until to has received every entry of from's history.
func caughtUp(t *testing.T, h *harness.Household, from, to *harness.Peer) {
	t.Helper()
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		want := readStatus(t, h, from).History
		for _, p := range readStatus(t, h, to).Peers {
			if p.Name == from.Name && p.Received == want && want > 0 {
				return nil
			}
		}
		return fmt.Errorf("%s has not received all %d entries of %s's history", to, want, from)
	})
}

// hasMtime waits until p's merged view reports mtime for file.
func hasMtime(t *testing.T, p *harness.Peer, file string, mtime time.Time) {
	t.Helper()
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		fi, err := p.Stat(file)
		if err != nil {
			return err
		}
		if !fi.ModTime().Equal(mtime) {
			return fmt.Errorf("%s: %s has mtime %s, want %s", p, file, fi.ModTime().UTC(), mtime.UTC())
		}
		return nil
	})
}

// The same path written on a and b with different mtimes: c shows the
// version with the newest mtime, whoever wrote last, and each writer keeps
// seeing its own; a newer write from the other side then wins on c.
func TestUnrealNewestVersionWins(t *testing.T) {
	privtest.Require(t)
	h, a, b, c := threePeers(t)
	now := time.Now().Truncate(time.Second)
	older, newer := now.Add(-2*time.Hour), now.Add(-time.Hour)
	fromA, fromB := randomBytes(t, "fromA", 3000), randomBytes(t, "fromB", 2000)

	writeWithMtime(t, b, "shared/same", fromB, newer)
	shows(t, c, "shared/same", fromB)
	writeWithMtime(t, a, "shared/same", fromA, older) // last writer, older mtime
	caughtUp(t, h, a, c)                              // a's older version reached c: kept, not served
	holders(t, c, "shared/same", "b")
	shows(t, c, "shared/same", fromB)
	hasMtime(t, c, "shared/same", newer)
	shows(t, a, "shared/same", fromA)
	shows(t, b, "shared/same", fromB)

	// a writes again, now with the newest mtime: c switches to it.
	again := randomBytes(t, "again", 4000)
	writeWithMtime(t, a, "shared/same", again, now)
	shows(t, c, "shared/same", again)
	hasMtime(t, c, "shared/same", now)
	holders(t, c, "shared/same", "a")
	lists(t, c, "shared", "same")
}

// Two holders of a path, a with an older version and b with a newer one:
// c shows b's; b deletes the file and c still shows it, with a's content.
func TestUnrealUnlinkOnOneHolderKeepsFile(t *testing.T) {
	privtest.Require(t)
	_, a, b, c := threePeers(t)
	now := time.Now().Truncate(time.Second)
	fromA, fromB := randomBytes(t, "fromA", 5000), randomBytes(t, "fromB", 7000)
	writeWithMtime(t, a, "shared/dir/f", fromA, now.Add(-time.Hour))
	shows(t, c, "shared/dir/f", fromA)
	writeWithMtime(t, b, "shared/dir/f", fromB, now)
	shows(t, c, "shared/dir/f", fromB)
	hasMtime(t, c, "shared/dir/f", now)

	b.Remove("shared/dir/f")
	lacks(t, b, "shared/dir/f")
	shows(t, c, "shared/dir/f", fromA)
	hasMtime(t, c, "shared/dir/f", now.Add(-time.Hour))
	holders(t, c, "shared/dir/f", "a")
	shows(t, a, "shared/dir/f", fromA)
	lists(t, c, "shared/dir", "f")
}

// b writes the bytes it already shows from a (a copy over a's file, with
// its own, newer mtime): c learns that b holds the file too (b announces
// it Available) and serves b's version, the newest. Before, b reported
// nothing, since its view's content did not change, and c never knew of
// b's copy (nor could it fail over to it).
func TestUnrealSameBytesWrittenOnSecondPeer(t *testing.T) {
	privtest.Require(t)
	_, a, b, c := threePeers(t)
	now := time.Now().Truncate(time.Second)
	data := randomBytes(t, "same", 6000)
	writeWithMtime(t, a, "shared/same", data, now.Add(-time.Hour))
	shows(t, b, "shared/same", data)
	holders(t, c, "shared/same", "a")
	writeWithMtime(t, b, "shared/same", data, now)
	holders(t, c, "shared/same", "a", "b")
	hasMtime(t, c, "shared/same", now)
	shows(t, c, "shared/same", data)
	hasMtime(t, b, "shared/same", now)
}

const bigSize = 64 << 20

// readSome opens file in p's merged view and reads its first n bytes.
func readSome(t *testing.T, p *harness.Peer, file string, n int) (*os.File, []byte) {
	t.Helper()
	f, err := os.Open(p.Path(file))
	if err != nil {
		t.Fatalf("%s: open %s: %v", p, file, err)
	}
	t.Cleanup(func() { f.Close() })
	head := make([]byte, n)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatalf("%s: read the first %d bytes of %s: %v", p, n, file, err)
	}
	return f, head
}

// readRest reads f to its end in 1 MiB reads on another goroutine and
// returns what it read, how long that took and the error, or fails the test after limit.
func readRest(t *testing.T, f *os.File, limit time.Duration) ([]byte, time.Duration, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	start := time.Now()
	done := make(chan result, 1)
	go func() {
		var out []byte
		buf := make([]byte, 1<<20)
		for {
			n, err := f.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				done <- result{out, nil}
				return
			}
			if err != nil {
				done <- result{out, err}
				return
			}
		}
	}()
	select {
	case r := <-done:
		return r.b, time.Since(start), r.err
	case <-time.After(limit):
		t.Fatalf("read of %s still going after %s", f.Name(), limit)
		return nil, 0, nil
	}
}

// a and b hold the same 64 MiB; c reads it from b (the newer mtime) and b
// is killed mid-read: the read completes with the right bytes from a.
func TestUnrealReadFailsOverWhenPeerKilled(t *testing.T) {
	privtest.Require(t)
	_, a, b, c := threePeers(t)
	data := randomBytes(t, "big", bigSize)
	now := time.Now().Truncate(time.Second)
	// b is cut off while both write the same bytes; after Heal, a's older
	// version may reach b before b's watcher has indexed its own: b then
	// announces its copy Available (same bytes, its own mtime) rather than
	// Link, and c must learn of it either way.
	b.CutOff(t)
	writeWithMtime(t, a, "shared/big", data, now.Add(-time.Hour))
	writeWithMtime(t, b, "shared/big", data, now)
	b.Heal(t)
	servesBlob(t, c, "shared/big", data)
	holders(t, c, "shared/big", "a", "b")
	hasMtime(t, c, "shared/big", now) // b's entry is the one served

	f, head := readSome(t, c, "shared/big", 8<<20)
	b.Kill()
	rest, took, err := readRest(t, f, 2*time.Minute)
	if err != nil {
		t.Fatalf("c: reading shared/big after b was killed: %v (after %s)", err, took)
	}
	if err := sameBytes(append(head, rest...), data); err != nil {
		t.Fatalf("c: shared/big read across b's death: %v", err)
	}
	t.Logf("rest of the read after the kill took %s", took)
	// And a fresh read still works, from a alone.
	shows(t, c, "shared/big", data)
}

// a alone holds 64 MiB; c reads it and a is killed mid-read: the read
// fails with EIO within a bounded time (FetchTimeout is 15 s) and c keeps
// running.
func TestUnrealReadFailsWithEIOWhenOnlyHolderKilled(t *testing.T) {
	privtest.Require(t)
	_, a, _, c := threePeers(t)
	data := randomBytes(t, "big", bigSize)
	a.Write("shared/big", data)
	servesBlob(t, c, "shared/big", data)
	holders(t, c, "shared/big", "a")

	f, head := readSome(t, c, "shared/big", 8<<20)
	if err := sameBytes(head, data[:len(head)]); err != nil {
		t.Fatalf("c: first 8 MiB of shared/big: %v", err)
	}
	a.Kill()
	const bound = 40 * time.Second
	rest, took, err := readRest(t, f, 2*bound)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("c: read of shared/big after its only holder died: %d more bytes, err %v; want EIO", len(rest), err)
	}
	if took > bound {
		t.Errorf("c: EIO came %s after the kill, want within %s", took, bound)
	}
	if len(head)+len(rest) >= bigSize {
		t.Errorf("c: read %d bytes of %d before EIO; the whole file cannot have been read ahead", len(head)+len(rest), bigSize)
	}
	t.Logf("EIO after %s, %d bytes read in all", took, len(head)+len(rest))
	// c still answers: the file is listed, its metadata is there.
	if fi, err := c.Stat("shared/big"); err != nil || fi.Size() != bigSize {
		t.Fatalf("c: stat shared/big after the failed read: %v, %v", fi, err)
	}
}
