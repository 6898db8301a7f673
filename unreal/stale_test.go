package unreal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// While a remote file keeps changing (sizes up and down), every cat of it
// in the merged view returns one whole version: never old bytes with a new
// size, nor new bytes with an old size.
func TestMergedViewNeverMixesVersions(t *testing.T) {
	c, f, o := setupOverlay(t)
	versions := []string{
		strings.Repeat("a", 10),
		strings.Repeat("b", 5000),
		strings.Repeat("c", 3),
		strings.Repeat("d", 70000),
		strings.Repeat("e", 1),
	}
	valid := map[string]bool{}
	for _, v := range versions {
		f.add(v)
		valid[v] = true
	}
	mustApply(t, c, "alice", link(100, "docs", "remote/v.txt", versions[0], t0))
	p := filepath.Join(o.merged, "docs", "remote", "v.txt")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	reads := 0
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := os.ReadFile(p)
				mu.Lock()
				reads++
				if err != nil {
					bad = append(bad, err.Error())
				} else if !valid[string(b)] {
					bad = append(bad, fmt.Sprintf("%d bytes starting %q", len(b), b[:min(len(b), 4)]))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 300 {
		v := versions[(i+1)%len(versions)]
		mustApply(t, c, "alice", link(uint64(101+i), "docs", "remote/v.txt", v, t0.Add(time.Duration(i+1)*time.Second)))
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d of %d reads were not one whole version, e.g. %s", len(bad), reads, bad[0])
	}
}
