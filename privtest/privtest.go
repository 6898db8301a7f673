// Package privtest gates tests that need root, /dev/fuse and overlayfs.
// Without them such a test is skipped, except when the CI environment
// variable is set: CI runs as root with both, so there a skip is a failure.
package privtest

import (
	"os"
	"strings"
	"testing"
)

// Missing returns why this machine cannot run mount tests, or "" if it can.
func Missing() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	if f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); err != nil {
		return "no /dev/fuse: " + err.Error()
	} else {
		f.Close()
	}
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(b), "\toverlay\n") {
		return "no overlayfs in /proc/filesystems"
	}
	return ""
}

// Require skips t (fails it when CI is set) unless mount tests can run here.
func Require(t testing.TB) {
	t.Helper()
	if why := Missing(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount test cannot run (%s), and CI is set: CI must run every mount test", why)
		}
		t.Skipf("mount test skipped: %s", why)
	}
}
