package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/realsync/real/config"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/rpc"
)

func (p *peer) status(t testing.TB) rpc.Status {
	t.Helper()
	c := rpc.DialControl(filepath.Join(p.store, rpc.ControlName))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("status of %s: %v", p.name, err)
	}
	return st
}

func peerOf(st rpc.Status, name string) rpc.PeerStatus {
	for _, p := range st.Peers {
		if p.Name == name {
			return p
		}
	}
	return rpc.PeerStatus{}
}

// A stalled peer (its address accepts TCP and never answers) holds up
// nobody else, and the status says it is not connected.
func TestStalledPeerBlocksNoOne(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 100)
	defer func() {
		ln.Close()
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c: // never read, never answered
			default:
				c.Close()
			}
		}
	}()
	_, stuckKey, _ := ed25519.GenerateKey(rand.Reader)
	h := householdWith(t, func(c *config.Config) {
		c.Peers = append(c.Peers, config.Peer{Name: "stuck", Address: ln.Addr().String(), Key: identity.Public(stuckKey).String()})
	}, "a", "b")
	a, b := h["a"], h["b"]
	for i := range 5 {
		data := random(1000 + i)
		name := fmt.Sprintf("f%d", i)
		os.WriteFile(a.path(name), data, 0o644)
		eventually(t, "a's file on b while c stalls", sameContent(b.path(name), data))
	}
	st := a.status(t)
	if p := peerOf(st, "b"); !p.Connected || p.SentSinceStart < 5 {
		t.Errorf("a's status of b: %+v; want connected, 5 entries sent", p)
	}
	if p := peerOf(st, "stuck"); p.Connected || p.Pending == 0 {
		t.Errorf("a's status of the stalled peer: %+v; want not connected, entries pending", p)
	}
}

// A peer without a listening address exchanges history both ways over the
// connections it opens (Notify to the other, Pull from it).
func TestPeerWithoutListenAddress(t *testing.T) {
	a, b := pair(t, true)
	fromA, fromB := random(2000), random(3000)
	os.WriteFile(a.path("from-a"), fromA, 0o644)
	os.WriteFile(b.path("from-b"), fromB, 0o644)
	eventually(t, "a's file on b", sameContent(b.path("from-a"), fromA))
	// Content stays with b (a cannot call its StoreService): a's view shows
	// the file with its size; reading it needs b's content (stage 4 blobs).
	eventually(t, "b's file listed on a", func() error {
		fi, err := os.Stat(a.path("from-b"))
		if err == nil && fi.Size() != int64(len(fromB)) {
			err = fmt.Errorf("size %d, want %d", fi.Size(), len(fromB))
		}
		return err
	})
	os.Remove(a.path("from-a"))
	eventually(t, "a's delete on b", gone(b.path("from-a")))
	if p := peerOf(a.status(t), "b"); !p.Connected || p.SentSinceStart < 2 || p.ReceivedSinceStart < 1 {
		t.Errorf("a's status of b: %+v; want connected, entries both ways", p)
	}
}

// History every peer has is trimmed; a peer that comes back with an older
// state (its part was trimmed) gets a full report and ends with a's view.
func TestTrimmedHistoryFullReport(t *testing.T) {
	h := household(t, "a", "b")
	a, b := h["a"], h["b"]
	one, two, three := random(100), random(200), random(300)
	os.WriteFile(a.path("one"), one, 0o644)
	os.WriteFile(a.path("two"), two, 0o644)
	os.WriteFile(a.path("three"), three, 0o644)
	for n, d := range map[string][]byte{"one": one, "two": two, "three": three} {
		eventually(t, n+" on b", sameContent(b.path(n), d))
	}
	b.stop(t)
	backup := t.TempDir()
	copyDB(t, b.store, backup)
	b.start(t)

	twoB, four := random(222), random(400)
	os.Remove(a.path("one"))
	os.WriteFile(a.path("two"), twoB, 0o644)
	os.WriteFile(a.path("four"), four, 0o644)
	eventually(t, "changes on b", func() error {
		if err := gone(b.path("one"))(); err != nil {
			return err
		}
		if err := sameContent(b.path("two"), twoB)(); err != nil {
			return err
		}
		return sameContent(b.path("four"), four)()
	})
	eventually(t, "a trims what b has", func() error {
		st := a.status(t)
		if st.Trimmed == 0 || st.Trimmed+1 < st.History {
			return fmt.Errorf("trimmed through %d of %d", st.Trimmed, st.History)
		}
		return nil
	})

	// b comes back with its old state: a cannot resume it from history.
	b.stop(t)
	copyDB(t, backup, b.store)
	b.start(t)
	eventually(t, "b converges after a full report", func() error {
		if err := gone(b.path("one"))(); err != nil {
			return err
		}
		if err := sameContent(b.path("two"), twoB)(); err != nil {
			return err
		}
		if err := sameContent(b.path("three"), three)(); err != nil {
			return err
		}
		return sameContent(b.path("four"), four)()
	})
	// Both count the report a little after b's view shows it (a once b
	// acknowledged it, b once it also looked at local changes under it).
	eventually(t, "both count the report", func() error {
		if p := peerOf(a.status(t), "b"); p.ReportsSent == 0 {
			return fmt.Errorf("a's status of b: %+v; want a full report sent", p)
		}
		if p := peerOf(b.status(t), "a"); p.ReportsReceived == 0 || p.Received != a.status(t).History {
			return fmt.Errorf("b's status of a: %+v; want a report received and progress at a's history", p)
		}
		return nil
	})
	// And later changes flow again as history.
	five := random(500)
	os.WriteFile(a.path("five"), five, 0o644)
	eventually(t, "five on b", sameContent(b.path("five"), five))
}

func copyDB(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(to, DBFile+suffix))
		data, err := os.ReadFile(filepath.Join(from, DBFile+suffix))
		if err != nil {
			if suffix != "" && os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, DBFile+suffix), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// The control socket exists while the peer runs, mode 0600, and is gone after.
func TestControlSocketLifetime(t *testing.T) {
	h := household(t, "a")
	a := h["a"]
	fi, err := os.Stat(filepath.Join(a.store, rpc.ControlName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v %v", fi, err)
	}
	st := a.status(t)
	if st.Name != "a" || strings.Join(st.Arenas, ",") != "shared" || st.Started.IsZero() {
		t.Fatalf("status %+v", st)
	}
	a.stop(t)
	if _, err := os.Stat(filepath.Join(a.store, rpc.ControlName)); !os.IsNotExist(err) {
		t.Fatalf("control socket after stop: %v", err)
	}
}
