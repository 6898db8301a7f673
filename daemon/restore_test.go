package daemon

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// A store restored from a backup of its real.db keeps its history id, but
// its history goes back to the backup's last index M and grows again with
// other entries. If it grows past what its peer acknowledged (N) before
// they meet, resuming after N would skip its new entries M+1..N and keep
// the files only the lost history had: the peer must end with exactly the
// restored store's view (the chain of its progress differs from the
// restored store's at N: a full report).
func TestStoreRestoredFromBackup(t *testing.T) {
	t.Run("push", func(t *testing.T) { testStoreRestored(t, false) })
	t.Run("pull", func(t *testing.T) { testStoreRestored(t, true) })
}

func testStoreRestored(t *testing.T, pull bool) {
	a, b := pair(t, pull)

	view := map[string][]byte{}
	for i := range 4 {
		view[fmt.Sprint("old-", i)] = random(100 + i)
		os.WriteFile(a.path(fmt.Sprint("old-", i)), view[fmt.Sprint("old-", i)], 0o644)
	}
	eventually(t, "a's old files on b", sameTree(b, view))
	caughtUp(t, a, b)

	a.stop(t)
	backup := t.TempDir()
	copyDB(t, a.store, backup)
	m := func() uint64 { a.start(t); return a.status(t).History }()

	// History the restore loses: b has it.
	lost := maps.Clone(view)
	for i := range 5 {
		n := fmt.Sprint("lost-", i)
		lost[n] = random(200 + i)
		os.WriteFile(a.path(n), lost[n], 0o644)
	}
	eventually(t, "a's files of the lost history on b", sameTree(b, lost))
	caughtUp(t, a, b)
	n := peerOf(b.status(t), "a").Received

	// a comes back from the backup, without the lost files, with new ones
	// (found by its catch-up scan at start, then made through the mount)
	// while b is away, until its history is past b's progress.
	b.stop(t)
	a.stop(t)
	copyDB(t, backup, a.store)
	upper := filepath.Join(a.store, "upper", "shared")
	for name := range lost {
		if _, ok := view[name]; !ok {
			if err := os.Remove(filepath.Join(upper, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 3 {
		name := fmt.Sprint("new-", i)
		view[name] = random(300 + i)
		if err := os.WriteFile(filepath.Join(upper, name), view[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a.start(t)
	for i := 3; a.status(t).History <= n+2; i++ {
		name := fmt.Sprint("new-", i)
		view[name] = random(300 + i)
		os.WriteFile(a.path(name), view[name], 0o644)
		eventually(t, name+" in a's history", func() error {
			if got := a.status(t).History; got < m+uint64(i)+1 {
				return fmt.Errorf("a's history ends at %d, want %d", got, m+uint64(i)+1)
			}
			return nil
		})
	}
	if got := a.status(t).History; got <= n || m >= n {
		t.Fatalf("a's restored history: backup at %d, now %d; b's progress %d: want backup < progress < now", m, got, n)
	}

	b.start(t)
	eventually(t, "b has exactly the restored view of a", sameTree(b, view))
	caughtUp(t, a, b)
	eventually(t, "b got a full report", func() error {
		if p := peerOf(b.status(t), "a"); p.ReportsReceived == 0 {
			return fmt.Errorf("b's status of a: %+v; want a full report received", p)
		}
		return nil
	})

	// And history flows again after that.
	view["last"] = random(999)
	os.WriteFile(a.path("last"), view["last"], 0o644)
	eventually(t, "b has a's later change", sameTree(b, view))
}
