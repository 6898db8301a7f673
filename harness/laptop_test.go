package harness_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/harness"
	"github.com/realsync/real/privtest"
)

// unreachableRead bounds how long a read of a file whose only holder is
// gone may take to fail (it should fail at once: nobody to ask).
const unreachableRead = 20 * time.Second

// readFailsWithin reads path on p in a goroutine: it must fail with EIO
// within d, not hang and not return bytes.
func readFailsWithin(t *testing.T, p *harness.Peer, path string, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := p.Read(path)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("%s: read %s with its only holder gone: %v, want EIO", p, path, err)
		}
	case <-time.After(d):
		t.Fatalf("%s: read %s with its only holder gone still blocked after %v", p, path, d)
	}
}

// A laptop without an address (behind NAT): it has no listen address, and
// the office pins it without one. The laptop calls the office; the office
// reads the laptop's files over the reverse connection the laptop opens, in
// its own namespaces like two machines. Both ways, small and multi-chunk
// files (past blob.TreeChunk, 4 MiB) are byte-equal. The laptop killed
// (SIGKILL), a laptop file the office has listed but never read fails with
// EIO within a bound instead of hanging; the laptop back, it reads again.
func TestPeersLaptopWithoutAddress(t *testing.T) {
	privtest.Require(t)
	h := harness.New(t, harness.Setup{
		Peers:    []string{"office", "laptop"},
		NoListen: []string{"laptop"},
		Arenas:   []harness.Arena{{Name: arena}},
	})
	office, laptop := h.Peer("office"), h.Peer("laptop")
	if laptop.Addr.IsValid() {
		t.Fatalf("laptop has address %v, want none", laptop.Addr)
	}
	office.Start()
	laptop.Start()

	small := randomBytes(t, "small", 3000)
	big := randomBytes(t, "big", 9<<20+12345) // three 4 MiB chunks, the last short
	laptop.Write("shared/small", small)
	laptop.Write("shared/dir/big", big)
	shows(t, office, "shared/small", small)
	shows(t, office, "shared/dir/big", big)

	fromOffice := randomBytes(t, "office", 5<<20+1)
	office.Write("shared/from-office", fromOffice)
	shows(t, laptop, "shared/from-office", fromOffice)

	// Listed on the office (size known), never read there.
	unread := randomBytes(t, "unread", 4<<20+777)
	laptop.Write("shared/unread", unread)
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		fi, err := office.Stat("shared/unread")
		if err == nil && fi.Size() != int64(len(unread)) {
			err = fmt.Errorf("%s: shared/unread has %d bytes, want %d", office, fi.Size(), len(unread))
		}
		return err
	})

	laptop.Kill()
	readFailsWithin(t, office, "shared/unread", unreachableRead)
	// The files it read before are still listed, and the office's own
	// file is untouched.
	if _, err := office.Stat("shared/dir/big"); err != nil {
		t.Fatalf("after the laptop died: %v", err)
	}
	shows(t, office, "shared/from-office", fromOffice)

	laptop.Start()
	shows(t, office, "shared/unread", unread)
	shows(t, office, "shared/dir/big", big)
	shows(t, laptop, "shared/from-office", fromOffice)
}
