package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/realsync/real/config"
)

// A peer that wants only some of our arenas resumes where it is after our
// history of the others was trimmed: the entries it was not sent do not
// make it look behind, so it gets no full report (every file of its arenas
// again) at each new session.
func TestUnwantedArenaNoFullReport(t *testing.T) {
	t.Run("push", func(t *testing.T) { testUnwantedArena(t, false) })
	t.Run("pull", func(t *testing.T) { testUnwantedArena(t, true) })
}

// householdArenaOnA is a household of a and b where a also has arena
// extra; with pull, b has no listening address (it pulls a's history).
func householdArenaOnA(t *testing.T, extra string, pull bool) (a, b *peer) {
	t.Helper()
	h := householdWith(t, func(c *config.Config) {
		if c.Name == "a" {
			c.Arenas = append(c.Arenas, config.Arena{Name: extra})
			if pull {
				c.Peers[0].Address = ""
			}
		} else if pull {
			c.Listen = ""
		}
	}, "a", "b")
	return h["a"], h["b"]
}

// testUnwantedArena: a has arenas shared and private, b only shared; with
// pull, b has no listening address and pulls a's history (and a, which then
// runs no sender at all, trims its history too).
func testUnwantedArena(t *testing.T, pull bool) {
	a, b := householdArenaOnA(t, "private", pull)
	one := random(100)
	os.WriteFile(a.path("one"), one, 0o644)
	eventually(t, "one on b", sameContent(b.path("one"), one))
	for i := range 3 {
		os.WriteFile(filepath.Join(a.mount, "private", fmt.Sprint(i)), random(10), 0o644)
	}
	eventually(t, "a trims its history", func() error {
		st := a.status(t)
		if st.History < 4 || st.Trimmed+1 < st.History {
			return fmt.Errorf("trimmed through %d of %d", st.Trimmed, st.History)
		}
		return nil
	})
	// A new session asks where b is (push: a restarts; pull: b does).
	if pull {
		b.stop(t)
		b.start(t)
	} else {
		a.stop(t)
		a.start(t)
	}
	two := random(200)
	os.WriteFile(a.path("two"), two, 0o644)
	eventually(t, "two on b", sameContent(b.path("two"), two))
	eventually(t, "one still on b", sameContent(b.path("one"), one))
	if p := peerOf(a.status(t), "b"); p.ReportsSent != 0 {
		t.Errorf("a's status of b: %+v; want no full report (b was up to date)", p)
	}
	if _, err := os.Lstat(filepath.Join(b.mount, "private")); err == nil {
		t.Errorf("b shows arena private it does not have")
	}
}
