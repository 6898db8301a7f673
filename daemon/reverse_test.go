package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/config"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/rpc"
)

// householdLaptop is an office and a laptop without a listening address
// (behind NAT, say): the office pins it with none.
func householdLaptop(t *testing.T) (office, laptop *peer) {
	t.Helper()
	h := householdWith(t, func(c *config.Config) {
		if c.Name == "laptop" {
			c.Listen = ""
			return
		}
		for i := range c.Peers {
			if c.Peers[i].Name == "laptop" {
				c.Peers[i].Address = ""
			}
		}
	}, "office", "laptop")
	return h["office"], h["laptop"]
}

// readWithin reads path in a goroutine and fails the test if that takes
// longer than d (a read of an unreachable peer's file must not hang).
func readWithin(t *testing.T, path string, d time.Duration) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := os.ReadFile(path)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(d):
		t.Fatalf("reading %s still blocked after %v", path, d)
		return nil, nil
	}
}

// TestLaptopFilesReadable: the files of a peer without an address are
// readable from the office while it is connected (over the reverse
// connection it opens), a multi-chunk one too; once it stopped, a read of
// its file fails with EIO at once instead of hanging, and works again when
// it is back.
func TestLaptopFilesReadable(t *testing.T) {
	office, laptop := householdLaptop(t)
	small, big := random(5000), random(2*blob.TreeChunk+54321)
	later := random(70000)
	for name, data := range map[string][]byte{"small": small, "big": big, "later": later} {
		if err := os.WriteFile(laptop.path(name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the laptop's small file read on the office", sameContent(office.path("small"), small))
	eventually(t, "the laptop's big file read on the office", sameContent(office.path("big"), big))
	eventually(t, "the laptop's later file listed on the office", func() error {
		fi, err := os.Stat(office.path("later"))
		if err == nil && fi.Size() != int64(len(later)) {
			err = fmt.Errorf("size %d", fi.Size())
		}
		return err
	})
	if !strings.Contains(office.log.String(), "reverse connection up") {
		t.Errorf("the office did not log the reverse connection")
	}
	// A read that starts at the last chunk is checked by the laptop's
	// verified-chunk tree, fetched over the reverse connection too.
	f, err := os.Open(office.path("big"))
	if err != nil {
		t.Fatal(err)
	}
	off := int64(2 * blob.TreeChunk)
	tail := make([]byte, len(big)-int(off))
	if n, err := f.ReadAt(tail, off); n != len(tail) || !bytes.Equal(tail, big[off:]) {
		t.Fatalf("read of the big file's last chunk first: %d bytes, %v; equal %v", n, err, bytes.Equal(tail[:n], big[off:off+int64(n)]))
	}
	f.Close()
	if strings.Contains(office.log.String(), "no verified-chunk tree from the peer") {
		t.Errorf("the office got no tree of the laptop's big file:\n%s", office.log)
	}

	if !peerOf(office.status(t), "laptop").Reverse || !peerOf(laptop.status(t), "office").Reverse {
		t.Errorf("real status does not show the reverse connection up on both sides")
	}

	laptop.stop(t)
	eventually(t, "the office's status shows the reverse connection down", func() error {
		if peerOf(office.status(t), "laptop").Reverse {
			return errors.New("still up")
		}
		return nil
	})
	_, err = readWithin(t, office.path("later"), 30*time.Second)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("reading the stopped laptop's file: %v, want EIO", err)
	}

	laptop.start(t)
	eventually(t, "the laptop's file read again once it is back", sameContent(office.path("later"), later))
}

// TestReverseFromUnpinnedKey: a reverse connection from a key the office
// does not pin is refused in the handshake and nothing is read of it.
func TestReverseFromUnpinnedKey(t *testing.T) {
	office, _ := householdLaptop(t)
	priv, err := identity.Load(office.store + "/" + KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := identity.Generate(t.TempDir() + "/stranger.key")
	if err != nil {
		t.Fatal(err)
	}
	st := &recordingStore{}
	o, err := rpc.NewOffer(rpc.OfferConfig{
		Peer:  rpc.Peer{Name: "office", Key: identity.Public(priv), Address: office.addr},
		Key:   stranger,
		Store: st,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	connected, err := o.Serve(ctx)
	if connected || !errors.Is(err, rpc.ErrPeerKey) {
		t.Fatalf("Serve of an unpinned key = %v, %v; want refused with ErrPeerKey", connected, err)
	}
	if st.opened {
		t.Error("the office opened the unpinned peer's store")
	}
	if !strings.Contains(office.log.String(), identity.Public(stranger).String()) {
		t.Errorf("the office did not log the refused key")
	}
	o.Close(ctx)
}

type recordingStore struct{ opened bool }

func (s *recordingStore) Open(context.Context, string, string, string, blob.Hash) (rpc.Content, error) {
	s.opened = true
	return nil, rpc.ErrNotFound
}

// TestLaptopFilesAfterOfficeRestart: the laptop opens its reverse
// connection again when the office comes back, so its files are readable
// there again.
func TestLaptopFilesAfterOfficeRestart(t *testing.T) {
	office, laptop := householdLaptop(t)
	one, two := random(3000), random(40000)
	os.WriteFile(laptop.path("one"), one, 0o644)
	eventually(t, "the laptop's file read on the office", sameContent(office.path("one"), one))
	office.stop(t)
	os.WriteFile(laptop.path("two"), two, 0o644)
	office.start(t)
	eventually(t, "the laptop's new file read on the restarted office", sameContent(office.path("two"), two))
}
