package harness

import (
	"testing"
	"time"
)

// DefaultTimeout is how long the harness waits for a peer to be ready, and
// a good timeout for Eventually in scenarios on a small, busy machine.
const DefaultTimeout = 45 * time.Second

// Eventually calls f until it returns nil, and fails t with f's last error
// if that does not happen within timeout. The wait between calls grows
// from 20 ms to 500 ms.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 20 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(wait)
		wait = min(wait*2, 500*time.Millisecond)
	}
}
