package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/realsync/real/config"
	"github.com/realsync/real/identity"
)

// A peer with no other peer pinned yet trims its history (every peer, of
// none, has it), so that its real.db does not grow with every change for
// as long as it runs alone; a peer pinned later gets a full report of it.
// Before, nothing trimmed without peers: a store used alone for months
// kept every change it ever saw.
func TestSoloPeerTrims(t *testing.T) {
	h := household(t, "a")
	a := h["a"]
	for i := range 3 {
		os.WriteFile(a.path(fmt.Sprint("f", i)), random(10), 0o644)
	}
	eventually(t, "a's history trimmed", func() error {
		if st := a.status(t); st.History < 3 || st.Trimmed == 0 {
			return fmt.Errorf("history %d, trimmed through %d", st.History, st.Trimmed)
		}
		return nil
	})

	// b pinned later: it gets a's files (a full report).
	b := household(t, "b")["b"]
	x := random(100)
	os.WriteFile(a.path("x"), x, 0o644)
	a.stop(t)
	b.stop(t)
	pin := func(p, o *peer) {
		t.Helper()
		key := keyOf(t, o)
		cfg, err := config.Load(p.store)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Peers = append(cfg.Peers, config.Peer{Name: o.name, Address: o.addr, Key: key})
		if err := cfg.Save(p.store); err != nil {
			t.Fatal(err)
		}
	}
	pin(a, b)
	pin(b, a)
	a.start(t)
	b.start(t)
	eventually(t, "x on b", sameContent(b.path("x"), x))
	eventually(t, "f0 on b", func() error {
		_, err := os.Stat(filepath.Join(b.mount, "shared", "f0"))
		return err
	})
}

func keyOf(t *testing.T, p *peer) string {
	t.Helper()
	priv, err := identity.Load(filepath.Join(p.store, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return identity.Public(priv).String()
}
